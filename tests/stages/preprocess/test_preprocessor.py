"""StepPreprocessor: steps over every split, then a seeded, stratified hold-out."""

from __future__ import annotations

import random

import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict

from plmkit.stages.preprocess import (
    FilterStep,
    Preprocessed,
    Step,
    StepPreprocessor,
    TextStep,
    holdout,
)
from plmkit.stages.preprocess import steps as S
from plmkit.validation import REJECTED_COLUMNS, empty_rejected


def labelled(counts: dict[int, int], start_id: int = 0, source: str = "train.tsv") -> pd.DataFrame:
    """Rows with the given number per label, labels interleaved, ids unique."""
    labels = [label for label, n in counts.items() for _ in range(n)]
    random.Random(len(labels)).shuffle(labels)  # classes mixed through the file
    n = len(labels)
    df = pd.DataFrame(
        {
            "id": range(start_id, start_id + n),
            "text": [f"text {start_id + i}" for i in range(n)],
            "label": labels,
        }
    )
    df.attrs = {"source": source, "line_offset": 2}
    return df


def per_class(df: pd.DataFrame) -> dict[int, int]:
    return df["label"].value_counts().to_dict()


# --- the hold-out ----------------------------------------------------------------------------
def test_validation_is_held_out_stratified_when_absent():
    train = labelled({0: 70, 1: 30})
    out = StepPreprocessor([], validation_size=0.2, seed=1).run({"train": train}).splits
    assert set(out) == {"train", "validation"}
    val, kept = out["validation"], out["train"]
    # Class proportions: 20% of each class, to the row.
    assert per_class(val) == {0: 14, 1: 6}
    assert per_class(kept) == {0: 56, 1: 24}
    ids_val, ids_kept = set(val["id"]), set(kept["id"])
    assert not ids_val & ids_kept
    assert ids_val | ids_kept == set(train["id"])
    # Row order within each part follows the input.
    assert kept["id"].is_monotonic_increasing and val["id"].is_monotonic_increasing


def test_holdout_keeps_small_class_shares_close_in_a_three_class_split():
    train = labelled({0: 50, 1: 33, 2: 17})
    size = 0.3
    out = StepPreprocessor([], validation_size=size, seed=5).run({"train": train}).splits
    for label, n in per_class(train).items():
        held = per_class(out["validation"]).get(label, 0)
        assert abs(held - n * size) <= 1, (label, held, n)


def test_holdout_is_seeded():
    train = labelled({0: 60, 1: 40})

    def val_ids(seed):
        pre = StepPreprocessor([], validation_size=0.25, seed=seed)
        return out_ids(pre.run({"train": train}).splits["validation"])

    assert val_ids(3) == val_ids(3)
    assert val_ids(3) != val_ids(4)


def out_ids(df: pd.DataFrame) -> list:
    return df["id"].tolist()


def test_holdout_without_stratification_still_splits_everything_once():
    train = labelled({0: 90, 1: 10})
    kept, held = holdout(train, 0.2, seed=0, stratify_by=None)
    assert len(held) == 20 and len(kept) == 80
    assert sorted(out_ids(kept) + out_ids(held)) == out_ids(train)


def test_holdout_leaves_at_least_one_row_per_class_in_each_part():
    train = labelled({0: 40, 1: 2})
    kept, held = holdout(train, 0.1, seed=0, stratify_by="label")
    assert per_class(held)[1] == 1 and per_class(kept)[1] == 1


def test_test_size_holds_out_test_and_validation_without_overlap():
    train = labelled({0: 60, 1: 40})
    pre = StepPreprocessor([], validation_size=0.1, test_size=0.2, seed=9)
    out = pre.run({"train": train}).splits
    assert set(out) == {"train", "validation", "test"}
    assert per_class(out["test"]) == {0: 12, 1: 8}  # 20% of each class of the whole train
    assert len(out["validation"]) > 0
    parts = [set(out[name]["id"]) for name in ("train", "validation", "test")]
    assert sum(map(len, parts)) == len(train)
    assert set().union(*parts) == set(train["id"])
    for split in ("train", "validation", "test"):
        assert out[split].attrs["source"] == "train.tsv"  # row references still work


