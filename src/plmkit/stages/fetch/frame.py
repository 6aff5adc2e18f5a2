"""DataFrames already in memory (for use from Python)."""

from __future__ import annotations

import pandas as pd

from plmkit.errors import DataError
from plmkit.stages.fetch.base import Fetcher


class DataFrameFetcher(Fetcher):
    """``DataFrameFetcher({"train": df, "test": df2}, columns_map={"text": "review"})``."""

    def __init__(
        self,
        frames: dict[str, pd.DataFrame] | None = None,
        *,
        column_map: dict[str, str] | None = None,
        columns: dict[str, bool] | None = None,
    ):
        super().__init__(None, columns=columns)
        if not frames:
            raise DataError("DataFrameFetcher needs at least one split, e.g. {'train': df}")
        self.frames = frames
        self.column_map = column_map or {}

    def fetch(self) -> dict[str, pd.DataFrame]:
        out = {}
        for split, df in self.frames.items():
            rename = {self.column_map.get(c, c): c for c in self.task_columns}
            missing = [
                f"'{src}' (for {dst})"
                for src, dst in rename.items()
                if self.task_columns[dst] and src not in df.columns
            ]
            if missing:
                raise DataError(
                    f"dataframe '{split}': column {', '.join(missing)} not found; "
                    f"columns are: {', '.join(map(str, df.columns))}"
                )
            part = df[[c for c in rename if c in df.columns]].rename(columns=rename).copy()
            part.attrs = {"source": f"dataframe '{split}'", "line_offset": None}
            out[split] = part
        return out
