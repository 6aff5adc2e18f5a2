"""The FetchData stage: a Fetcher returns one DataFrame per split, in the task's columns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel

SPLITS = ("train", "validation", "test")


class Fetcher(ABC):
    """Subclass, implement :meth:`fetch`, and name the class in ``data.source`` (dotted path) or
    register it with ``@registry.fetchers.register("name")``.

    ``Params`` (a Pydantic model) declares the fetcher's own config keys; they are validated
    with the rest of the config before anything is fetched.
    """

    Params: ClassVar[type[BaseModel] | None] = None

    def __init__(
        self,
        params: BaseModel | dict[str, Any] | None = None,
        *,
        columns: dict[str, bool] | None = None,
        targets: tuple[str, ...] = ("label",),
    ):
        if self.Params is not None and not isinstance(params, BaseModel):
            params = self.Params.model_validate(params or {})
        self.params = params
        # The task's columns and whether each is required ({"id": False, "text": True, ...}).
        self.task_columns = columns or {"id": False, "text": True, "label": False}
        self.targets = targets

    def columns_for(self, split: str) -> dict[str, bool]:
        """The columns to read for ``split``: targets are optional (an unlabelled test split is
        predicted, not scored) except in train, which cannot be learned from without them."""
        if split != "train":
            return self.task_columns
        return {c: required or c in self.targets for c, required in self.task_columns.items()}

    @abstractmethod
    def fetch(self) -> dict[str, pd.DataFrame]:
        """Return ``{split: DataFrame}`` with the task's column names."""

    def fingerprint(self) -> str | None:
        """A hash of everything :meth:`fetch` would return, cheaper than fetching: the key of
        the data cache. None (the default) means "unknown", and the data is never cached."""
        return None

    def files_fingerprint(self, paths: dict[str, Path]) -> str | None:
        """The fingerprint of a fetcher that reads ``paths``: their bytes and its params."""
        from plmkit.datacache import digest, file_digest

        if not all(Path(p).is_file() for p in paths.values()):
            return None  # fetch() reports the missing file
        params = self.params.model_dump(mode="json") if isinstance(self.params, BaseModel) else None
        files = {split: file_digest(Path(p)) for split, p in paths.items()}
        return digest({"fetcher": type(self).__qualname__, "params": params, "files": files})
