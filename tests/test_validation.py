"""validation.check with the TextClassification schemas, and the task's label handling."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import make_rows, write_tsv

from plmkit.errors import DataError
from plmkit.stages.fetch.read import TableOptions, read_table
from plmkit.tasks.classification import TextClassification
from plmkit.validation import REJECTED_COLUMNS, check, empty_rejected

COLUMNS = {"id": False, "text": True, "label": False}


# The label set as the message shows it (pandera's name of the isin check)
LABEL_SET = str(TextClassification(labels=["0", "1"])._accepted())


def frame(rows, source="train.tsv", offset=2) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["id", "text", "label"])
    df.attrs = {"source": source, "line_offset": offset}
    return df


def fitted(df: pd.DataFrame) -> TextClassification:
    task = TextClassification()
    task.fit(df)
    return task


GOOD = [("1", "좋다", "1"), ("2", "싫다", "0"), ("3", "보통", "1"), ("4", "최악", "0")]


@pytest.fixture
def bad_file(tmp_path):
    """A TSV with a label outside the set (line 4), a duplicate id (lines 2 and 6)."""
    rows = [(1, "좋다", 1), (2, "싫다", 0), (3, "이상", 7), (4, "보통", 1), (1, "또", 0)]
    path = write_tsv(tmp_path / "train.tsv", rows)
    return read_table(path, TableOptions(quoting="none", columns={"text": "document"}), COLUMNS)


# --- valid data ---------------------------------------------------------------------------


def test_valid_frame_passes_unchanged():
    df = frame(GOOD)
    task = fitted(df)
    kept, rejected = check(df, task.raw_schema(True), split="train", stage="fetched")
    assert kept is df
    assert list(rejected.columns) == REJECTED_COLUMNS
    assert len(rejected) == 0


def test_empty_rejected_columns():
    assert list(empty_rejected().columns) == [
        "split",
        "stage",
        "where",
        "column",
        "reason",
        "value",
        "id",
        "text",
    ]


# --- error mode ---------------------------------------------------------------------------


def test_error_mode_lists_every_failure(bad_file):
    df = bad_file.copy()
    df.attrs = dict(bad_file.attrs)
    df.loc[3, "text"] = None  # line 5
    task = TextClassification(labels=["0", "1"])
    task.fit(df)
    with pytest.raises(DataError) as info:
        check(df, task.raw_schema(True), split="train", stage="fetched")
    msg = str(info.value)
    source = bad_file.attrs["source"]
    assert msg.startswith("4 invalid row(s) in split 'train' (fetched)")
    assert "on_invalid: drop" in msg
    lines = msg.splitlines()[1:]
    assert [line.strip() for line in lines] == [
        f"{source} line 2: column 'id': duplicate value (must be unique) (value '1')",
        f"{source} line 4: column 'label': not in the label set {LABEL_SET} (value '7')",
        f"{source} line 5: column 'text': missing value (value nan)",
        f"{source} line 6: column 'id': duplicate value (must be unique) (value '1')",
    ]


def test_error_mode_on_fitted_labels_and_null_text():
    train = frame(GOOD)
    task = fitted(train)
    test = frame([("10", "a", "1"), ("11", None, "0"), ("12", "c", "2"), ("10", "d", "0")])
    with pytest.raises(DataError) as info:
        check(test, task.raw_schema(True), split="test", stage="fetched")
    msg = str(info.value)
    assert "4 invalid row(s) in split 'test'" in msg
    assert "train.tsv line 2: column 'id'" in msg
    assert "train.tsv line 3: column 'text': missing value" in msg
    assert f"train.tsv line 4: column 'label': not in the label set {LABEL_SET} (value '2')" in msg
    assert "train.tsv line 5: column 'id'" in msg


def test_error_mode_without_labels_ignores_label_column():
    task = fitted(frame(GOOD))
    df = frame([("1", "a", "9"), ("2", "b", "")])
    kept, rejected = check(df, task.raw_schema(False), split="test", stage="fetched")
    assert kept is df and len(rejected) == 0


def test_error_mode_sorts_numerically_and_truncates():
    task = fitted(frame(GOOD))
    rows = [(str(i), f"t{i}", "5" if i % 2 else "1") for i in range(60)]
    df = frame(rows)
    with pytest.raises(DataError) as info:
        check(df, task.raw_schema(True), split="train", stage="fetched")
    msg = str(info.value)
    assert msg.startswith("30 invalid row(s)")
    listed = [line.strip() for line in msg.splitlines()[1:]]
    assert len(listed) == 21
    assert listed[-1] == "... and 10 more"
    # rows 1, 3, ..., 39 are listed in line order (line = index + 2)
    expected = [f"train.tsv line {i + 2}: column 'label'" for i in range(1, 40, 2)]
    assert [line.split(": not in")[0] for line in listed[:20]] == expected


def test_exactly_twenty_failures_has_no_more_line():
    task = fitted(frame(GOOD))
    df = frame([(str(i), "t", "x") for i in range(20)])
    with pytest.raises(DataError) as info:
        check(df, task.raw_schema(True), split="train", stage="fetched")
    assert "more" not in str(info.value).split("rejected.csv")[1]
    assert len(str(info.value).splitlines()) == 21


def test_missing_text_column():
    task = fitted(frame(GOOD))
    df = pd.DataFrame({"id": ["1"], "document": ["a"], "label": ["1"]})
    df.attrs = {"source": "data/train.tsv", "line_offset": 2}
    for mode in ("error", "drop"):
        with pytest.raises(DataError) as info:
            check(df, task.raw_schema(True), split="train", stage="fetched", on_invalid=mode)
        msg = str(info.value)
        assert msg.startswith("data/train.tsv: column 'text'")
        assert "required column is missing" in msg
        assert "split 'train'" in msg


def test_missing_label_column_when_expected():
    task = fitted(frame(GOOD))
    df = pd.DataFrame({"text": ["a"]})
    with pytest.raises(DataError, match="column 'label': required column is missing"):
        check(df, task.raw_schema(True), split="validation", stage="fetched")


def test_wrong_dtype_of_whole_text_column():
    task = fitted(frame(GOOD))
    df = pd.DataFrame({"id": ["1", "2"], "text": [1.5, 2.5], "label": ["0", "1"]})
    with pytest.raises(DataError, match="column 'text'.*wrong type"):
        check(df, task.raw_schema(True), split="train", stage="fetched", on_invalid="drop")


# --- drop mode ----------------------------------------------------------------------------


def test_drop_mode_returns_kept_and_rejected(bad_file):
    df = bad_file.copy()
    df.attrs = dict(bad_file.attrs)
    df.loc[3, "text"] = None
    task = TextClassification(labels=["0", "1"])
    task.fit(df)
    kept, rejected = check(
        df, task.raw_schema(True), split="train", stage="fetched", on_invalid="drop"
    )
    source = bad_file.attrs["source"]
    assert kept.index.tolist() == [1]
    assert kept.loc[1, "text"] == "싫다"
    assert list(rejected.columns) == REJECTED_COLUMNS
    assert len(rejected) == 4
    assert set(rejected["split"]) == {"train"} and set(rejected["stage"]) == {"fetched"}
    assert pd.isna(rejected.loc[2, "text"])
    records = rejected[["where", "column", "id", "text"]].fillna("-").to_dict("records")
    assert records == [
        {"where": f"{source} line 2", "column": "id", "id": "1", "text": "좋다"},
        {"where": f"{source} line 4", "column": "label", "id": "3", "text": "이상"},
        {"where": f"{source} line 5", "column": "text", "id": "4", "text": "-"},
        {"where": f"{source} line 6", "column": "id", "id": "1", "text": "또"},
    ]
    assert rejected["reason"].tolist() == [
        "duplicate value (must be unique)",
        f"not in the label set {LABEL_SET}",
        "missing value",
        "duplicate value (must be unique)",
    ]
    assert rejected["value"].tolist()[:2] == ["1", "7"]


def test_drop_mode_one_rejected_row_per_failure():
    task = fitted(frame(GOOD))
    df = frame([("1", None, "9"), ("2", "ok", "1")])
    kept, rejected = check(
        df, task.raw_schema(True), split="train", stage="fetched", on_invalid="drop"
    )
    assert kept["id"].tolist() == ["2"]
    assert sorted(rejected["column"]) == ["label", "text"]
    assert set(rejected["where"]) == {"train.tsv line 2"}


def test_drop_mode_without_id_column_and_without_line_numbers():
    task = fitted(frame(GOOD))
    df = pd.DataFrame({"text": ["a", "b", "c"], "label": ["1", "x", "0"]}, index=[10, 20, 30])
    df.attrs = {"source": "dataframe 'train'", "line_offset": None}
    kept, rejected = check(
        df, task.raw_schema(True), split="train", stage="fetched", on_invalid="drop"
    )
    assert kept.index.tolist() == [10, 30]
    assert rejected.to_dict("records") == [
        {
            "split": "train",
            "stage": "fetched",
            "where": "dataframe 'train' row 20",
            "column": "label",
            "reason": f"not in the label set {LABEL_SET}",
            "value": "x",
            "id": None,
            "text": "b",
        }
    ]


def test_processed_schema_range_check():
    task = fitted(frame(GOOD))
    df = pd.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"], "label": [0, 1, 2]})
    kept, rejected = check(
        df, task.processed_schema(True), split="train", stage="preprocessed", on_invalid="drop"
    )
    assert kept["id"].tolist() == ["a", "b"]
    assert rejected["reason"].tolist() == ["out of range (0, 1)"]
    assert rejected["stage"].tolist() == ["preprocessed"]


# --- TextClassification labels ------------------------------------------------------------


def test_fit_sorts_int_like_labels_numerically():
    task = fitted(frame([("1", "a", "10"), ("2", "b", "2"), ("3", "c", "10"), ("4", "d", "-1")]))
    assert task.labels == ["-1", "2", "10"]


def test_fit_sorts_string_labels():
    task = fitted(frame([("1", "a", "pos"), ("2", "b", "neg"), ("3", "c", "neutral")]))
    assert task.labels == ["neg", "neutral", "pos"]


def test_fit_mixed_labels_sorted_as_strings():
    task = fitted(frame([("1", "a", "10"), ("2", "b", "2"), ("3", "c", "x")]))
    assert task.labels == ["10", "2", "x"]


def test_fit_ignores_null_labels():
    task = fitted(frame([("1", "a", "1"), ("2", "b", None), ("3", "c", "0")]))
    assert task.labels == ["0", "1"]


def test_fit_one_class_is_an_error():
    df = frame([("1", "a", "1"), ("2", "b", "1")], source="data/train.tsv")
    with pytest.raises(DataError) as info:
        TextClassification().fit(df)
    msg = str(info.value)
    assert "data/train.tsv" in msg
    assert "1 distinct value(s)" in msg
    assert "at least 2" in msg


def test_fit_without_label_column():
    df = pd.DataFrame({"text": ["a"]})
    df.attrs = {"source": "t.tsv"}
    with pytest.raises(DataError, match="t.tsv: the train split has no label column"):
        TextClassification().fit(df)


def test_configured_labels_accept_names_and_ids():
    task = TextClassification(labels=["neg", "pos"])
    df = frame([("1", "a", "neg"), ("2", "b", "pos"), ("3", "c", "0"), ("4", "d", "1")])
    task.fit(df)
    assert task.labels == ["neg", "pos"]
    kept, rejected = check(df, task.raw_schema(True), split="train", stage="fetched")
    assert len(kept) == 4 and len(rejected) == 0
    encoded = task.encode_targets(kept)
    assert encoded["label"].tolist() == [0, 1, 0, 1]
    assert str(encoded["label"].dtype) == "int64"
    assert df["label"].tolist() == ["neg", "pos", "0", "1"]  # not changed in place


def test_configured_labels_reject_others():
    task = TextClassification(labels=["neg", "pos"])
    df = frame([("1", "a", "neg"), ("2", "b", "2"), ("3", "c", "positive")])
    task.fit(df)
    kept, rejected = check(
        df, task.raw_schema(True), split="train", stage="fetched", on_invalid="drop"
    )
    assert kept["id"].tolist() == ["1"]
    assert rejected["value"].tolist() == ["2", "positive"]


def test_encode_targets_names_win_over_ids():
    task = TextClassification(labels=["1", "0"])
    df = frame([("1", "a", "1"), ("2", "b", "0")])
    assert task.encode_targets(df)["label"].tolist() == [0, 1]


def test_encode_targets_fitted_int_like_labels():
    df = frame([("1", "a", "10"), ("2", "b", "2"), ("3", "c", "2")])
    task = fitted(df)
    assert task.encode_targets(df)["label"].tolist() == [1, 0, 0]


def test_encode_targets_without_label_column():
    task = TextClassification(labels=["neg", "pos"])
    df = pd.DataFrame({"text": ["a"]})
    assert task.encode_targets(df) is df


def test_fitted_task_validates_a_real_file(tmp_path):
    path = write_tsv(tmp_path / "train.tsv", make_rows(40, seed=5))
    df = read_table(path, TableOptions(quoting="none", columns={"text": "document"}), COLUMNS)
    task = fitted(df)
    assert task.labels == ["0", "1"]
    kept, rejected = check(df, task.raw_schema(True), split="train", stage="fetched")
    assert len(kept) == 40 and len(rejected) == 0
    assert task.encode_targets(kept)["label"].tolist() == [i % 2 for i in range(40)]
