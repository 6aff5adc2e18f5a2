"""The CoNLL reader and fetcher: word- and character-level files, and their edge cases."""

from __future__ import annotations

import gzip
import lzma

import pydantic
import pytest

from plmkit.config import load_config
from plmkit.errors import ConfigError, DataError
from plmkit.stages.fetch.conll import ConllFetcher, ConllOptions, ConllSplits, read_conll
from plmkit.stages.fetch.read import row_ref
from plmkit.tasks.token_classification import TokenClassification

TOKEN_COLUMNS = TokenClassification.columns

# CoNLL-2003 layout: token, POS, chunk, NER tag; a document marker; two sentences.
CONLL_2003 = """-DOCSTART- -X- -X- O

Mina NNP B-NP B-PER
Park NNP I-NP I-PER
visited VBD B-VP O
Oslo NNP B-NP B-LOC
. . O O

Rain NN B-NP O
fell VBD B-VP O
"""
TOKENS = [["Mina", "Park", "visited", "Oslo", "."], ["Rain", "fell"]]
TAGS = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["O", "O"]]


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_reads_sentences_skipping_docstart(tmp_path):
    path = write(tmp_path / "train.txt", CONLL_2003)
    df = read_conll(path)
    assert df["id"].tolist() == [0, 1]
    assert df["tokens"].tolist() == TOKENS
    assert df["tags"].tolist() == TAGS
    assert df["line"].tolist() == [3, 9]
    assert df.attrs == {"source": str(path), "line_offset": None, "line_column": "line"}
    assert row_ref(df, 1) == f"{path} line 9"


@pytest.mark.parametrize(
    "text",
    [
        CONLL_2003.rstrip("\n"),  # no newline at the end
        CONLL_2003 + "\n\n\n",  # several blank lines at the end
        CONLL_2003.replace("\n", "\r\n"),  # Windows line ends
        "\n\n" + CONLL_2003.replace("\n\n", "\n  \n\n"),  # blank-looking lines, leading blanks
    ],
    ids=["no-final-newline", "trailing-blanks", "crlf", "extra-blanks"],
)
def test_line_layout_variants(tmp_path, text):
    df = read_conll(write(tmp_path / "a.conll", text))
    assert df["tokens"].tolist() == TOKENS
    assert df["tags"].tolist() == TAGS


def test_docstart_between_sentences_ends_a_sentence(tmp_path):
    text = "a O\nb B-X\n-DOCSTART- O\nc O\n"
    df = read_conll(write(tmp_path / "a.txt", text))
    assert df["tokens"].tolist() == [["a", "b"], ["c"]]
    assert df["line"].tolist() == [1, 4]


def test_token_column(tmp_path):
    path = write(tmp_path / "a.txt", "1 Mina B-PER\n2 runs O\n")
    df = read_conll(path, ConllOptions(token_column=1))
    assert df["tokens"].tolist() == [["Mina", "runs"]]
    with pytest.raises(DataError, match=r"a.txt line 1: 3 columns, so data.token_column 2"):
        read_conll(path, ConllOptions(token_column=2))


def test_tab_separator_keeps_spaces_in_tokens(tmp_path):
    path = write(tmp_path / "a.tsv", "New York\tB-LOC\n \tO\ncity\tO \n")
    df = read_conll(path, ConllOptions(separator="\t"))
    assert df["tokens"].tolist() == [["New York", " ", "city"]]
    assert df["tags"].tolist() == [["B-LOC", "O", "O"]]  # the tag is stripped


def test_character_level_korean_with_comments(tmp_path):
    lines = ["## 김민아는 부산에 산다", "김\tB-PER", "민\tI-PER", "아\tI-PER", "는\tO", " \tO"]
    lines += ["부\tB-LOC", "산\tI-LOC", "", "## 비", "비\tO"]
    path = write(tmp_path / "ko.txt", "\n".join(lines))
    df = read_conll(path, ConllOptions(separator="\t", comment_prefix="## "))
    assert df["tokens"].tolist() == [list("김민아는 부산"), ["비"]]
    assert df["tags"].tolist()[0] == ["B-PER", "I-PER", "I-PER", "O", "O", "B-LOC", "I-LOC"]
    assert df["line"].tolist() == [2, 11]


def test_character_level_korean_cp949(tmp_path):
    path = write(tmp_path / "ko.txt", "서 B-LOC\n울 I-LOC\n", encoding="cp949")
    df = read_conll(path, ConllOptions(encoding="cp949"))
    assert df["tokens"].tolist() == [["서", "울"]]


@pytest.mark.parametrize("suffix,opener", [(".gz", gzip.open), (".xz", lzma.open)])
def test_compressed(tmp_path, suffix, opener):
    path = tmp_path / f"train.txt{suffix}"
    with opener(path, "wt", encoding="utf-8") as fh:
        fh.write(CONLL_2003)
    assert read_conll(path)["tokens"].tolist() == TOKENS


def test_a_token_without_a_tag_names_file_and_line(tmp_path):
    path = write(tmp_path / "train.txt", "Mina B-PER\nruns\n. O\n")
    with pytest.raises(DataError) as info:
        read_conll(path)
    assert str(info.value).startswith(f"{path} line 2: a token without a tag")


def test_invalid_bytes_name_the_file(tmp_path):
    path = write(tmp_path / "ko.txt", "서 B-LOC\n울 I-LOC\n", encoding="cp949")
    with pytest.raises(DataError) as info:
        read_conll(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: not valid utf-8 (line 1")
    assert "data.encoding" in msg


@pytest.mark.parametrize("text", ["", "\n\n", "-DOCSTART- O\n\n"])
def test_no_sentences(tmp_path, text):
    path = write(tmp_path / "a.txt", text)
    with pytest.raises(DataError, match="no sentences"):
        read_conll(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_conll(tmp_path / "nope.txt")


def test_fetcher_reads_every_split(tmp_path):
    train = write(tmp_path / "train.txt", CONLL_2003)
    test = write(tmp_path / "test.txt.gz", "")
    test.write_bytes(gzip.compress(b"Oslo B-LOC\n"))
    fetcher = ConllFetcher({"train": str(train), "test": str(test)}, columns=TOKEN_COLUMNS)
    splits = fetcher.fetch()
    assert set(splits) == {"train", "test"}
    assert splits["test"]["tags"].tolist() == [["B-LOC"]]


def test_fetcher_needs_a_token_task(tmp_path):
    train = write(tmp_path / "train.txt", CONLL_2003)
    fetcher = ConllFetcher({"train": str(train)})  # text classification's columns
    with pytest.raises(DataError, match="token_classification"):
        fetcher.fetch()


def test_params_need_a_split_and_known_keys():
    with pytest.raises(pydantic.ValidationError, match="at least one split"):
        ConllSplits()
    with pytest.raises(pydantic.ValidationError, match="must not be empty"):
        ConllSplits(train="a.txt", separator="")
    with pytest.raises(pydantic.ValidationError, match="unknown encoding"):
        ConllSplits(train="a.txt", encoding="utf-99")


def test_config_checks_conll_keys(tmp_path):
    raw = {
        "task": "token_classification",
        "data": {"source": "conll", "train": "a.txt"},
        "model": {"name_or_path": "some/model"},
    }
    config = load_config(raw)
    assert config.data.params["train"] == "a.txt"
    raw["data"]["seperator"] = "\t"
    with pytest.raises(ConfigError, match="data.seperator"):
        load_config(raw)
