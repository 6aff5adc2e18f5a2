"""The Train stage: a Trainer fits a model on encoded train rows, validating each epoch."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from plmkit.batching import Encoded
from plmkit.rundir import RunDir


@dataclass
class TrainResult:
    model: Any  # with the best epoch's weights loaded
    best_epoch: int | None
    best_metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    accelerator: Any = None


class Trainer(ABC):
    @abstractmethod
    def fit(
        self,
        model: Any,
        train: Encoded,
        validation: Encoded | None,
        *,
        pad_id: int,
        run: RunDir | None = None,
    ) -> TrainResult:
        """Train ``model``; return it with the best epoch's weights (by the configured metric)."""
