"""Checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint holds the model, optimizer, scheduler, gradient scaler and every RNG state (through
``accelerator.save_state``) plus the loop's own progress: epoch, batches consumed in it, step,
running loss, history, best score. It is written to a temporary folder and renamed when
complete, so a crash mid-write never leaves a checkpoint that looks finished. The best epoch's
weights are kept apart (``best.safetensors``) and survive pruning.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from plmkit.errors import RunDirError

COMPLETE = "COMPLETE"


@dataclass
class Progress:
    """The training loop's own state."""

    epoch: int = 0  # the epoch in progress, 0-based
    batch: int = 0  # batches of that epoch already consumed
    step: int = 0  # optimizer steps taken
    loss_sum: float = 0.0  # over the epoch's batches so far
    seconds: float = 0.0  # training time spent in the epoch so far
    best_value: float | None = None
    best_epoch: int | None = None
    best_metrics: dict[str, Any] = field(default_factory=dict)
    bad_epochs: int = 0  # epochs since the last improvement (early stopping)
    history: list[dict[str, Any]] = field(default_factory=list)


class Checkpoints:
    def __init__(self, root: Path, accelerator: Any, keep: int = 1):
        self.root = Path(root)
        self.accelerator = accelerator
        self.keep = keep

    @property
    def best_path(self) -> Path:
        return self.root / "best.safetensors"

    def complete(self) -> list[Path]:
        """Finished checkpoints, oldest first."""
        if not self.root.is_dir():
            return []
        found = [p for p in self.root.glob("step-*") if (p / COMPLETE).is_file()]
        return sorted(found, key=lambda p: int(p.name.split("-")[1]))

    def latest(self) -> Path | None:
        done = self.complete()
        return done[-1] if done else None

    def save(self, progress: Progress) -> Path:
        acc = self.accelerator
        final = self.root / f"step-{progress.step:08d}"
        tmp = self.root / f".tmp-step-{progress.step:08d}"
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        acc.save_state(str(tmp))
        acc.wait_for_everyone()  # every process's files (its RNG state) are written
        if acc.is_main_process:
            (tmp / "progress.json").write_text(json.dumps(asdict(progress), default=str))
            (tmp / COMPLETE).write_text(json.dumps(manifest(tmp), indent=1))
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            for old in self.complete()[: -self.keep]:
                shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        return final

    def load(self, path: Path) -> Progress:
        try:
            check_manifest(path)
            progress = Progress(**json.loads((path / "progress.json").read_text()))
            self.accelerator.load_state(str(path))
        except Exception as exc:  # truncated or edited files: name the checkpoint, no traceback
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RunDirError(
                f"{path}: damaged checkpoint ({reason}); delete this folder to resume from the "
                "one before it, or start again with output.overwrite=true"
            ) from None
        return progress

    def save_best(self, model: Any) -> None:
        if not self.accelerator.is_main_process:
            return
        state = self.accelerator.unwrap_model(model).state_dict()
        # Tied weights share storage; safetensors wants each tensor once and contiguous.
        seen, tensors = set(), {}
        for name, tensor in state.items():
            if tensor.data_ptr() in seen:
                continue
            seen.add(tensor.data_ptr())
            tensors[name] = tensor.detach().contiguous().cpu()
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.best_path.with_suffix(".tmp")
        save_file(tensors, str(tmp))
        os.replace(tmp, self.best_path)

    def load_best(self, model: Any) -> bool:
        if not self.best_path.is_file():
            return False
        missing, unexpected = model.load_state_dict(load_file(str(self.best_path)), strict=False)
        if unexpected or not all(_tied(model, k) for k in missing):
            raise RuntimeError(f"{self.best_path}: does not match the model ({missing[:3]})")
        return True


def manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and sha256 of every file in a checkpoint, kept in its COMPLETE marker."""
    from plmkit.datacache import file_digest

    return {
        str(p.relative_to(folder)): {"bytes": p.stat().st_size, "sha256": file_digest(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != COMPLETE
    }


def check_manifest(folder: Path) -> None:
    """Every file the checkpoint was written with, unchanged: Accelerate itself skips an
    unreadable RNG state with an info message, which would break an exact resume."""
    from plmkit.datacache import file_digest

    text = (folder / COMPLETE).read_text()
    if not text.strip():
        return  # written before manifests existed
    for name, want in json.loads(text).items():
        path = folder / name
        if not path.is_file():
            raise ValueError(f"{name} is missing")
        size = path.stat().st_size
        if size != want["bytes"]:
            raise ValueError(f"{name} has {size} bytes, expected {want['bytes']}")
        if file_digest(path) != want["sha256"]:
            raise ValueError(f"{name} does not match its checksum")


def _tied(model: Any, key: str) -> bool:
    """A key missing from the file is fine when its tensor shares storage with a saved one."""
    state = model.state_dict()
    ptr = state[key].data_ptr()
    return any(k != key and v.data_ptr() == ptr for k, v in state.items())
