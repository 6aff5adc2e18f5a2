"""read_table / TableOptions: formats, compression, encodings, quoting, errors, line numbers."""

from __future__ import annotations

import gzip
import json
import lzma
from pathlib import Path

import pydantic
import pytest
from conftest import make_rows, write_tsv

from plmkit.errors import DataError
from plmkit.stages.fetch.read import TableOptions, detect_format, read_table, row_ref

COLUMNS = {"id": False, "text": True, "label": False}
DOC = TableOptions(columns={"text": "document"})
NSMC_LIKE = TableOptions(quoting="none", columns={"text": "document"})

ROWS = [(1, "재밌다 최고", 1), (2, "지루하다", 0), (3, "배우 연기 좋았다", 1)]
EXPECTED = [
    {"id": "1", "text": "재밌다 최고", "label": "1"},
    {"id": "2", "text": "지루하다", "label": "0"},
    {"id": "3", "text": "배우 연기 좋았다", "label": "1"},
]


def tsv_text(rows=ROWS, header=("id", "document", "label")) -> str:
    return "\n".join(["\t".join(header)] + ["\t".join(map(str, r)) for r in rows]) + "\n"


def records(df) -> list[dict]:
    return df.to_dict("records")


# --- formats ------------------------------------------------------------------------------


def test_tsv(tmp_path):
    df = read_table(write_tsv(tmp_path / "a.tsv", ROWS), DOC, COLUMNS)
    assert list(df.columns) == ["id", "text", "label"]
    assert records(df) == EXPECTED


def test_csv_with_quoted_commas(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(
        'id,review,label\n1,"좋다, 정말 좋다",1\n2,"별로, ""최악""이다",0\n3,plain,1\n',
        encoding="utf-8",
    )
    df = read_table(path, TableOptions(columns={"text": "review"}), COLUMNS)
    assert df["text"].tolist() == ["좋다, 정말 좋다", '별로, "최악"이다', "plain"]
    assert df["label"].tolist() == ["1", "0", "1"]
    assert df["id"].tolist() == ["1", "2", "3"]


def test_jsonl(tmp_path):
    path = tmp_path / "a.jsonl"
    lines = [
        json.dumps({"id": i, "document": t, "label": y}, ensure_ascii=False) for i, t, y in ROWS
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    df = read_table(path, DOC, COLUMNS)
    assert df["text"].tolist() == [r[1] for r in ROWS]
    assert [int(v) for v in df["label"]] == [1, 0, 1]
    assert df.attrs["line_offset"] == 1
    assert row_ref(df, 2) == f"{path} line 3"


def test_json_list_of_records(tmp_path):
    path = tmp_path / "a.json"
    data = [{"id": i, "document": t, "label": y} for i, t, y in ROWS]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    df = read_table(path, DOC, COLUMNS)
    assert df["text"].tolist() == [r[1] for r in ROWS]
    assert [int(v) for v in df["id"]] == [1, 2, 3]
    assert df.attrs["line_offset"] is None
    assert row_ref(df, 1) == f"{path} row 1"


def test_json_keeps_na_like_strings(tmp_path):
    path = tmp_path / "a.json"
    data = [{"document": "NA", "label": 1}, {"document": "", "label": 0}]
    path.write_text(json.dumps(data), encoding="utf-8")
    df = read_table(path, DOC, COLUMNS)
    assert df["text"].tolist() == ["NA", ""]


def test_gzip_tsv(tmp_path):
    path = tmp_path / "a.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(tsv_text())
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    df = read_table(path, DOC, COLUMNS)
    assert records(df) == EXPECTED


def test_xz_tsv(tmp_path):
    path = tmp_path / "a.tsv.xz"
    with lzma.open(path, "wt", encoding="utf-8") as f:
        f.write(tsv_text())
    df = read_table(path, DOC, COLUMNS)
    assert records(df) == EXPECTED


def test_gzip_csv_detected_from_suffix(tmp_path):
    path = tmp_path / "a.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write('id,document,label\n1,"a, b",1\n2,c,0\n')
    df = read_table(path, DOC, COLUMNS)
    assert df["text"].tolist() == ["a, b", "c"]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("x.tsv", "tsv"),
        ("x.txt", "tsv"),
        ("x.CSV", "csv"),
        ("x.tsv.gz", "tsv"),
        ("ratings_train.txt.gz", "tsv"),
        ("x.csv.xz", "csv"),
        ("x.jsonl.bz2", "jsonl"),
        ("x.ndjson", "jsonl"),
        ("x.json", "json"),
        ("v1.2.parquet", "parquet"),
    ],
)
def test_detect_format(name, fmt):
    assert detect_format(Path(name)) == fmt


