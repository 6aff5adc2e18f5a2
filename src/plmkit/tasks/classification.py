"""Single-text classification, binary or multi-class, with string or integer labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from plmkit.errors import DataError
from plmkit.tasks.base import Metrics, TaskAdapter

if TYPE_CHECKING:
    import pandera.pandas as pa
    import torch


def _is_int_like(value: str) -> bool:
    return value.lstrip("-").isdigit()


def as_label_strings(labels: pd.Series) -> pd.Series:
    """Labels as strings (CSV gives '1', JSON gives 1, and 1.0 when some labels are missing);
    nulls stay null for the schema."""

    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return v
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    return labels.map(one)


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
        if self.labels is not None:
            return
        values = as_label_strings(train["label"]).dropna().unique().tolist()
        if all(_is_int_like(v) for v in values):
            values.sort(key=int)
        else:
            values.sort()
        if len(values) < 2:
            raise DataError(
                f"{train.attrs.get('source', 'train')}: column 'label' has "
                f"{len(values)} distinct value(s); classification needs at least 2"
            )
        self.labels = values

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
        index = {str(i): i for i in range(len(self.labels))}
        index.update({name: i for i, name in enumerate(self.labels)})  # names win over ids
        out = df.copy()
        out["label"] = as_label_strings(df["label"]).map(index).astype("int64")
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

    def tokenize(self, df: pd.DataFrame, tokenizer: Any, max_length: int) -> dict[str, Sequence]:
        encoded = tokenizer(
            df["text"].tolist(),
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return {"input_ids": encoded["input_ids"]}

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
