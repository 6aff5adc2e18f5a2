"""CoNLL-style token files: one token per line with its tag in the last column, a blank line
between sentences. Word-level (CoNLL-2003) and character-level (Korean NER) files alike."""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plmkit.errors import DataError
from plmkit.stages.fetch.base import Fetcher
from plmkit.stages.fetch.read import known_encoding

OPENERS = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}
DOCSTART = "-DOCSTART-"
LINE_COLUMN = "line"  # each sentence's first line in its file, for error messages


class ConllOptions(BaseModel):
    """How to read a CoNLL file."""

    model_config = ConfigDict(extra="forbid")

    encoding: str = Field("utf-8", description="e.g. utf-8, cp949, euc-kr")
    separator: str | None = Field(
        None,
        description="column separator; default: any run of whitespace. '\\t' keeps "
        "spaces inside tokens (a space character as a token in character-level files)",
    )
    token_column: int = Field(0, ge=0, description="the token's column; the tag is the last")
    comment_prefix: str | None = Field(
        None, description="lines starting with this are skipped (e.g. '## ' in KLUE NER)"
    )

    _known_encoding = field_validator("encoding")(known_encoding)

    @field_validator("separator", "comment_prefix")
    @classmethod
    def _not_empty(cls, value: str | None) -> str | None:
        if value == "":
            raise ValueError("must not be empty (null for the default)")
        return value


class ConllSplits(ConllOptions):
    train: Path | None = None
    validation: Path | None = None
    test: Path | None = None

    @model_validator(mode="after")
    def _some_split(self) -> ConllSplits:
        if not self.split_paths():
            raise ValueError("name at least one split file: train, validation or test")
        return self

    def split_paths(self) -> dict[str, Path]:
        named = {"train": self.train, "validation": self.validation, "test": self.test}
        return {k: v for k, v in named.items() if v is not None}


class ConllFetcher(Fetcher):
    """``data.source: conll``: one CoNLL file per split, as columns id, tokens, tags."""

    Params = ConllSplits

    def fingerprint(self) -> str | None:
        return self.files_fingerprint(self.params.split_paths())

    def fetch(self) -> dict[str, pd.DataFrame]:
        if "tokens" not in self.task_columns:
            raise DataError(
                "data.source conll yields token lists (tokens, tags): use it with a token task "
                "such as token_classification"
            )
        paths = self.params.split_paths()
        return {split: read_conll(path, self.params) for split, path in paths.items()}


def read_conll(path: str | Path, options: ConllOptions | None = None) -> pd.DataFrame:
    """One row per sentence: ``id`` (sentence number from 0), ``tokens``, ``tags`` and ``line``
    (the sentence's first line). ``attrs['line_column']`` lets errors name that line."""
    path = Path(path)
    options = options or ConllOptions()
    text = _read_text(path, options.encoding)
    rows, tokens, tags, first = [], [], [], 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            if tokens:
                rows.append((len(rows), tokens, tags, first))
                tokens, tags = [], []
            continue
        if options.comment_prefix and line.startswith(options.comment_prefix):
            continue
        fields = line.split(options.separator)
        if fields[0].strip() == DOCSTART:
            if tokens:
                rows.append((len(rows), tokens, tags, first))
                tokens, tags = [], []
            continue
        token, tag = _token_and_tag(fields, options.token_column, f"{path} line {number}")
        if not tokens:
            first = number
        tokens.append(token)
        tags.append(tag)
    if tokens:  # no blank line after the last sentence
        rows.append((len(rows), tokens, tags, first))
    if not rows:
        raise DataError(f"{path}: no sentences (a token and its tag per line expected)")
    df = pd.DataFrame(rows, columns=["id", "tokens", "tags", LINE_COLUMN])
    df.attrs = {"source": str(path), "line_offset": None, "line_column": LINE_COLUMN}
    return df


def _token_and_tag(fields: list[str], token_column: int, where: str) -> tuple[str, str]:
    if len(fields) < 2:
        raise DataError(f"{where}: a token without a tag (expected the tag in the last column)")
    if token_column >= len(fields) - 1:
        raise DataError(
            f"{where}: {len(fields)} columns, so data.token_column {token_column} is not a token "
            "column (the last column is the tag)"
        )
    tag = fields[-1].strip()
    if not tag:
        raise DataError(f"{where}: empty tag")
    return fields[token_column], tag


def _read_text(path: Path, encoding: str) -> str:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    opener = OPENERS.get(path.suffix.lower(), open)
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: not valid {encoding.removesuffix('-sig')} (line {line}, byte {exc.start}: "
            f"{exc.reason}); set data.encoding to the file's encoding, e.g. cp949 or euc-kr"
        ) from None