@pytest.mark.parametrize("name", ["data", "data.gz", "x.xlsx"])
def test_detect_format_unknown(name):
    with pytest.raises(DataError, match="cannot tell the format"):
        detect_format(Path(name))


def test_explicit_format_overrides_suffix(tmp_path):
    path = tmp_path / "data.dat"
    path.write_text("id,document,label\n1,a,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="format"):
        read_table(path, DOC, COLUMNS)
    df = read_table(path, TableOptions(format="csv", columns={"text": "document"}), COLUMNS)
    assert records(df) == [{"id": "1", "text": "a", "label": "1"}]


def test_custom_delimiter(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("id|document|label\n1|a, b\tc|1\n", encoding="utf-8")
    options = TableOptions(delimiter="|", columns={"text": "document"})
    assert read_table(path, options, COLUMNS)["text"].tolist() == ["a, b\tc"]


# --- columns ------------------------------------------------------------------------------


def test_column_mapping_renames_and_drops_others(tmp_path):
    path = write_tsv(
        tmp_path / "a.tsv", [(1, "x", "좋다", 1)], header=("id", "extra", "document", "label")
    )
    df = read_table(path, DOC, COLUMNS)
    assert list(df.columns) == ["id", "text", "label"]
    assert records(df) == [{"id": "1", "text": "좋다", "label": "1"}]


def test_optional_columns_absent_are_left_out(tmp_path):
    path = write_tsv(tmp_path / "a.tsv", [("좋다",), ("싫다",)], header=("document",))
    df = read_table(path, DOC, COLUMNS)
    assert list(df.columns) == ["text"]
    assert df["text"].tolist() == ["좋다", "싫다"]


def test_required_column_missing(tmp_path):
    path = write_tsv(tmp_path / "a.tsv", [(1, "a", 1)], header=("id", "review", "label"))
    with pytest.raises(DataError) as info:
        read_table(path, DOC, COLUMNS)
    msg = str(info.value)
    assert str(path) in msg
    assert "'document' (for text)" in msg
    assert "columns are: id, review, label" in msg
    assert "delimiter" not in msg


def test_explicitly_mapped_optional_column_missing_is_left_out_with_a_warning(tmp_path, caplog):
    # e.g. a test split without labels: it is predicted, not scored (train demands labels:
    # Fetcher.columns_for makes them required there).
    path = write_tsv(tmp_path / "a.tsv", [(1, "a", 1)])
    options = TableOptions(columns={"text": "document", "label": "sentiment"})
    df = read_table(path, options, COLUMNS)
    assert "label" not in df.columns
    assert f"{path}: no column 'sentiment' (for label) in this file" in caplog.text
    with pytest.raises(DataError) as info:
        read_table(path, options, {**COLUMNS, "label": True})
    msg = str(info.value)
    assert str(path) in msg
    assert "'sentiment' (for label)" in msg
    assert "columns are: id, document, label" in msg


def test_wrong_delimiter(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text("id,document,label\n1,a,1\n2,b,0\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_table(path, DOC, COLUMNS)
    msg = str(info.value)
    assert str(path) in msg
    assert "'document' (for text) not found" in msg
    assert "columns are: id,document,label" in msg
    assert "delimiter" in msg


# --- quoting and missing values -----------------------------------------------------------


def test_quoting_none_keeps_literal_quotes(tmp_path):
    rows = [(1, '"최고" 라고 함', 1), (2, '그냥 "보통"', 0), (3, '"따옴표 하나', 1)]
    path = write_tsv(tmp_path / "a.tsv", rows)
    df = read_table(path, NSMC_LIKE, COLUMNS)
    assert df["text"].tolist() == ['"최고" 라고 함', '그냥 "보통"', '"따옴표 하나']
    assert df["id"].tolist() == ["1", "2", "3"]


def test_minimal_quoting_strips_quotes(tmp_path):
    path = write_tsv(tmp_path / "a.tsv", [(1, '"최고" 라고 함', 1), (2, "b", 0)])
    df = read_table(path, DOC, COLUMNS)
    assert df["text"].tolist()[0] != '"최고" 라고 함'
    assert df["text"].tolist()[0] == "최고 라고 함"


def test_empty_and_na_like_text_stay_strings(tmp_path):
    rows = [(1, "", 1), (2, "NA", 0), (3, "null", 1), (4, "NaN", 0), (5, "None", 1), (6, "n/a", 0)]
    path = write_tsv(tmp_path / "a.tsv", rows)
    df = read_table(path, NSMC_LIKE, COLUMNS)
    assert df["text"].tolist() == ["", "NA", "null", "NaN", "None", "n/a"]
    assert not df.isna().any().any()
    assert all(isinstance(v, str) for v in df["text"])


def test_empty_last_field_is_empty_string(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text("id\tdocument\tlabel\n1\t\t\n", encoding="utf-8")
    df = read_table(path, DOC, COLUMNS)
    assert records(df) == [{"id": "1", "text": "", "label": ""}]


# --- encodings ----------------------------------------------------------------------------


def test_utf8_bom(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_bytes(b"\xef\xbb\xbf" + tsv_text().encode("utf-8"))
    df = read_table(path, DOC, COLUMNS)
    assert list(df.columns) == ["id", "text", "label"]
    assert df["id"].tolist() == ["1", "2", "3"]


def test_utf8_bom_with_upper_case_encoding_name(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_bytes(b"\xef\xbb\xbf" + tsv_text().encode("utf-8"))
    df = read_table(path, TableOptions(encoding="UTF8", columns={"text": "document"}), COLUMNS)
    assert df["id"].tolist() == ["1", "2", "3"]


def test_cp949_read_as_utf8(tmp_path):
    path = write_tsv(tmp_path / "a.tsv", ROWS, encoding="cp949")
    with pytest.raises(DataError) as info:
        read_table(path, DOC, COLUMNS)
    msg = str(info.value)
    assert str(path) in msg
    assert "not valid utf-8" in msg
    assert "cp949" in msg


@pytest.mark.parametrize("encoding", ["cp949", "euc-kr"])
def test_korean_legacy_encodings(tmp_path, encoding):
    path = write_tsv(tmp_path / "a.tsv", ROWS, encoding=encoding)
    options = TableOptions(encoding=encoding, columns={"text": "document"})
    assert records(read_table(path, options, COLUMNS)) == EXPECTED


def test_cp949_gzip(tmp_path):
    path = tmp_path / "a.tsv.gz"
    path.write_bytes(gzip.compress(tsv_text().encode("cp949")))
    options = TableOptions(encoding="cp949", columns={"text": "document"})
    assert records(read_table(path, options, COLUMNS)) == EXPECTED


def test_unknown_encoding_rejected():
    with pytest.raises(pydantic.ValidationError, match="unknown encoding 'utf-9'"):
        TableOptions(encoding="utf-9")


def test_table_options_reject_unknown_keys():
    with pytest.raises(pydantic.ValidationError, match="quotechar"):
        TableOptions(quotechar="'")
    with pytest.raises(pydantic.ValidationError):
        TableOptions(quoting="all")


# --- broken files -------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nope.tsv", DOC, COLUMNS)


def test_empty_file(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty") as info:
        read_table(path, DOC, COLUMNS)
    assert str(path) in str(info.value)


def test_header_only(tmp_path):
    path = write_tsv(tmp_path / "a.tsv", [])
    with pytest.raises(DataError, match="no data rows") as info:
        read_table(path, DOC, COLUMNS)
    assert str(path) in str(info.value)


def test_empty_json_list(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(DataError, match="no data rows"):
        read_table(path, DOC, COLUMNS)


def test_broken_jsonl(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"document": "a"}\n{"document": \n', encoding="utf-8")
    with pytest.raises(DataError, match="cannot parse as jsonl") as info:
        read_table(path, DOC, COLUMNS)
    assert str(path) in str(info.value)


def test_ragged_row(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text(
        "id\tdocument\tlabel\n1\ta\t1\n2\tb\t0\n3\tc\textra\t1\n4\td\t0\n", encoding="utf-8"
    )
    with pytest.raises(DataError) as info:
        read_table(path, NSMC_LIKE, COLUMNS)
    msg = str(info.value)
    assert str(path) in msg
    assert "cannot parse as tsv" in msg
    assert "line 4" in msg


def test_ragged_first_data_row(tmp_path):
    # pandas would silently take the first column for an index and shift the others left
    path = tmp_path / "a.tsv"
    path.write_text("id\tdocument\tlabel\n1\ta\textra\t1\n2\tb\t0\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_table(path, NSMC_LIKE, COLUMNS)
    msg = str(info.value)
    assert str(path) in msg
    assert "first data line has more fields than the header" in msg


def test_trailing_delimiter_on_every_row(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text("id\tdocument\tlabel\n1\ta\t1\t\n2\tb\t0\t\n", encoding="utf-8")
    with pytest.raises(DataError, match="more fields than the header"):
        read_table(path, DOC, COLUMNS)


def test_ragged_gzip_row(tmp_path):
    path = tmp_path / "a.tsv.gz"
    path.write_bytes(gzip.compress(b"id\tdocument\tlabel\n1\ta\t1\n2\tb\tx\t0\n"))
    with pytest.raises(DataError, match="line 3") as info:
        read_table(path, DOC, COLUMNS)
    assert str(path) in str(info.value)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "a.tsv.gz"
    path.write_bytes(gzip.compress(tsv_text().encode())[:30])
    with pytest.raises(DataError) as info:
        read_table(path, DOC, COLUMNS)
    assert str(path) in str(info.value)


# --- provenance ---------------------------------------------------------------------------


def test_attrs_and_row_ref_match_file_lines(tmp_path):
    rows = make_rows(30, seed=3)
    path = write_tsv(tmp_path / "a.tsv", rows)
    df = read_table(path, NSMC_LIKE, COLUMNS)
    assert df.attrs == {"source": str(path), "line_offset": 2}
    lines = path.read_text(encoding="utf-8").splitlines()
    for index in (0, 7, 29):
        ref = row_ref(df, index)
        n = int(ref.rsplit(" line ", 1)[1])
        assert ref == f"{path} line {n}"
        assert lines[n - 1] == "\t".join(map(str, rows[index]))
        assert lines[n - 1].split("\t")[1] == df.loc[index, "text"]


def test_row_ref_without_offset():
    import pandas as pd

    df = pd.DataFrame({"text": ["a", "b"]}, index=["x", "y"])
    assert row_ref(df, "y") == "data row y"
    df.attrs = {"source": "dataframe 'train'", "line_offset": None}
    assert row_ref(df, "x") == "dataframe 'train' row x"


def test_nested_json_fields_map_by_dotted_path(tmp_path):
    records = [
        {
            "pair": {"premise": "비가 온다", "hypothesis": "날씨가 맑다"},
            "gold_label": "contradiction",
        },
        {
            "pair": {"premise": "고양이가 잔다", "hypothesis": "동물이 있다"},
            "gold_label": "entailment",
        },
    ]
    path = tmp_path / "nli.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    options = TableOptions(columns={"text": "pair.premise", "label": "gold_label"})
    df = read_table(path, options, {"text": True, "label": False})
    assert df["text"].tolist() == ["비가 온다", "고양이가 잔다"]
    assert df["label"].tolist() == ["contradiction", "entailment"]
