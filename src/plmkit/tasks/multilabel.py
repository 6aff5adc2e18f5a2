"""Multi-label classification: each row carries zero or more labels of one label set.

Labels come as a list (JSON/JSONL/Parquet) or as one delimited string (CSV/TSV: ``"sport|tech"``,
``""`` for none). The head scores every label on its own (sigmoid + binary cross-entropy); a label
is predicted when its probability reaches ``threshold``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from plmkit.errors import DataError
from plmkit.tasks.base import Metrics, TaskAdapter
from plmkit.tasks.classification import label_index, label_string, sort_labels

if TYPE_CHECKING:
    import pandera.pandas as pa
    import torch


class MultiLabelParams(BaseModel):
    """``task_options`` of multi-label classification."""

    model_config = ConfigDict(extra="forbid")

    delimiter: str = Field(
        "|", min_length=1, description="separates labels in a string label cell ('' = none)"
    )
    threshold: float = Field(0.5, gt=0, lt=1, description="probability at which a label is on")


def parse_labels(value: Any, delimiter: str) -> Any:
    """A row's labels as a tuple of strings (unique, in given order); None when missing.
    Values of another kind (e.g. a mapping) are returned as they are, for the schema to report."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        parts: Any = value.split(delimiter)
    elif isinstance(value, (list, tuple, np.ndarray)):
        parts = [label_string(v) for v in value if v is not None]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parts = [label_string(value)]
    else:
        return value
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))


