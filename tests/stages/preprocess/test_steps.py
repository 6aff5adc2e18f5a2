"""The built-in preprocessing steps: text rewrites (one column at a time) and row filters."""

from __future__ import annotations

import unicodedata

import pandas as pd
import pytest
from pydantic import ValidationError

from plmkit import registry
from plmkit.stages.preprocess import steps as S
from plmkit.validation import REJECTED_COLUMNS


def frame(texts, *, ids=None, labels=None, attrs=None) -> pd.DataFrame:
    ids = list(range(1, len(texts) + 1)) if ids is None else ids
    labels = [i % 2 for i in range(len(texts))] if labels is None else labels
    df = pd.DataFrame({"id": ids, "text": texts, "label": labels})
    if attrs:
        df.attrs = dict(attrs)
    return df


def rewrite(step, texts) -> list[str]:
    out, rejected = step.apply(frame(texts), "train", ("text",))
    assert len(rejected) == 0, "a text step never drops rows"
    assert len(out) == len(texts)
    return out["text"].tolist()


# --- registry names --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, cls",
    [
        ("nfc", S.UnicodeNormalize),
        ("whitespace", S.NormalizeWhitespace),
        ("strip_urls", S.StripUrls),
        ("strip_html", S.StripHtml),
        ("squeeze_repeats", S.SqueezeRepeats),
        ("drop_empty", S.DropEmpty),
        ("dedupe", S.Deduplicate),
    ],
)
def test_step_names_resolve_to_the_built_in_classes(name, cls):
    assert registry.steps.get(name) is cls


# --- nfc -------------------------------------------------------------------------------------
def test_nfc_composes_decomposed_hangul():
    decomposed = unicodedata.normalize("NFD", "한국어")
    assert decomposed != "한국어" and len(decomposed) > len("한국어")  # the input really is NFD
    assert rewrite(S.UnicodeNormalize(), [decomposed, "이미 NFC"]) == ["한국어", "이미 NFC"]


def test_nfkc_form_folds_compatibility_characters_and_nfc_does_not():
    texts = ["①ｆｕｌｌ"]
    assert rewrite(S.UnicodeNormalize(), texts) == ["①ｆｕｌｌ"]
    assert rewrite(S.UnicodeNormalize({"form": "NFKC"}), texts) == ["1full"]


def test_nfc_rejects_an_unknown_form():
    with pytest.raises(ValidationError):
        S.UnicodeNormalize({"form": "NFD"})


# --- whitespace ------------------------------------------------------------------------------
def test_whitespace_collapses_runs_and_trims():
    texts = ["  너무   재밌다 \t\n 최고  ", "a\u3000\u3000b", "one"]
    assert rewrite(S.NormalizeWhitespace(), texts) == ["너무 재밌다 최고", "a b", "one"]


def test_text_steps_touch_only_text_columns_and_do_not_mutate_their_input():
    df = frame(["  a  b ", " c"], ids=["  x  y ", " z"])
    before = df.copy()
    out, _ = S.NormalizeWhitespace().apply(df, "train", ("text",))
    assert out["text"].tolist() == ["a b", "c"]
    assert out["id"].tolist() == ["  x  y ", " z"]  # not a text column: untouched
    pd.testing.assert_frame_equal(df, before)


# --- strip_urls ------------------------------------------------------------------------------
def test_strip_urls_removes_http_and_www_links_only():
    texts = [
        "평점 https://example.com/movie?id=3&x=1 최고",
        "자세히는 www.naver.com 참고",
        "http://a.b",
        "https 라는 단어는 남는다",
    ]
    out = rewrite(S.StripUrls(), texts)
    assert out[0].split() == ["평점", "최고"]
    assert out[1].split() == ["자세히는", "참고"]
    assert out[2].strip() == ""
    assert out[3] == "https 라는 단어는 남는다"
    assert not any("example.com" in t or "naver.com" in t for t in out)


# --- strip_html ------------------------------------------------------------------------------
def test_strip_html_removes_tags_and_decodes_entities():
    out = rewrite(S.StripHtml(), ["<b>최고</b> &amp; <i class='x'>추천</i><br/>", "&lt;3 &quot;"])
    assert out[0].split() == ["최고", "&", "추천"]
    assert "<" not in out[0] and "&amp;" not in out[0]
    assert out[1] == '<3 "'  # entities decoded after tags are stripped: not taken for a tag


def test_strip_html_removes_comments():
    assert rewrite(S.StripHtml(), ["a<!-- hidden -->b"])[0].split() == ["a", "b"]


def test_strip_html_keeps_angle_brackets_that_are_not_tags():
    texts = ["3 < 5 > 2", "<기생충> 최고", "ㅠ<ㅠ 슬프다"]
    assert rewrite(S.StripHtml(), texts) == texts


