"""The Evaluation stage: an Evaluator scores a model on encoded rows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import pandas as pd

from plmkit.batching import Encoded


@dataclass
class EvalResult:
    metrics: dict[str, Any]  # empty when the rows have no targets
    predictions: pd.DataFrame | None = None  # one row per input row, in input order


class Evaluator(ABC):
    @abstractmethod
    def evaluate(
        self,
        model: Any,
        data: Encoded,
        *,
        pad_id: int,
        accelerator: Any = None,
        with_predictions: bool = False,
    ) -> EvalResult:
        """Score ``model`` on ``data`` in eval mode, without gradients."""
