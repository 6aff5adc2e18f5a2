"""Regression: one numeric target per row (e.g. a similarity score), from a text or a pair.

Targets are standardised with the train split's mean and standard deviation (``scale:
standard``), so one learning rate suits any range; predictions and metrics are reported back
on the data's own scale. The loss (``mse``, ``l1``, ``huber``) is computed here, not by the head.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from plmkit.errors import DataError
from plmkit.tasks.base import Metrics, TaskAdapter
from plmkit.tasks.pair import add_pair_column, encode_pairs

if TYPE_CHECKING:
    import pandera.pandas as pa
    import torch

# validation._describe turns a check named "dtype('X')" into "wrong type (expected X)".
NOT_A_NUMBER = "dtype('number')"
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class RegressionParams(BaseModel):
    """``task_options`` of regression."""

    model_config = ConfigDict(extra="forbid")

    loss: Literal["mse", "l1", "huber"] = Field("mse", description="training loss")
    scale: Literal["standard", "none"] = Field(
        "standard", description="standard: train on (y - mean) / std of the train split"
    )


def as_number(value: Any) -> float | None:
    """A target as a finite float, or None when it is not one ("abc", "", NaN, true, ...)."""
    if isinstance(value, str):
        text = value.strip()
        number = float(text) if NUMBER.fullmatch(text) else None
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    ):
        number = float(value)
    else:
        return None
    return number if number is not None and math.isfinite(number) else None


def rankdata(x: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share the average of their ranks."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=ranks) / counts)[inverse]


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; 0.0 where it is undefined (fewer than 2 rows, a constant side)."""
    if len(x) < 2:
        return 0.0
    dx, dy = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / denom if denom > 0 else 0.0


class RegressionMetrics(Metrics):
    """Keeps every prediction and target (one float each) and scores them on the data's scale:
    outputs are standardised predictions, labels the targets as they are."""

    def __init__(self, mean: float, std: float):
        self.mean, self.std = mean, std
        self.preds: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []

    def update(self, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        pred = outputs.detach().float().reshape(-1).cpu().numpy().astype(np.float64)
        self.preds.append(pred * self.std + self.mean)
        self.targets.append(labels.detach().reshape(-1).cpu().numpy().astype(np.float64))

    def compute(self) -> dict[str, Any]:
        pred = np.concatenate(self.preds) if self.preds else np.zeros(0)
        target = np.concatenate(self.targets) if self.targets else np.zeros(0)
        err = pred - target
        mse = float(np.mean(err**2)) if len(err) else 0.0
        return {
            "rmse": math.sqrt(mse),
            "mse": mse,
            "mae": float(np.mean(np.abs(err))) if len(err) else 0.0,
            "pearson": pearson(pred, target),
            "spearman": pearson(rankdata(pred), rankdata(target)),
            "num_examples": len(err),
        }


class Regression(TaskAdapter):
    name = "regression"
    columns = {"id": False, "text": True, "text_pair": False, "label": False}
    text_columns = ("text", "text_pair")
    stratify_by = None
    # The first is the default training.best_metric.
    metrics = {
        "rmse": False,
        "mse": False,
        "mae": False,
        "pearson": True,
        "spearman": True,
        "loss": False,
    }
    Params = RegressionParams

    def __init__(
        self, params: BaseModel | dict[str, Any] | None = None, *, labels: list[str] | None = None
    ):
        super().__init__(params, labels=None)  # no label set: data.labels does not apply
        self.mean, self.std = 0.0, 1.0  # target scaling, learned in fit()
        self.pairs = False  # whether the train split has a text_pair column

    # --- data ---------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame) -> None:
        source = train.attrs.get("source", "train")
        if "label" not in train.columns:
            raise DataError(
                f"{source}: the train split has no label column (map it with "
                "data.columns.label, e.g. {label: score})"
            )
        self.pairs = "text_pair" in train.columns
        # Invalid targets are reported by the raw schema; the scale comes from the valid ones.
        values = train["label"].map(as_number).dropna().astype("float64")
        if len(values) < 2:
            raise DataError(
                f"{source}: column 'label' has {len(values)} numeric value(s); "
                "regression needs at least 2"
            )
        if self.params.scale == "standard":
            std = float(values.std(ddof=0))
            self.mean, self.std = float(values.mean()), (std if std > 0 else 1.0)

    def raw_schema(self, has_labels: bool) -> pa.DataFrameSchema:
        import pandera.pandas as pa

        cols = {
            "id": pa.Column(unique=True, nullable=False, required=False),
            "text": pa.Column(str, nullable=False),
        }
        if has_labels:
            cols["label"] = pa.Column(
                nullable=False,
                checks=pa.Check(
                    lambda v: as_number(v) is not None,
                    element_wise=True,
                    name=NOT_A_NUMBER,
                    error=NOT_A_NUMBER,
                ),
            )
        schema = pa.DataFrameSchema(cols, strict=False)
        return add_pair_column(schema) if self.pairs else schema

    def encode_targets(self, df: pd.DataFrame) -> pd.DataFrame:
        """Targets as float64, on the data's own scale (the loss scales them)."""
        if "label" not in df.columns:
            return df
        out = df.copy()
        out["label"] = df["label"].map(as_number).astype("float64")
        return out

    def processed_schema(self, has_labels: bool) -> pa.DataFrameSchema:
        import pandera.pandas as pa

        cols = {
            "id": pa.Column(unique=True, nullable=False),
            "text": pa.Column(str, nullable=False),
        }
        if has_labels:
            cols["label"] = pa.Column("float64", nullable=False)
        schema = pa.DataFrameSchema(cols, strict=False)
        return add_pair_column(schema) if self.pairs else schema

    def tokenize(self, df: pd.DataFrame, tokenizer: Any, max_length: int) -> dict[str, Sequence]:
        """Pairs when the run was trained on pairs; a text_pair column is ignored otherwise."""
        return encode_pairs(df, tokenizer, max_length, pairs=self.pairs)

    def targets(self, df: pd.DataFrame) -> np.ndarray | None:
        return df["label"].to_numpy(dtype=np.float32) if "label" in df.columns else None

    # --- model --------------------------------------------------------------------------
    def model_class(self) -> Any:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification

    def model_kwargs(self) -> dict[str, Any]:
        return {"num_labels": 1, "problem_type": "regression"}

    def model_inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v for k, v in batch.items() if k != "labels"}

    def loss(self, outputs: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The configured loss between the output and the standardised target (float32, also
        under mixed precision)."""
        import torch.nn.functional as F

        pred = outputs.logits.float().reshape(-1)
        target = (batch["labels"].float().reshape(-1) - self.mean) / self.std
        kind = self.params.loss
        if kind == "l1":
            return F.l1_loss(pred, target)
        if kind == "huber":
            return F.huber_loss(pred, target)
        return F.mse_loss(pred, target)

    def new_metrics(self) -> Metrics:
        return RegressionMetrics(self.mean, self.std)

    def decode(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """Predictions on the data's own scale."""
        return {"pred": logits.float().reshape(-1) * self.std + self.mean}

    def state(self) -> dict[str, Any]:
        return {**super().state(), "mean": self.mean, "std": self.std, "pairs": self.pairs}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Regression:
        task = cls(state.get("params"))
        task.mean, task.std = float(state["mean"]), float(state["std"])
        task.pairs = bool(state.get("pairs", False))
        return task
