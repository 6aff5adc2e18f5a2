"""Single-text classification, binary or multi-class, with string or integer labels."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, field_validator

from plmkit.errors import DataError
from plmkit.tasks.base import Metrics, TaskAdapter

if TYPE_CHECKING:
    import pandera.pandas as pa
    import torch

log = logging.getLogger(__name__)


def _is_int_like(value: str) -> bool:
    return value.lstrip("-").isdigit()


def label_string(v: Any) -> Any:
    """One label as a string (CSV gives '1', JSON gives 1, and 1.0 when some labels are
    missing); a null or empty cell becomes null, which the schema reports."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return v
    if isinstance(v, str) and not v.strip():
        return None  # an empty cell is a missing label, not a class named ''
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def as_label_strings(labels: pd.Series) -> pd.Series:
    """Labels as strings; nulls stay null for the schema."""
    return labels.map(label_string)


def sort_labels(values: Iterable[str]) -> list[str]:
    """Distinct label names in id order: numeric when all look like integers, else sorted."""
    values = list(dict.fromkeys(values))
    if all(_is_int_like(v) for v in values):
        return sorted(values, key=int)
    return sorted(values)


def label_index(labels: list[str]) -> dict[str, int]:
    """Raw label string -> class id: its name, or its id as a string (names win over ids)."""
    index = {str(i): i for i in range(len(labels))}
    index.update({name: i for i, name in enumerate(labels)})
    return index


class ClassificationParams(BaseModel):
    """``task_options`` of (pair) text classification."""

    model_config = ConfigDict(extra="forbid")

    class_weights: Literal["balanced"] | dict[str, PositiveFloat] | None = Field(
        None,
        description="weighted cross-entropy for imbalanced data: 'balanced' (n / (k * count), "
        "from the train split) or {label name: weight} (unlisted labels weigh 1)",
    )

    @field_validator("class_weights", mode="before")
    @classmethod
    def _names_as_strings(cls, value: Any) -> Any:
        """YAML reads ``{0: 1.0, 1: 4.0}`` with integer keys: labels are strings here."""
        return {label_string(k): v for k, v in value.items()} if isinstance(value, dict) else value


class ConfusionMetrics(Metrics):
    def __init__(self, label_names: list[str]):
        import torch

        self.names = label_names
        n = len(label_names)
        self.matrix = torch.zeros(n, n, dtype=torch.long)

    def update(self, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        import torch

        n = len(self.names)
        pred = outputs.argmax(-1).cpu()
        flat = labels.cpu() * n + pred
        self.matrix += torch.bincount(flat, minlength=n * n).reshape(n, n)

    def compute(self) -> dict[str, Any]:
        import torch

        m = self.matrix.double()
        tp = m.diag()
        support = m.sum(1)
        predicted = m.sum(0)
        precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), 0.0)
        recall = torch.where(support > 0, tp / support.clamp(min=1), 0.0)
        denom = precision + recall
        f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-12), 0.0)
        total = m.sum().item()
        return {
            "accuracy": (tp.sum().item() / total) if total else 0.0,
            "macro_f1": f1.mean().item(),
            "per_class": {
                name: {
                    "precision": precision[i].item(),
                    "recall": recall[i].item(),
                    "f1": f1[i].item(),
                    "support": int(support[i].item()),
                }
                for i, name in enumerate(self.names)
            },
            "confusion_matrix": {"labels": self.names, "matrix": self.matrix.tolist()},
            "num_examples": int(total),
        }


