"""Check a split against a Pandera schema, reporting every failing row (lazy validation).

With ``on_invalid="error"`` the failures end the run in one DataError; with ``"drop"`` the
failing rows leave the split and come back as *rejected rows*, each with its reason, so the
pipeline can write them to the run directory. Nothing disappears without a record.
"""

from __future__ import annotations

import re
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
    ]
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
        "text": row.get("text") if "text" in df.columns else None,
    }


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


def _sortable(index):
    return (0, index, "") if isinstance(index, (int, float)) else (1, 0, str(index))
