"""Table files fetched over HTTP(S) into a local cache, checked against their sha256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plmkit.stages.fetch.base import Fetcher
from plmkit.stages.fetch.download import download
from plmkit.stages.fetch.read import TableOptions, read_table

DEFAULT_CACHE = Path.home() / ".cache" / "plmkit"


class RemoteFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return value

    def cache_name(self) -> str:
        """Cache key: a hash of the URL (so two URLs never collide) + the file's own name."""
        tag = hashlib.sha256(self.url.encode()).hexdigest()[:12]
        return f"{tag}-{self.url.rstrip('/').rsplit('/', 1)[-1].split('?')[0]}"


class UrlSplits(TableOptions):
    train: RemoteFile | None = None
    validation: RemoteFile | None = None
    test: RemoteFile | None = None
    cache_dir: Path = DEFAULT_CACHE
    timeout: float = Field(30, gt=0, description="seconds per request")
    retries: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _some_split(self) -> UrlSplits:
        if not self.remote_files():
            raise ValueError("name at least one split: train, validation or test")
        return self

    def remote_files(self) -> dict[str, RemoteFile]:
        named = {"train": self.train, "validation": self.validation, "test": self.test}
        return {k: v for k, v in named.items() if v is not None}


class UrlFetcher(Fetcher):
    """Download each split once into ``cache_dir``, verify its sha256, then read it."""

    Params = UrlSplits

    def fingerprint(self) -> str | None:
        return self.files_fingerprint(self.paths())  # downloads what is not in cache_dir yet

    def fetch(self) -> dict[str, pd.DataFrame]:
        return {
            split: read_table(path, self.params, self.columns_for(split))
            for split, path in self.paths().items()
        }

    def paths(self) -> dict[str, Path]:
        p = self.params
        return {
            split: download(
                remote.url,
                Path(p.cache_dir) / remote.cache_name(),
                sha256=remote.sha256,
                timeout=p.timeout,
                retries=p.retries,
            )
            for split, remote in p.remote_files().items()
        }
