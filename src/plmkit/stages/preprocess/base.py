"""The Preprocessing stage: a Preprocessor turns fetched splits into clean splits.

The default one runs a list of small, configurable :class:`Step` objects and then holds a
validation split out of train when the data has none.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel

from plmkit.validation import empty_rejected


@dataclass
class Preprocessed:
    splits: dict[str, pd.DataFrame]
    rejected: pd.DataFrame = field(default_factory=empty_rejected)


class Preprocessor(ABC):
    @abstractmethod
    def run(self, splits: dict[str, pd.DataFrame]) -> Preprocessed:
        """Clean every split; return them with the rows taken out and why."""


class Step(ABC):
    """One preprocessing step. ``Params`` (a Pydantic model) declares its config keys."""

    Params: ClassVar[type[BaseModel] | None] = None

    def __init__(self, params: BaseModel | dict[str, Any] | None = None):
        if self.Params is not None and not isinstance(params, BaseModel):
            params = self.Params.model_validate(params or {})
        self.params = params

    @abstractmethod
    def apply(
        self, df: pd.DataFrame, split: str, text_columns: tuple[str, ...]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Return the new split and the rows removed from it (as rejected rows)."""
