"""Read one table file (CSV/TSV/JSONL/JSON/Parquet, optionally compressed) into a DataFrame."""

from __future__ import annotations

import codecs
import csv
import logging
import lzma
import warnings
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pandas.io.common import get_handle
from pydantic import BaseModel, ConfigDict, Field, field_validator

from plmkit.errors import DataError

log = logging.getLogger(__name__)

Format = Literal["auto", "csv", "tsv", "jsonl", "json", "parquet"]
COMPRESSIONS = {".gz", ".xz", ".bz2", ".zst", ".zip"}
SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
}


def known_encoding(cls, value: str) -> str:
    """Pydantic validator shared by the readers' options: the codec must exist."""
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding '{value}'") from None
    return value


class TableOptions(BaseModel):
    """How to read a table file and map its columns onto the task's columns."""

    model_config = ConfigDict(extra="forbid")

    format: Format = "auto"
    encoding: str = Field("utf-8", description="e.g. utf-8, cp949, euc-kr")
    delimiter: str | None = Field(None, description="default: tab for tsv/txt, comma for csv")
    quoting: Literal["minimal", "none"] = Field(
        "minimal", description="'none' reads quote characters literally (NSMC needs this)"
    )
    columns: dict[str, str] = Field(
        default_factory=dict, description="task column -> column in the file, e.g. {text: document}"
    )

    _known_encoding = field_validator("encoding")(known_encoding)


def detect_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    fmt = SUFFIX_FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise DataError(f"{path}: cannot tell the format from the file name; set data.format")
    return fmt


def read_table(
    path: str | Path, options: TableOptions, task_columns: dict[str, bool]
) -> pd.DataFrame:
    """Read ``path`` and return the task's columns (``{name: required}``), found through
    ``options.columns`` and renamed to the task's names. A column that is optional and not
    mapped explicitly (e.g. ``id``, or ``label`` in an unlabelled test file) may be absent.
    Text columns stay strings: nothing is parsed as NaN.

    ``df.attrs['source']`` names the file and ``df.attrs['line_offset']`` turns an index into
    a line number of the file (None for binary formats), so errors can point at lines.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    fmt = detect_format(path) if options.format == "auto" else options.format
    encoding = "utf-8-sig" if codecs.lookup(options.encoding).name == "utf-8" else options.encoding
    try:
        df, line_offset = _read(path, fmt, options, encoding)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not valid {options.encoding} (byte {exc.start}: {exc.reason}); "
            "set data.encoding to the file's encoding, e.g. cp949 or euc-kr"
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty") from None
    except pd.errors.ParserWarning:  # pandas would take the extra field for an index column
        raise DataError(
            f"{path}: cannot parse as {fmt}: the first data line has more fields than the header"
        ) from None
    except (pd.errors.ParserError, ValueError, TypeError) as exc:  # TypeError: '[{...}, 2]'
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot parse as {fmt}: {detail}") from None
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, ImportError) as exc:
        # a corrupt .xz/.zip, or a .zst without the zstandard package
        raise DataError(f"{path}: cannot read: {exc}") from None
    if len(df) == 0:
        raise DataError(f"{path}: no data rows (header only?)")
    nested = [c for c in options.columns.values() if "." in c and c not in df.columns]
    if nested and fmt in ("json", "jsonl"):
        # Nested records ({"premise": {"text": ...}}) are flattened to dotted column names.
        df = pd.json_normalize(df.to_dict("records"))
    wanted = {}
    for task_col, required in task_columns.items():
        file_col = options.columns.get(task_col, task_col)
        if required or file_col in df.columns:
            wanted[task_col] = file_col
        elif task_col in options.columns:  # e.g. a test file without labels: predicted only
            log.warning("%s: no column '%s' (for %s) in this file", path, file_col, task_col)
    missing = [f"'{col}' (for {task})" for task, col in wanted.items() if col not in df.columns]
    if missing:
        found = ", ".join(map(str, df.columns))
        one_column = len(df.columns) == 1 and fmt in ("csv", "tsv")
        hint = " (wrong delimiter? set data.delimiter)" if one_column else ""
        raise DataError(
            f"{path}: column {' and '.join(missing)} not found; columns are: {found}{hint}"
        )
    out = df[list(wanted.values())].copy()
    out.columns = list(wanted.keys())
    out.attrs = {"source": str(path), "line_offset": line_offset}
    return out


def _read(path: Path, fmt: str, options: TableOptions, encoding: str):
    if fmt in ("csv", "tsv"):
        sep = options.delimiter or ("\t" if fmt == "tsv" else ",")
        quoting = csv.QUOTE_NONE if options.quoting == "none" else csv.QUOTE_MINIMAL
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(
                path,
                sep=sep,
                encoding=encoding,
                quoting=quoting,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                engine="c",
                compression="infer",
                index_col=False,
            )
        _check_short_rows(path, fmt, sep, quoting, encoding, len(df.columns))
        return df, 2
    # convert_axes=False: keys stay strings ({"1": ...} is column '1', as in a CSV header)
    if fmt in ("jsonl", "json"):
        lines = fmt == "jsonl"
        df = pd.read_json(path, lines=lines, dtype=False, convert_axes=False, encoding=encoding)
        return df, (1 if lines else None)
    if fmt == "parquet":
        try:
            return pd.read_parquet(path), None
        except ImportError:
            raise DataError(
                f"{path}: reading parquet needs pyarrow (pip install pyarrow)"
            ) from None
    raise DataError(f"{path}: unsupported format '{fmt}'")


def _check_short_rows(
    path: Path, fmt: str, sep: str, quoting: int, encoding: str, width: int
) -> None:
    """pandas pads a row with too few fields with empty strings (``na_filter=False``), so a
    row that lost its label would pass for one with an empty label. Count each record's fields
    (a second, cheap pass with the csv module; blank lines are skipped, as pandas does)."""
    if len(sep) != 1:
        return
    with get_handle(path, "r", encoding=encoding, compression="infer") as handles:
        reader = csv.reader(handles.handle, delimiter=sep, quoting=quoting)
        header = False
        try:
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if header and len(row) < width:
                    raise DataError(
                        f"{path}: cannot parse as {fmt}: line {reader.line_num} has "
                        f"{len(row)} field(s), the header {width} (a missing field?)"
                    )
                header = True
        except csv.Error:  # e.g. a field over csv.field_size_limit: pandas read it, let it be
            return


def row_ref(df: pd.DataFrame, index: object) -> str:
    """Human pointer to one row: ``file line N`` for text files, ``source row N`` otherwise.
    A row spanning several lines (a CoNLL sentence) names its first line, read from the column
    that ``df.attrs['line_column']`` names."""
    source = df.attrs.get("source", "data")
    line_column = df.attrs.get("line_column")
    if line_column in df.columns and index in df.index:
        return f"{source} line {int(df.at[index, line_column])}"
    offset = df.attrs.get("line_offset")
    if offset is not None and isinstance(index, (int, np.integer)):
        return f"{source} line {int(index) + offset}"
    return f"{source} row {index}"