class MultiLabelMetrics(Metrics):
    """Per-label true/false positive and false negative counts, and exact-match rows."""

    def __init__(self, label_names: list[str], threshold: float):
        self.names = label_names
        self.threshold = threshold
        n = len(label_names)
        self.tp, self.fp, self.fn = np.zeros(n), np.zeros(n), np.zeros(n)
        self.exact = 0
        self.count = 0

    def update(self, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        pred = (outputs.detach().float().sigmoid() >= self.threshold).cpu().numpy()
        true = (labels.detach() > 0.5).cpu().numpy()
        self.tp += (pred & true).sum(0)
        self.fp += (pred & ~true).sum(0)
        self.fn += (~pred & true).sum(0)
        self.exact += int((pred == true).all(1).sum())
        self.count += len(pred)

    def compute(self) -> dict[str, Any]:
        tp, fp, fn = self.tp, self.fp, self.fn
        precision, recall, f1 = prf(tp, fp, fn)
        micro_p, micro_r, micro_f1 = prf(tp.sum(), fp.sum(), fn.sum())
        return {
            "micro_f1": float(micro_f1),
            "macro_f1": float(f1.mean()) if len(f1) else 0.0,
            "subset_accuracy": self.exact / self.count if self.count else 0.0,
            "micro_precision": float(micro_p),
            "micro_recall": float(micro_r),
            "per_label": {
                name: {
                    "precision": float(precision[i]),
                    "recall": float(recall[i]),
                    "f1": float(f1[i]),
                    "support": int(tp[i] + fn[i]),
                }
                for i, name in enumerate(self.names)
            },
            "num_examples": self.count,
        }


def prf(tp, fp, fn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 from counts (arrays or scalars); 0 where undefined."""
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


class MultiLabelClassification(TaskAdapter):
    name = "multi_label"
    columns = {"id": False, "text": True, "label": False}
    stratify_by = None  # label sets are too many and too rare to stratify by
    # The first is the default training.best_metric.
    metrics = {"micro_f1": True, "macro_f1": True, "subset_accuracy": True, "loss": False}
    Params = MultiLabelParams

    # --- data ---------------------------------------------------------------------------
    def prepare(self, df: pd.DataFrame) -> pd.DataFrame:
        """Label cells as tuples of label strings, whether lists or delimited strings."""
        if "label" not in df.columns:
            return df
        delimiter = self.params.delimiter
        out = df.assign(label=df["label"].map(lambda v: parse_labels(v, delimiter)))
        out.attrs = dict(df.attrs)
        return out

    def fit(self, train: pd.DataFrame) -> None:
        source = train.attrs.get("source", "train")
        if "label" not in train.columns:
            raise DataError(
                f"{source}: the train split has no label column (map it with data.columns.label)"
            )
        if self.labels is not None:
            return
        rows = [v for v in train["label"] if isinstance(v, tuple)]
        values = sort_labels(label for row in rows for label in row)
        if len(values) < 2:
            raise DataError(
                f"{source}: column 'label' has {len(values)} distinct label(s); "
                "multi-label classification needs at least 2"
            )
        self.labels = values

    def raw_schema(self, has_labels: bool) -> pa.DataFrameSchema:
        import pandera.pandas as pa

        cols = {
            "id": pa.Column(unique=True, nullable=False, required=False),
            "text": pa.Column(str, nullable=False),
        }
        if has_labels:
            index, delimiter = label_index(self.labels), self.params.delimiter

            def unknown(value: Any) -> Any:  # what the check sees, and reports, per row
                if not isinstance(value, tuple):
                    return value
                return delimiter.join(label for label in value if label not in index)

            # Named like Check.isin, so that a failure reads "not in the label set [...]".
            cols["label"] = pa.Column(
                nullable=False,
                parsers=pa.Parser(lambda s: s.map(unknown)),
                checks=pa.Check(lambda v: v == "", element_wise=True, name=f"isin({self.labels})"),
            )
        return pa.DataFrameSchema(cols, strict=False)

    def encode_targets(self, df: pd.DataFrame) -> pd.DataFrame:
        """Label cells as sorted tuples of label ids."""
        if "label" not in df.columns:
            return df
        index = label_index(self.labels)
        out = df.copy()
        out["label"] = df["label"].map(lambda row: tuple(sorted({index[x] for x in row})))
        return out

    def processed_schema(self, has_labels: bool) -> pa.DataFrameSchema:
        import pandera.pandas as pa

        cols = {
            "id": pa.Column(unique=True, nullable=False),
            "text": pa.Column(str, nullable=False),
        }
        if has_labels:
            n = len(self.labels)
            cols["label"] = pa.Column(
                nullable=False,
                checks=pa.Check(
                    lambda row: isinstance(row, tuple) and all(0 <= i < n for i in row),
                    element_wise=True,
                    name=f"in_range(0, {n - 1})",
                ),
            )
        return pa.DataFrameSchema(cols, strict=False)

    def targets(self, df: pd.DataFrame) -> np.ndarray | None:
        """Multi-hot float32 rows, one column per label."""
        if "label" not in df.columns:
            return None
        out = np.zeros((len(df), len(self.labels)), dtype=np.float32)
        for r, ids in enumerate(df["label"]):
            out[r, list(ids)] = 1.0
        return out

    # --- model --------------------------------------------------------------------------
    def model_class(self) -> Any:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification

    def model_kwargs(self) -> dict[str, Any]:
        return {
            "num_labels": len(self.labels),
            "id2label": dict(enumerate(self.labels)),
            "label2id": {name: i for i, name in enumerate(self.labels)},
            "problem_type": "multi_label_classification",
        }

    def new_metrics(self) -> Metrics:
        return MultiLabelMetrics(self.labels, self.params.threshold)

    def decode(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per row and label: on/off at the threshold, and the probability."""
        probs = logits.float().sigmoid()
        return {"pred": probs >= self.params.threshold, "prob": probs}

    def readable(self, decoded: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``pred``: the predicted label names joined by the delimiter; ``prob_<label>``: each
        label's probability."""
        out = {"pred": self._names(decoded["pred"])}
        for i, name in enumerate(self.labels):
            out[f"prob_{name}"] = decoded["prob"][:, i]
        return out

    def readable_targets(self, targets: np.ndarray) -> np.ndarray:
        return self._names(targets > 0.5)

    def _names(self, on: np.ndarray) -> np.ndarray:
        delimiter = self.params.delimiter
        rows = [delimiter.join(self.labels[i] for i in np.flatnonzero(row)) for row in on]
        return np.asarray(rows, dtype=object)
