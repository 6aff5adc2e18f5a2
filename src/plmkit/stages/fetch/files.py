"""Local table files, one per split."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import Field, model_validator

from plmkit.stages.fetch.base import Fetcher
from plmkit.stages.fetch.read import TableOptions, read_table


class FileSplits(TableOptions):
    train: Path | None = None
    validation: Path | None = None
    test: Path | None = None
    extra_splits: dict[str, Path] = Field(default_factory=dict, description="other named splits")

    @model_validator(mode="after")
    def _some_split(self) -> FileSplits:
        if not self.split_paths():
            raise ValueError("name at least one split file: train, validation or test")
        return self

    def split_paths(self) -> dict[str, Path]:
        named = {"train": self.train, "validation": self.validation, "test": self.test}
        return {k: v for k, v in {**named, **self.extra_splits}.items() if v is not None}


class FileFetcher(Fetcher):
    """Local CSV/TSV/JSONL/JSON/Parquet files (optionally .gz/.xz/.bz2), one per split."""

    Params = FileSplits

    def fingerprint(self) -> str | None:
        return self.files_fingerprint(self.params.split_paths())

    def fetch(self) -> dict[str, pd.DataFrame]:
        return {
            split: read_table(path, self.params, self.columns_for(split))
            for split, path in self.params.split_paths().items()
        }