def test_an_existing_test_split_is_not_replaced_by_test_size():
    train, test = labelled({0: 30, 1: 30}), labelled({0: 5, 1: 5}, start_id=1000)
    out = StepPreprocessor([], test_size=0.2, seed=1).run({"train": train, "test": test}).splits
    pd.testing.assert_frame_equal(out["test"], test)
    assert len(out["train"]) + len(out["validation"]) == len(train)


def test_an_existing_validation_split_is_left_alone():
    train, val = labelled({0: 30, 1: 30}), labelled({0: 4, 1: 6}, start_id=500)
    out = StepPreprocessor([], validation_size=0.5, seed=1).run({"train": train, "validation": val})
    pd.testing.assert_frame_equal(out.splits["train"], train)
    pd.testing.assert_frame_equal(out.splits["validation"], val)


def test_steps_run_on_every_split_and_filters_skip_test():
    train = pd.DataFrame(
        {"id": [1, 2, 3, 4], "text": [" ㅋㅋㅋㅋ ", "", "a", "a"], "label": [0, 1, 0, 1]}
    )
    val = pd.DataFrame({"id": [5, 6], "text": ["  ", "b  c"], "label": [0, 1]})
    test = pd.DataFrame({"id": [7, 8], "text": ["", "d!!!!"], "label": [0, 1]})
    pre = StepPreprocessor(
        [S.SqueezeRepeats(), S.NormalizeWhitespace(), S.DropEmpty(), S.Deduplicate()]
    )
    result = pre.run({"train": train, "validation": val, "test": test})
    assert isinstance(result, Preprocessed)
    out = result.splits
    assert out["train"]["text"].tolist() == ["ㅋㅋ", "a"]
    assert out["validation"]["text"].tolist() == ["b c"]
    assert out["test"]["text"].tolist() == ["", "d!!"]  # rewritten, but every row kept
    rejected = result.rejected
    assert list(rejected.columns) == REJECTED_COLUMNS
    got = sorted(zip(rejected["split"], rejected["id"], rejected["reason"], strict=True))
    assert got == [
        ("train", 2, "empty text"),
        ("train", 4, "duplicate text"),
        ("validation", 5, "empty text"),
    ]


def test_no_rejections_give_an_empty_rejected_table():
    train = labelled({0: 10, 1: 10})
    rejected = StepPreprocessor([S.DropEmpty()]).run({"train": train}).rejected
    assert len(rejected) == 0
    assert list(rejected.columns) == list(empty_rejected().columns)


# --- custom steps ----------------------------------------------------------------------------
class SuffixParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    suffix: str = "!"


class AddSuffix(Step):
    """A Step written from scratch (not a TextStep): appends a suffix to every text."""

    Params = SuffixParams

    def apply(self, df, split, text_columns):
        out = df.copy()
        for col in text_columns:
            out[col] = out[col] + self.params.suffix
        return out, empty_rejected()


class ShortParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_chars: int = 2
    splits: list[str] = ["train", "validation"]


class DropShort(FilterStep):
    Params = ShortParams

    def reasons(self, df, text_columns):
        return df["text"].map(
            lambda t: ("too short", str(len(t))) if len(t) < self.params.min_chars else None
        )


class Upper(TextStep):
    def transform(self, texts):
        return texts.str.upper()


def test_custom_steps_work_inside_the_step_preprocessor():
    train = pd.DataFrame({"id": [1, 2, 3], "text": ["ab", "c", "de"], "label": [0, 1, 0]})
    test = pd.DataFrame({"id": [4], "text": ["f"], "label": [1]})
    pre = StepPreprocessor(
        [Upper(), DropShort({"min_chars": 2}), AddSuffix({"suffix": "?"})],
        validation_size=0.5,
        seed=0,
    )
    result = pre.run({"train": train, "test": test})
    out = result.splits
    texts = sorted(out["train"]["text"].tolist() + out["validation"]["text"].tolist())
    assert texts == ["AB?", "DE?"]
    assert out["test"]["text"].tolist() == ["F?"]
    assert result.rejected[["id", "reason", "value"]].values.tolist() == [[2, "too short", "1"]]


def test_step_params_are_validated_by_their_model():
    assert AddSuffix().params.suffix == "!"
    with pytest.raises(ValueError):
        AddSuffix({"sufix": "?"})
