"""Tokenised rows, dynamic padding per batch, and length-grouped batching.

Rows are tokenised once, unpadded, into flat token arrays
(:mod:`plmkit.ragged`). Each batch is padded only to its own longest row, and the
training sampler puts rows of similar length together, so little compute goes to padding.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from plmkit.ragged import Ragged, RaggedWriter

TOKENIZE_CHUNK = 4096


class Encoded(Dataset):
    """Model inputs per row (:class:`Ragged` token rows, in memory or memory-mapped from the
    data cache), optional targets, and the rows' ids.

    ``targets`` holds one fixed-size target per row (a class id, a score, a multi-hot row);
    targets that follow the tokens (e.g. NER tags) are an input named ``labels`` instead, padded
    with -100 like the loss expects. Inputs may be given as lists of rows.
    """

    def __init__(
        self, inputs: dict[str, Ragged | Sequence], ids: Sequence, targets: np.ndarray | None
    ):
        self.inputs = {
            k: v if isinstance(v, Ragged) else Ragged.from_rows(v) for k, v in inputs.items()
        }
        self.ids = np.asarray(ids)
        self.targets = targets
        self.lengths = self.inputs["input_ids"].lengths
        if len(self.lengths) != len(self.ids):
            raise ValueError(f"{len(self.lengths)} tokenised rows but {len(self.ids)} ids")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_targets(self) -> bool:
        return self.targets is not None or "labels" in self.inputs

    def __getitem__(self, i: int) -> int:
        return i  # the collator gathers rows by index: one Python call per batch, not per row


def encode(
    df: pd.DataFrame,
    task: Any,
    tokenizer: Any,
    max_length: int,
    desc: str,
    into: Path | None = None,
) -> Encoded:
    """Tokenise a split in chunks (with a progress bar) through the task adapter. With
    ``into`` (a folder), each chunk's tokens are written there as they come and the result is
    memory-mapped, so a large split never sits in memory as tokens."""
    writers: dict[str, RaggedWriter] = {}
    parts: dict[str, list[Ragged]] = {}
    with tqdm(
        total=len(df), desc=f"tokenize {desc}", unit="rows", disable=None, leave=False
    ) as bar:
        for start in range(0, len(df), TOKENIZE_CHUNK):
            chunk = df.iloc[start : start + TOKENIZE_CHUNK]
            for key, rows in task.tokenize(chunk, tokenizer, max_length).items():
                part = Ragged.from_rows(rows)
                if into is None:
                    parts.setdefault(key, []).append(part)
                else:
                    if key not in writers:
                        writers[key] = RaggedWriter(into, f"{desc}.{key}")
                    writers[key].append(part)
            bar.update(len(chunk))
    if into is not None:
        inputs = {key: w.finish() for key, w in writers.items()}
    else:
        inputs = {key: Ragged.concat(p) for key, p in parts.items()}
    inputs = inputs or {"input_ids": Ragged.concat([])}
    ids = df["id"].to_numpy() if "id" in df.columns else np.arange(len(df))
    return Encoded(inputs, ids, task.targets(df))


class Collator:
    """Pads a batch to its longest row and builds the attention mask."""

    def __init__(self, data: Encoded, pad_id: int):
        self.data = data
        self.pad_values = {"input_ids": pad_id, "labels": -100}  # -100: ignored by the loss

    def __call__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        data = self.data
        rows = np.asarray(indices, dtype=np.int64)
        batch = {
            key: torch.from_numpy(column.padded(rows, self.pad_values.get(key, 0)))
            for key, column in data.inputs.items()
        }
        width = batch["input_ids"].shape[1]
        lengths = torch.from_numpy(data.lengths[rows])
        batch["attention_mask"] = (torch.arange(width)[None, :] < lengths[:, None]).long()
        if data.targets is not None:
            batch["labels"] = torch.as_tensor(data.targets[rows])
        batch["row"] = torch.from_numpy(rows)
        return batch


class LengthGroupedSampler(Sampler[list[int]]):
    """Shuffled batches of similar-length rows.

    Rows are shuffled, cut into mega-batches of ``mega`` batches, each mega-batch is sorted by
    length and cut into batches, and the batches are shuffled again: random, but little padding.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int, mega: int = 50):
        self.lengths = lengths
        self.batch_size = batch_size
        self.seed = seed
        self.mega = mega
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng((self.seed, self.epoch))
        order = rng.permutation(len(self.lengths))
        size = self.batch_size * self.mega
        for start in range(0, len(order), size):  # sorted in place, mega-batch by mega-batch
            mega = order[start : start + size]
            mega[:] = mega[np.argsort(-self.lengths[mega], kind="stable")]
        # Batch b is order[starts[b] : starts[b] + batch_size]; rows become Python ints only
        # when their batch is served (a list per batch up front costs ~40 bytes a row).
        starts = np.concatenate(
            [
                np.arange(start, min(start + size, len(order)), self.batch_size)
                for start in range(0, len(order), size)
            ]
            or [np.zeros(0, dtype=np.int64)]
        )
        for b in rng.permutation(len(starts)):
            first = starts[b]
            end = min(first + self.batch_size, (first // size + 1) * size, len(order))
            yield order[first:end].tolist()


class ShuffledBatchSampler(Sampler[list[int]]):
    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = np.random.default_rng((self.seed, self.epoch)).permutation(self.n)
        for i in range(0, self.n, self.batch_size):
            yield order[i : i + self.batch_size].tolist()


def train_loader(
    data: Encoded,
    batch_size: int,
    pad_id: int,
    *,
    seed: int,
    group_by_length: bool,
    num_workers: int = 0,
) -> DataLoader:
    share_cores(num_workers)
    sampler_cls = LengthGroupedSampler if group_by_length else None
    sampler = (
        sampler_cls(data.lengths, batch_size, seed)
        if sampler_cls
        else ShuffledBatchSampler(len(data), batch_size, seed)
    )
    return DataLoader(
        data,
        batch_sampler=sampler,
        collate_fn=Collator(data, pad_id),
        num_workers=num_workers,
        worker_init_fn=_one_thread if num_workers else None,
        generator=_own_generator(seed),
    )


def share_cores(num_workers: int) -> None:
    """With DataLoader workers, leave them their cores: intra-op threads + workers never
    outnumber the cores (oversubscribed CPUs slow every step). Workers are forked, so the
    tokenizers' thread pool is switched off first rather than copied into them."""
    if num_workers <= 0:
        return
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, (cores or 1) - num_workers))


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)


def eval_loader(data: Encoded, batch_size: int, pad_id: int, num_workers: int = 0) -> DataLoader:
    """Longest rows first, in fixed batches: the least padding, and an early out-of-memory."""
    return DataLoader(
        data,
        batch_sampler=LongestFirstBatches(data.lengths, batch_size),
        collate_fn=Collator(data, pad_id),
        num_workers=num_workers,
        generator=_own_generator(0),
    )


class LongestFirstBatches(Sampler[list[int]]):
    """Fixed batches, longest rows first. A Sampler with ``batch_size`` so that Accelerate can
    shard it across processes (a plain list of batches would be replayed by every process)."""

    def __init__(self, lengths: np.ndarray, batch_size: int):
        self.batch_size = batch_size
        self.drop_last = False
        self.order = np.argsort(-lengths, kind="stable")

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(0, len(self.order), self.batch_size):
            yield self.order[i : i + self.batch_size].tolist()


def _own_generator(seed: int) -> torch.Generator:
    """Each DataLoader iterator draws a seed for its workers. From its own generator, that
    draw leaves the global RNG (dropout) alone, so a resumed run sees the same random
    numbers as one that never stopped."""
    return torch.Generator().manual_seed(seed)
