"""The run directory: one folder per run, and what is written where.

    config.yaml        the resolved config (every default filled in)
    versions.json      python, plmkit, torch, transformers, ... versions
    history.jsonl      one line per epoch: train loss, validation metrics, time
    metrics.json       final metrics per evaluated split, plus the data summary
    rejected.csv       every row taken out of the data, with where it was and why
    predictions/       <split>.csv: id, gold label (when known), prediction, probability
    model/             best model + tokenizer (safetensors), and plmkit.json (task state)
    checkpoints/       step-N/ (model, optimizer, scheduler, RNG states, loop progress) and
                       best.safetensors; `plmkit run --resume` continues from the newest

Later components (reports, exports, trackers) add their own files next to these.
"""

from __future__ import annotations

import json
import platform
import shutil
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from plmkit.errors import RunDirError

LIBRARIES = [
    "plmkit",
    "torch",
    "transformers",
    "accelerate",
    "tokenizers",
    "pandas",
    "pandera",
    "pydantic",
]


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # --- creating and opening -------------------------------------------------------------
    @classmethod
    def plan(
        cls, parent: Path, name: str | None, prefix: str, overwrite: bool, resume: bool = False
    ) -> RunDir:
        """Name the new run's directory and check it may be written; nothing is created yet,
        so a run that fails on its data or model leaves nothing behind. Resuming needs the
        directory of the run to continue; starting fresh needs none (or ``overwrite``)."""
        name = name or f"{prefix}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        run = cls(Path(parent) / name)
        if Path(parent).exists() and not Path(parent).is_dir():
            raise RunDirError(f"{parent}: output.dir is not a directory")
        if resume:
            if not run.path.is_dir():
                raise RunDirError(f"{run.path}: no run to resume (check output.dir/output.name)")
            return run
        if (
            run.path.exists()
            and not overwrite
            and (not run.path.is_dir() or any(run.path.iterdir()))
        ):
            raise RunDirError(
                f"{run.path}: run directory already exists; choose another "
                "output.name or set output.overwrite=true"
            )
        return run

    def create(self, overwrite: bool = False) -> RunDir:
        if self.path.exists() and overwrite:
            if self.path.is_dir():
                shutil.rmtree(self.path)
            else:
                self.path.unlink()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"{self.path}: cannot create the run directory: {exc}") from None
        return self

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        run = cls(path)
        if not run.path.is_dir():
            raise RunDirError(f"{run.path}: run directory not found")
        if not (run.model_dir / "plmkit.json").is_file():
            raise RunDirError(
                f"{run.path}: no trained model in it (missing model/plmkit.json); "
                "did the run finish?"
            )
        return run

    # --- paths ----------------------------------------------------------------------------
    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def rejected_path(self) -> Path:
        return self.path / "rejected.csv"

    def predictions_path(self, split: str) -> Path:
        return self.path / "predictions" / f"{split}.csv"

    # --- writing --------------------------------------------------------------------------
    def write_config(self, config: dict[str, Any]) -> None:
        self.config_path.write_text(
            yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )

    def read_config(self) -> dict[str, Any]:
        return yaml.safe_load(self.config_path.read_text(encoding="utf-8"))

    def write_json(self, name: str, data: Any) -> Path:
        path = self.path / name
        path.write_text(
            json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
        )
        return path

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def write_history(self, records: list[dict[str, Any]]) -> None:
        """The whole history, rewritten each epoch (a resumed run never repeats a line)."""
        lines = [json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records]
        (self.path / "history.jsonl").write_text("".join(lines), encoding="utf-8")

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    def write_rejected(self, rejected: pd.DataFrame) -> None:
        rejected.to_csv(self.rejected_path, index=False)

    def write_versions(self) -> None:
        found = {"python": platform.python_version(), "platform": platform.platform()}
        for lib in LIBRARIES:
            try:
                found[lib] = version(lib)
            except PackageNotFoundError:
                found[lib] = None
        self.write_json("versions.json", found)
