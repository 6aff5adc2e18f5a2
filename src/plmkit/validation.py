"""Check a split against a Pandera schema, reporting every failing row (lazy validation).

With ``on_invalid="error"`` the failures end the run in one DataError; with ``"drop"`` the
failing rows leave the split and come back as *rejected rows*, each with its reason, so the
pipeline can write them to the run directory. Nothing disappears without a record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

from plmkit.errors import DataError
from plmkit.stages.fetch.read import row_ref

if TYPE_CHECKING:
    import pandera.pandas as pa

MAX_LISTED = 20
REJECTED_COLUMNS = ["split", "stage", "where", "column", "reason", "value", "id", "text"]


def check(
    df: pd.DataFrame,
    schema: pa.DataFrameSchema,
    *,
    split: str,
    stage: str,
    on_invalid: str = "error",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(valid rows, rejected rows)``; raise DataError in ``error`` mode."""
    import pandera.pandas as pa

    try:
        schema.validate(df, lazy=True)
        return df, empty_rejected()
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    cases, explained = _split_row_checks(df, schema, cases)
    whole = cases[cases["index"].isna()]
    if len(whole):  # a missing column or wrong dtype of the whole frame: no row to drop
        first = whole.iloc[0]
        what = (
            "column" if first["check"] == "column_in_dataframe" else f"column '{first['column']}'"
        )
        value = first["failure_case"]
        raise DataError(
            f"{df.attrs.get('source', split)}: {what} {value!r}: "
            f"{_describe(first['check'], value)} ({stage}, split '{split}')"
        )
    failures = [
        (idx, str(col), _describe(check_name, value), value)
        for idx, col, check_name, value in cases[
            ["index", "column", "check", "failure_case"]
        ].itertuples(index=False)
    ] + explained
    failures.sort(key=lambda f: (_sortable(f[0]), f[1]))
    if on_invalid == "error":
        lines = [
            f"{row_ref(df, i)}: column '{c}': {why} (value {v!r})"
            for i, c, why, v in failures[:MAX_LISTED]
        ]
        more = len(failures) - MAX_LISTED
        if more > 0:
            lines.append(f"... and {more} more")
        rows = len({f[0] for f in failures})
        head = (
            f"{rows} invalid row(s) in split '{split}' ({stage}); fix the data or set "
            "data.on_invalid: drop to move them to rejected.csv"
        )
        raise DataError(head + ":\n  " + "\n  ".join(lines))
    bad = list(dict.fromkeys(f[0] for f in failures))
    rejected = pd.DataFrame(
        [rejected_row(df, i, split, stage, c, why, v) for i, c, why, v in failures],
        columns=REJECTED_COLUMNS,
    )
    return df.drop(index=bad), rejected


def rejected_row(
    df: pd.DataFrame, index, split: str, stage: str, column: str, reason: str, value
) -> dict:
    row = df.loc[index]
    return {
        "split": split,
        "stage": stage,
        "where": row_ref(df, index),
        "column": column,
        "reason": reason,
        "value": value,
        "id": row.get("id") if "id" in df.columns else None,
        "text": _shown_text(row),
    }


def _shown_text(row: pd.Series):
    """The row's text for a person reading rejected.csv (token lists joined by spaces)."""
    for col in ("text", "tokens"):
        value = row.get(col)
        if isinstance(value, (list, tuple)):
            return " ".join(map(str, value))
        if value is not None:
            return value
    return None


def row_check(name: str, column: str, reasons: Callable[[pd.DataFrame], pd.Series]) -> pa.Check:
    """A DataFrame-wide check that says what is wrong with each row: ``reasons(df)`` gives a
    reason string, or None, per row (it must cope with missing columns and odd values).
    :func:`check` reports each failing row once, under ``column``, with its reason; pandera
    alone would repeat the row for every column with a generic message."""
    import pandera.pandas as pa

    found = pa.Check(lambda frame: reasons(frame).isna(), name=name)
    found.row_reasons = (column, reasons)
    return found


def _split_row_checks(df: pd.DataFrame, schema: pa.DataFrameSchema, cases: pd.DataFrame):
    """Failure cases without those of :func:`row_check` checks, and those as explained
    ``(index, column, reason, value)`` failures."""
    checks = {c.name: c.row_reasons for c in schema.checks if hasattr(c, "row_reasons")}
    if not checks:
        return cases, []
    mine = cases["check"].isin(list(checks)) & cases["index"].notna()
    explained = []
    for name, (column, reasons) in checks.items():
        found = cases.loc[mine & (cases["check"] == name), "index"]
        rows = list(dict.fromkeys(_label(df, i) for i in found))
        if not rows:
            continue
        why = reasons(df.loc[rows])
        for i in rows:
            value = df.at[i, column] if column in df.columns else None
            explained.append((i, column, str(why[i]), value))
    return cases[~mine], explained


def empty_rejected() -> pd.DataFrame:
    return pd.DataFrame(columns=REJECTED_COLUMNS)


def _describe(check_name: str, value) -> str:
    check_name = str(check_name)
    if check_name == "not_nullable":
        return "missing value"
    if check_name == "field_uniqueness":
        return "duplicate value (must be unique)"
    if check_name == "column_in_dataframe":
        return "required column is missing"
    if check_name.startswith("isin("):
        allowed = check_name[len("isin(") : -1]
        return f"not in the label set {allowed}"
    if check_name.startswith("dtype("):
        wanted = re.sub(r"dtype\('?([^')]*)'?\)", r"\1", check_name)
        return f"wrong type (expected {wanted})"
    if check_name.startswith("in_range("):
        return f"out of range {check_name[len('in_range') :]}"
    return f"fails check {check_name}"


def _label(df: pd.DataFrame, index):
    """A failure case's index as the frame's label (pandera gives floats next to NaN)."""
    if isinstance(index, float) and index.is_integer() and pd.api.types.is_integer_dtype(df.index):
        return int(index)
    return index


def _sortable(index):
    return (0, index, "") if isinstance(index, (int, float)) else (1, 0, str(index))
