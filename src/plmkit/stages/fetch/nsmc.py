"""NSMC, the Naver Sentiment Movie Corpus (e9t/nsmc): from a local folder or its public URLs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from plmkit.errors import DataError
from plmkit.stages.fetch.base import Fetcher
from plmkit.stages.fetch.download import check_sha256, download
from plmkit.stages.fetch.read import TableOptions, read_table
from plmkit.stages.fetch.url import DEFAULT_CACHE

BASE_URL = "https://raw.githubusercontent.com/e9t/nsmc/master"
FILES = {
    "train": (
        "ratings_train.txt",
        "e03b7d14e9e41be8d464a28057cd25d7396c53e67aa7fd5f7e552c59b0ee2940",
    ),
    "test": (
        "ratings_test.txt",
        "8ac9f64052f11dbf6ae0acb5e038f03d90a76f0eda7820cfb3a92d02edfcebda",
    ),
}
# Literal double quotes in 623 training documents, and 8 empty documents that are not NaN.
READ_OPTIONS = TableOptions(format="tsv", quoting="none", columns={"text": "document"})


class NsmcParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dir: Path | None = Field(
        None,
        description="local folder with ratings_{train,test}.txt (or .gz/.xz); "
        "default: download from base_url into cache_dir",
    )
    base_url: str = BASE_URL
    cache_dir: Path = DEFAULT_CACHE / "nsmc"
    verify: bool = Field(True, description="check each file's published sha256")
    timeout: float = Field(60, gt=0)
    retries: int = Field(3, ge=1)


class NsmcFetcher(Fetcher):
    """NSMC train/test splits. It has no validation split: preprocessing holds one out of train."""

    Params = NsmcParams

    def fetch(self) -> dict[str, pd.DataFrame]:
        return {
            split: read_table(self.path(split), READ_OPTIONS, self.columns_for(split))
            for split in FILES
        }

    def fingerprint(self) -> str | None:
        try:
            paths = {split: self.path(split, verify=False) for split in FILES}
        except DataError:
            return None  # fetch() says what is missing
        return self.files_fingerprint(paths)

    def path(self, split: str, verify: bool = True) -> Path:
        name, sha = FILES[split]
        p = self.params
        expected = sha if p.verify and verify else None
        if p.dir is None:
            url = f"{p.base_url.rstrip('/')}/{name}"
            return download(
                url, Path(p.cache_dir) / name, sha256=expected, timeout=p.timeout, retries=p.retries
            )
        for candidate in (name, f"{name}.gz", f"{name}.xz"):
            path = Path(p.dir) / candidate
            if path.is_file():
                check_sha256(path, expected, what=str(path), uncompressed=True)
                return path
        raise DataError(f"{p.dir}: no {name} (or {name}.gz/.xz) in data.dir")