# --- squeeze_repeats -------------------------------------------------------------------------
def test_squeeze_repeats_default_keeps_two():
    texts = ["ㅋㅋㅋㅋㅋ", "!!!!!", "1000000", "ㅋㅋ", "와아아아아 좋다ㅎㅎㅎ"]
    assert rewrite(S.SqueezeRepeats(), texts) == [
        "ㅋㅋ",
        "!!",
        "1000000",
        "ㅋㅋ",
        "와아아 좋다ㅎㅎ",
    ]


def test_squeeze_repeats_max_repeat_three():
    texts = ["ㅋㅋㅋㅋㅋ", "!!!!!", "1000000", "ㅋㅋㅋ", "ㅋㅋ"]
    out = rewrite(S.SqueezeRepeats({"max_repeat": 3}), texts)
    assert out == ["ㅋㅋㅋ", "!!!", "1000000", "ㅋㅋㅋ", "ㅋㅋ"]


def test_squeeze_repeats_max_repeat_one():
    assert rewrite(S.SqueezeRepeats({"max_repeat": 1}), ["ㅋㅋㅋ!!", "100"]) == ["ㅋ!", "100"]


def test_squeeze_repeats_validates_max_repeat():
    with pytest.raises(ValidationError):
        S.SqueezeRepeats({"max_repeat": 0})
    with pytest.raises(ValidationError):
        S.SqueezeRepeats({"max_reps": 2})  # unknown key


# --- drop_empty ------------------------------------------------------------------------------
def test_drop_empty_drops_empty_and_blank_rows_with_a_reason():
    df = frame(["좋다", "", "   ", "별로", "\t"], ids=[10, 11, 12, 13, 14])
    out, rejected = S.DropEmpty().apply(df, "train", ("text",))
    assert out["id"].tolist() == [10, 13]
    assert list(rejected.columns) == REJECTED_COLUMNS
    assert sorted(rejected["id"]) == [11, 12, 14]
    assert set(rejected["reason"]) == {"empty text"}
    assert set(rejected["split"]) == {"train"}
    assert set(rejected["stage"]) == {"preprocess"}


@pytest.mark.parametrize("split, dropped", [("train", 1), ("validation", 1), ("test", 0)])
def test_drop_empty_filters_train_and_validation_by_default(split, dropped):
    df = frame(["a", "", "b"])
    out, rejected = S.DropEmpty().apply(df, split, ("text",))
    assert len(out) == 3 - dropped
    assert len(rejected) == dropped
    if dropped:
        assert rejected["split"].tolist() == [split]


def test_drop_empty_splits_parameter():
    step = S.DropEmpty({"splits": ["test"]})
    df = frame(["a", ""])
    assert len(step.apply(df, "train", ("text",))[0]) == 2
    out, rejected = step.apply(df, "test", ("text",))
    assert out["text"].tolist() == ["a"] and rejected["reason"].tolist() == ["empty text"]


def test_drop_empty_with_nothing_to_drop_returns_the_split_unchanged():
    df = frame(["a", "b"])
    out, rejected = S.DropEmpty().apply(df, "train", ("text",))
    pd.testing.assert_frame_equal(out, df)
    assert len(rejected) == 0 and list(rejected.columns) == REJECTED_COLUMNS


def test_drop_empty_points_at_file_lines():
    df = frame(["a", ""], attrs={"source": "train.tsv", "line_offset": 2})
    _, rejected = S.DropEmpty().apply(df, "train", ("text",))
    assert rejected["where"].tolist() == ["train.tsv line 3"]  # index 1, after the header


# --- dedupe ----------------------------------------------------------------------------------
def test_dedupe_keeps_the_first_and_names_it():
    df = frame(
        ["좋다", "별로", "좋다", "최고", "좋다", "별로"],
        ids=[1, 2, 3, 4, 5, 6],
        attrs={"source": "train.tsv", "line_offset": 2},
    )
    out, rejected = S.Deduplicate().apply(df, "train", ("text",))
    assert out["id"].tolist() == [1, 2, 4]
    assert out["text"].tolist() == ["좋다", "별로", "최고"]
    by_id = rejected.set_index("id")
    assert sorted(by_id.index) == [3, 5, 6]
    assert set(by_id["reason"]) == {"duplicate text"}
    assert by_id.loc[3, "value"] == "first at train.tsv line 2"
    assert by_id.loc[5, "value"] == "first at train.tsv line 2"
    assert by_id.loc[6, "value"] == "first at train.tsv line 3"
    assert by_id.loc[3, "where"] == "train.tsv line 4"


def test_dedupe_without_file_lines_names_the_row():
    df = frame(["a", "b", "a"], ids=[7, 8, 9])
    _, rejected = S.Deduplicate().apply(df, "validation", ("text",))
    assert rejected["value"].tolist() == ["first at data row 0"]
    assert rejected["split"].tolist() == ["validation"]


def test_dedupe_leaves_test_alone_by_default():
    df = frame(["a", "a"])
    out, rejected = S.Deduplicate().apply(df, "test", ("text",))
    assert len(out) == 2 and len(rejected) == 0


def test_filter_steps_reject_unknown_params():
    with pytest.raises(ValidationError):
        S.Deduplicate({"keep": "last"})