class TextClassification(TaskAdapter):
    name = "text_classification"
    columns = {"id": False, "text": True, "label": False}
    metrics = {"accuracy": True, "macro_f1": True, "loss": False}
    Params = ClassificationParams

    def __init__(
        self, params: BaseModel | dict[str, Any] | None = None, *, labels: list[str] | None = None
    ):
        super().__init__(params, labels=labels)
        # Per-class loss weights in label id order (None: the head's plain cross-entropy).
        self.weights: list[float] | None = None

    # --- data ---------------------------------------------------------------------------
    def prepare(self, df: pd.DataFrame) -> pd.DataFrame:
        """Labels as strings, whether the file held names or numbers (JSON 10 == CSV "10")."""
        if "label" not in df.columns:
            return df
        out = df.assign(label=as_label_strings(df["label"]))
        out.attrs = dict(df.attrs)
        return out

    def fit(self, train: pd.DataFrame) -> None:
        if "label" not in train.columns:
            raise DataError(
                f"{train.attrs.get('source', 'train')}: the train split has no "
                "label column (map it with data.columns.label)"
            )
        if self.labels is None:
            values = sort_labels(as_label_strings(train["label"]).dropna())
            if len(values) < 2:
                raise DataError(
                    f"{train.attrs.get('source', 'train')}: column 'label' has "
                    f"{len(values)} distinct value(s); classification needs at least 2"
                )
            self.labels = values
        self.weights = self._fit_weights(train)

    def _fit_weights(self, train: pd.DataFrame) -> list[float] | None:
        """Loss weights per class from ``task_options.class_weights`` (None when unset)."""
        wanted = self.params.class_weights
        if wanted is None:
            return None
        if isinstance(wanted, dict):
            unknown = sorted(set(wanted) - set(self.labels))
            if unknown:
                raise DataError(
                    f"task_options.class_weights: {', '.join(map(repr, unknown))} not in the "
                    f"label set {self.labels}"
                )
            return [float(wanted.get(name, 1.0)) for name in self.labels]
        index = self._index()
        ids = as_label_strings(train["label"]).map(index).dropna().astype("int64")
        counts = np.bincount(ids, minlength=len(self.labels))
        if (counts == 0).any():
            absent = [self.labels[i] for i in np.flatnonzero(counts == 0)]
            log.warning("class_weights: labels %s are not in the train split; weight 1", absent)
        balanced = counts.sum() / (len(self.labels) * np.maximum(counts, 1))
        return np.where(counts > 0, balanced, 1.0).round(6).tolist()

    def _index(self) -> dict[str, int]:
        return label_index(self.labels)

    def _accepted(self) -> list[Any]:
        """Raw label values that map onto a class: its name, or its id as int or string."""
        ids = range(len(self.labels))
        return list(dict.fromkeys([*self.labels, *map(str, ids)]))

    def raw_schema(self, has_labels: bool) -> pa.DataFrameSchema:
        import pandera.pandas as pa

        cols = {
            "id": pa.Column(unique=True, nullable=False, required=False),
            "text": pa.Column(str, nullable=False),
        }
        if has_labels:
            cols["label"] = pa.Column(
                nullable=False, checks=pa.Check.isin(self._accepted()), coerce=False
            )
        return pa.DataFrameSchema(cols, strict=False)

    def encode_targets(self, df: pd.DataFrame) -> pd.DataFrame:
        if "label" not in df.columns:
            return df
        out = df.copy()
        out["label"] = as_label_strings(df["label"]).map(self._index()).astype("int64")
        return out

    def processed_schema(self, has_labels: bool) -> pa.DataFrameSchema:
        import pandera.pandas as pa

        cols = {
            "id": pa.Column(unique=True, nullable=False),
            "text": pa.Column(str, nullable=False),
        }
        if has_labels:
            cols["label"] = pa.Column("int64", pa.Check.in_range(0, len(self.labels) - 1))
        return pa.DataFrameSchema(cols, strict=False)

    # --- model --------------------------------------------------------------------------
    def model_class(self) -> Any:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification

    def model_kwargs(self) -> dict[str, Any]:
        return {
            "num_labels": len(self.labels),
            "id2label": dict(enumerate(self.labels)),
            "label2id": {name: i for i, name in enumerate(self.labels)},
            "problem_type": "single_label_classification",
        }

    def model_inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.weights is None:
            return batch
        return {k: v for k, v in batch.items() if k != "labels"}

    def loss(self, outputs: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The head's cross-entropy, or with class weights the weighted one computed here."""
        if self.weights is None:
            return outputs.loss
        import torch
        import torch.nn.functional as F

        logits = outputs.logits.float()
        weight = torch.tensor(self.weights, dtype=torch.float32, device=logits.device)
        return F.cross_entropy(logits, batch["labels"], weight=weight)

    def new_metrics(self) -> Metrics:
        return ConfusionMetrics(self.labels)

    def decode(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        probs = logits.float().softmax(-1)
        prob, pred = probs.max(-1)
        return {"pred": pred, "prob": prob}

    def readable(self, decoded: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            "pred": np.asarray(self.labels, dtype=object)[decoded["pred"]],
            "prob": decoded["prob"],
        }

    def readable_targets(self, targets: np.ndarray) -> np.ndarray:
        return np.asarray(self.labels, dtype=object)[targets]

    def state(self) -> dict[str, Any]:
        """Without class weights, the state runs have always saved: ``{labels, params: None}``."""
        if self.params.class_weights is None:
            return {"labels": self.labels, "params": None}
        return {**super().state(), "weights": self.weights}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TextClassification:
        task = cls(state.get("params"), labels=state.get("labels"))
        task.weights = state.get("weights")
        return task
