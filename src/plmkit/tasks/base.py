"""The TaskAdapter: everything task-specific, so that no stage branches on the task.

An adapter owns its input columns and Pandera schemas, how labels are encoded, how rows become
model inputs, which ``AutoModelFor...`` head it needs, the loss, the metrics, and how raw model
outputs become readable predictions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

if TYPE_CHECKING:  # kept out of import time: checking a config must not wait for torch
    import numpy as np
    import pandas as pd
    import pandera.pandas as pa
    import torch


class Metrics(ABC):
    """Accumulates per batch, so evaluation memory does not grow with the data."""

    @abstractmethod
    def update(self, outputs: torch.Tensor, labels: torch.Tensor) -> None: ...

    @abstractmethod
    def compute(self) -> dict[str, Any]: ...


class TaskAdapter(ABC):
    name: ClassVar[str]
    # The task's DataFrame columns and whether each must be present in the input.
    columns: ClassVar[dict[str, bool]]
    # Columns that preprocessing steps rewrite, and the column a hold-out split stratifies by.
    text_columns: ClassVar[tuple[str, ...]] = ("text",)
    stratify_by: ClassVar[str | None] = "label"
    # The columns holding what the model learns to predict; a split without them is predicted,
    # not scored.
    target_columns: ClassVar[tuple[str, ...]] = ("label",)
    # Metric names usable as training.best_metric, mapped to "higher is better".
    metrics: ClassVar[dict[str, bool]]
    # The adapter's own options (config section ``task_options``), a Pydantic model.
    Params: ClassVar[type[BaseModel] | None] = None
    # Whether tokenised splits may be reused from the data cache: only if everything the
    # adapter needs later comes from :meth:`state` and the tokenised rows themselves.
    cacheable: ClassVar[bool] = True

    def __init__(
        self, params: BaseModel | dict[str, Any] | None = None, *, labels: list[str] | None = None
    ):
        if self.Params is None:
            params = None  # unknown task_options were already reported by the config check
        elif not isinstance(params, BaseModel):
            params = self.Params.model_validate(params or {})
        self.params = params
        self.labels = list(labels) if labels else None

    @classmethod
    def metric_names(cls) -> list[str]:
        return list(cls.metrics)

    @classmethod
    def default_metric(cls) -> str:
        """The metric that picks the best epoch unless training.best_metric says otherwise."""
        return next(iter(cls.metrics))

    @classmethod
    def greater_is_better(cls, metric: str) -> bool:
        return cls.metrics[metric]

    # --- data ---------------------------------------------------------------------------
    @classmethod
    def has_targets(cls, df: pd.DataFrame) -> bool:
        return all(c in df.columns for c in cls.target_columns)

    def prepare(self, df: pd.DataFrame) -> pd.DataFrame:
        """Normalise a split as fetched, before validation (e.g. labels to one type)."""
        return df

    @abstractmethod
    def fit(self, train: pd.DataFrame) -> None:
        """Learn what the data defines (e.g. the label set) from the raw train split."""

    @abstractmethod
    def raw_schema(self, has_labels: bool) -> pa.DataFrameSchema:
        """Schema of a split as fetched (after :meth:`fit`)."""

    @abstractmethod
    def encode_targets(self, df: pd.DataFrame) -> pd.DataFrame:
        """Turn valid raw targets into model targets (e.g. label names -> ids)."""

    @abstractmethod
    def processed_schema(self, has_labels: bool) -> pa.DataFrameSchema:
        """Schema of a split ready for tokenisation."""

    def tokenizer_texts(self, df: pd.DataFrame) -> list[str]:
        """The texts a tokenizer trained from scratch (model.from_scratch) learns from."""
        return [t for col in self.text_columns if col in df.columns for t in df[col].astype(str)]

    def tokenize(self, df: pd.DataFrame, tokenizer: Any, max_length: int) -> dict[str, Sequence]:
        """Model inputs per row, unpadded (padding happens per batch in the collator)."""
        encoded = tokenizer(
            df["text"].tolist(),
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return {"input_ids": encoded["input_ids"]}

    def targets(self, df: pd.DataFrame) -> np.ndarray | None:
        """One target per row for the collator (None for unlabelled rows)."""
        return df["label"].to_numpy() if "label" in df.columns else None

    # --- model --------------------------------------------------------------------------
    @abstractmethod
    def model_class(self) -> Any:
        """The ``transformers`` auto class for this task's head."""

    @abstractmethod
    def model_kwargs(self) -> dict[str, Any]:
        """Config entries for the head (num_labels, id2label, problem_type, ...)."""

    def model_inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What the model is called with; by default the batch, ``labels`` included, so the
        head computes its own loss. Drop ``labels`` here when :meth:`loss` computes it."""
        return batch

    def loss(self, outputs: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return outputs.loss

    @abstractmethod
    def new_metrics(self) -> Metrics: ...

    @abstractmethod
    def decode(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """Readable outputs per row, e.g. predicted label id and its probability."""

    def readable(self, decoded: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Decoded outputs as a person reads them (e.g. label ids -> label names)."""
        return decoded

    def readable_targets(self, targets: np.ndarray) -> np.ndarray:
        return targets

    def state(self) -> dict[str, Any]:
        """What a saved run needs to rebuild this adapter (see :meth:`from_state`): its options
        and what :meth:`fit` learned. Extend both when ``fit`` learns more than labels."""
        params = self.params.model_dump(mode="json") if self.params is not None else None
        return {"labels": self.labels, "params": params}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TaskAdapter:
        return cls(state.get("params"), labels=state.get("labels"))

    def load_state(self, state: dict[str, Any]) -> None:
        """Become the adapter :meth:`from_state` builds (in place: the stages hold this one)."""
        self.__dict__.update(type(self).from_state(state).__dict__)
