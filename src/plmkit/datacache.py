"""The data cache: a run's validated, preprocessed and tokenised splits, kept on disk.

A cache entry is keyed by a hash of everything that decides its contents: the input files'
bytes (or whatever the fetcher's :meth:`~plmkit.stages.fetch.Fetcher.fingerprint` says), the
data, preprocessing and task settings, the seed (it picks the ``limit`` sample and the held-out
rows), ``max_length`` and the tokenizer itself. A later run with the same key only maps the
token files back into memory; change any of them and the data is prepared again.

An entry is a folder: ``meta.json`` (written last, so a folder without it is incomplete and
ignored), the rejected rows, and per split its ids, targets and token rows
(:class:`plmkit.ragged.Ragged`). A model built ``from_scratch`` keeps its trained tokenizer
there too, so runs sharing the entry also share the vocabulary.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from plmkit.batching import Encoded
from plmkit.ragged import Ragged

log = logging.getLogger(__name__)

CACHE_VERSION = 1
META = "meta.json"
TOKENIZER = "tokenizer"


def default_dir() -> Path:
    """``$PLMKIT_CACHE_DIR``, else ``~/.cache/plmkit/data``."""
    env = os.environ.get("PLMKIT_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "plmkit" / "data"


def digest(value: Any) -> str:
    """A stable hash of JSON-able settings."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tokenizer_digest(tokenizer: Any) -> str:
    """What the tokenizer does: its full pipeline (fast tokenizers) or vocabulary, its class
    and its special tokens and truncation side."""
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    else:
        h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    extra = {
        "special": tokenizer.special_tokens_map,
        "truncation_side": getattr(tokenizer, "truncation_side", "right"),
    }
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()


@dataclass
class CachedData:
    splits: dict[str, Encoded]
    rejected: pd.DataFrame
    summary: dict[str, Any]
    task_state: dict[str, Any]
    path: Path
    tokenizer: Any = None  # the trained tokenizer of a from_scratch model


class DataCache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_dir()

    def path(self, key: str) -> Path:
        return self.root / key

    def load(self, key: str) -> CachedData | None:
        """The entry for ``key``, or None when there is none (or it cannot be read: then it is
        prepared again and replaced, with a warning)."""
        folder = self.path(key)
        if not (folder / META).is_file():
            return None
        try:
            return _read(folder)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("data cache %s is unreadable (%s); preparing the data again", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
            return None

    def save(self, key: str, write: Callable[[Path], dict[str, Any]]) -> CachedData:
        """Build an entry in a temporary folder with ``write(folder) -> meta`` and move it into
        place in one rename. If another process got there first, its entry is kept."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=self.root))
        try:
            meta = write(tmp)
            (tmp / META).write_text(
                json.dumps({"version": CACHE_VERSION, **meta}, ensure_ascii=False, default=str),
                encoding="utf-8",
            )
            final = self.path(key)
            if final.exists() and not (final / META).is_file():
                # Entries are renamed into place complete, so this one was damaged by hand.
                shutil.rmtree(final, ignore_errors=True)
            try:
                os.rename(tmp, final)
            except OSError:  # already there: a concurrent run (or process) finished first
                if not (final / META).is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return _read(self.path(key))


def write_split(folder: Path, name: str, data: Encoded) -> dict[str, Any]:
    """The ids and targets of a split whose tokens were written to ``folder`` by ``encode``."""
    ids = data.ids
    if ids.dtype.kind not in "iub":
        ids = ids.astype(str)  # strings, or mixed: stored as text, never pickled
    np.save(folder / f"{name}.ids.npy", ids, allow_pickle=False)
    if data.targets is not None:
        np.save(folder / f"{name}.targets.npy", np.asarray(data.targets), allow_pickle=False)
    return {"inputs": sorted(data.inputs), "targets": data.targets is not None, "rows": len(ids)}


def _read(folder: Path) -> CachedData:
    meta = json.loads((folder / META).read_text(encoding="utf-8"))
    if meta.get("version") != CACHE_VERSION:
        raise ValueError(f"cache version {meta.get('version')}, expected {CACHE_VERSION}")
    splits = {}
    for name, info in meta["splits"].items():
        inputs = {key: Ragged.load(folder, f"{name}.{key}") for key in info["inputs"]}
        ids = np.load(folder / f"{name}.ids.npy", allow_pickle=False)
        targets = (
            np.load(folder / f"{name}.targets.npy", allow_pickle=False) if info["targets"] else None
        )
        splits[name] = Encoded(inputs, ids, targets)
        if len(splits[name]) != info["rows"]:
            raise ValueError(f"split {name}: {len(splits[name])} rows, expected {info['rows']}")
    rejected = pd.read_csv(folder / "rejected.csv", dtype=str, keep_default_na=False)
    tokenizer = None
    if (folder / TOKENIZER).is_dir():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder / TOKENIZER)
    return CachedData(
        splits=splits,
        rejected=rejected,
        summary=meta["summary"],
        task_state=meta["task_state"],
        path=folder,
        tokenizer=tokenizer,
    )
