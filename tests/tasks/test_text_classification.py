"""TextClassification: labels, schemas, model head settings, metrics and decoding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
import torch

from plmkit import registry
from plmkit.errors import DataError
from plmkit.models import train_tokenizer
from plmkit.tasks import TextClassification
from plmkit.tasks.classification import ConfusionMetrics


def frame(labels, texts=None) -> pd.DataFrame:
    texts = texts or [f"text {i}" for i in range(len(labels))]
    return pd.DataFrame({"id": range(len(labels)), "text": texts, "label": labels})


def fitted(labels) -> TextClassification:
    task = TextClassification()
    task.fit(frame(labels))
    return task


# --- labels ----------------------------------------------------------------------------------
def test_registered_under_its_name():
    assert registry.tasks.get("text_classification") is TextClassification


def test_fit_infers_sorted_string_labels():
    assert fitted(["pos", "neg", "neu", "pos"]).labels == ["neg", "neu", "pos"]


def test_fit_sorts_integer_like_labels_numerically():
    assert fitted(["10", "2", "1", "2"]).labels == ["1", "2", "10"]
    assert fitted([1, 0, 1]).labels == ["0", "1"]  # JSON ints become the same names as CSV


def test_fit_ignores_missing_labels():
    assert fitted(["a", None, "b"]).labels == ["a", "b"]


def test_fit_keeps_configured_labels_in_their_order():
    task = TextClassification(labels=["positive", "negative"])
    task.fit(frame(["negative", "positive"]))
    assert task.labels == ["positive", "negative"]


def test_fit_needs_two_classes():
    with pytest.raises(DataError, match="at least 2"):
        fitted(["a", "a"])


def test_fit_needs_a_label_column():
    df = pd.DataFrame({"text": ["a"]})
    df.attrs["source"] = "train.csv"
    with pytest.raises(DataError, match="train.csv.*no label column"):
        TextClassification().fit(df)


# --- schemas and targets ---------------------------------------------------------------------
def test_raw_schema_accepts_names_and_ids_and_rejects_others():
    task = TextClassification(labels=["neg", "pos"])
    schema = task.raw_schema(has_labels=True)
    schema.validate(frame(["neg", "pos", "0", "1"]))
    with pytest.raises(pa.errors.SchemaError):
        schema.validate(frame(["neg", "maybe"]))
    with pytest.raises(pa.errors.SchemaError):
        schema.validate(frame(["neg", "2"]))  # id out of range


def test_prepared_integer_labels_pass_the_raw_schema():
    """JSONL, Parquet and in-memory frames give integer labels (CSV gives strings)."""
    task = fitted([0, 1, 1])
    prepared = task.prepare(frame([0, 1, 1]))
    assert prepared["label"].tolist() == ["0", "1", "1"]
    task.raw_schema(has_labels=True).validate(prepared)
    with pytest.raises(pa.errors.SchemaError):
        task.raw_schema(has_labels=True).validate(task.prepare(frame([0, 2])))


def test_prepare_keeps_attrs_and_leaves_unlabelled_frames_alone():
    task = TextClassification()
    df = frame([1, 0])
    df.attrs = {"source": "x.jsonl", "line_offset": 1}
    out = task.prepare(df)
    assert out.attrs == df.attrs
    assert out["label"].tolist() == ["1", "0"]
    assert df["label"].tolist() == [1, 0]  # the input is not modified
    unlabelled = pd.DataFrame({"text": ["a"]})
    assert task.prepare(unlabelled) is unlabelled


def test_raw_schema_without_labels_does_not_need_a_label_column():
    task = fitted(["a", "b"])
    task.raw_schema(has_labels=False).validate(pd.DataFrame({"text": ["x"]}))


def test_encode_targets_maps_names_and_ids_to_ids():
    task = TextClassification(labels=["neg", "pos"])
    out = task.encode_targets(frame(["pos", "neg", "1", 0]))
    assert out["label"].tolist() == [1, 0, 1, 0]
    assert out["label"].dtype == "int64"


def test_encode_targets_names_win_over_ids():
    task = TextClassification(labels=["1", "0"])  # label *names* that look like ids
    assert task.encode_targets(frame(["1", "0"]))["label"].tolist() == [0, 1]


def test_encode_targets_without_labels_is_a_no_op():
    df = pd.DataFrame({"id": [1], "text": ["a"]})
    assert TextClassification(labels=["a", "b"]).encode_targets(df) is df


def test_processed_schema_checks_the_id_range():
    task = TextClassification(labels=["a", "b", "c"])
    schema = task.processed_schema(has_labels=True)
    ok = frame([0, 2, 1]).astype({"label": "int64"})
    schema.validate(ok)
    with pytest.raises(pa.errors.SchemaError):
        schema.validate(frame([0, 3]).astype({"label": "int64"}))


# --- model head ------------------------------------------------------------------------------
def test_model_kwargs_describe_the_head():
    kwargs = TextClassification(labels=["neg", "neu", "pos"]).model_kwargs()
    assert kwargs["num_labels"] == 3
    assert kwargs["id2label"] == {0: "neg", 1: "neu", 2: "pos"}
    assert kwargs["label2id"] == {"neg": 0, "neu": 1, "pos": 2}
    assert kwargs["problem_type"] == "single_label_classification"


def test_model_class_is_the_sequence_classification_auto_class():
    from transformers import AutoModelForSequenceClassification

    assert TextClassification().model_class() is AutoModelForSequenceClassification


def test_metric_directions():
    assert TextClassification.greater_is_better("accuracy")
    assert TextClassification.greater_is_better("macro_f1")
    assert not TextClassification.greater_is_better("loss")


# --- tokenize --------------------------------------------------------------------------------
def test_tokenize_returns_unpadded_ids_truncated_to_max_length():
    texts = ["가 나", "가 나 다 라 마 바 사 아 자 차 카 타 파 하", "다"]
    tokenizer = train_tokenizer(texts * 3, vocab_size=100)
    out = TextClassification(labels=["a", "b"]).tokenize(frame([0, 1, 0], texts), tokenizer, 6)
    assert list(out) == ["input_ids"]  # no attention mask: the collator builds it per batch
    ids = out["input_ids"]
    lengths = [len(x) for x in ids]
    assert lengths == [4, 6, 3]  # [CLS] words [SEP], the long one cut at max_length
    assert all(x[0] == tokenizer.cls_token_id for x in ids)
    assert all(x[-1] == tokenizer.sep_token_id for x in ids)
    assert tokenizer.pad_token_id not in {t for x in ids for t in x}
    assert tokenizer.decode(ids[0], skip_special_tokens=True).split() == ["가", "나"]


# --- metrics ---------------------------------------------------------------------------------
def one_hot_logits(preds, n) -> torch.Tensor:
    logits = torch.full((len(preds), n), -1.0)
    logits[torch.arange(len(preds)), torch.as_tensor(preds)] = 2.0
    return logits


def hand_metrics(y, p, n):
    """Precision, recall and F1 per class, from their definitions."""
    out = {}
    for c in range(n):
        tp = sum(1 for a, b in zip(y, p, strict=True) if a == c and b == c)
        predicted = sum(1 for b in p if b == c)
        actual = sum(1 for a in y if a == c)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[c] = (precision, recall, f1, actual)
    return out


def test_confusion_metrics_match_a_hand_computed_example():
    y, p = [0, 0, 1, 1, 2], [0, 1, 1, 1, 0]
    names = ["neg", "neu", "pos"]
    metrics = ConfusionMetrics(names)
    # Two batches: the counts accumulate.
    metrics.update(one_hot_logits(p[:2], 3), torch.tensor(y[:2]))
    metrics.update(one_hot_logits(p[2:], 3), torch.tensor(y[2:]))
    got = metrics.compute()

    assert got["confusion_matrix"]["labels"] == names
    # rows: true class, columns: predicted class
    assert got["confusion_matrix"]["matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert got["num_examples"] == 5
    assert got["accuracy"] == pytest.approx(3 / 5)

    expected = hand_metrics(y, p, 3)
    # neg: 1 of 2 predicted right, 1 of 2 found; neu: 2 of 3 predicted, 2 of 2 found; pos: none
    assert expected[0][:3] == pytest.approx((0.5, 0.5, 0.5))
    assert expected[1][:3] == pytest.approx((2 / 3, 1.0, 0.8))
    assert expected[2][:3] == (0.0, 0.0, 0.0)
    for c, name in enumerate(names):
        precision, recall, f1, support = expected[c]
        row = got["per_class"][name]
        assert row["precision"] == pytest.approx(precision)
        assert row["recall"] == pytest.approx(recall)
        assert row["f1"] == pytest.approx(f1)
        assert row["support"] == support
    assert got["macro_f1"] == pytest.approx(sum(e[2] for e in expected.values()) / 3)
    assert got["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_confusion_metrics_on_random_data_agree_with_the_definitions():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=200).tolist()
    p = [a if rng.random() < 0.6 else int(rng.integers(0, 4)) for a in y]
    metrics = TextClassification(labels=list("abcd")).new_metrics()
    metrics.update(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))  # an empty batch
    metrics.update(one_hot_logits(p, 4), torch.tensor(y))
    got = metrics.compute()
    expected = hand_metrics(y, p, 4)
    assert got["accuracy"] == pytest.approx(np.mean(np.array(y) == np.array(p)))
    assert got["macro_f1"] == pytest.approx(np.mean([e[2] for e in expected.values()]))
    for c, name in enumerate("abcd"):
        assert got["per_class"][name]["precision"] == pytest.approx(expected[c][0])
        assert got["per_class"][name]["recall"] == pytest.approx(expected[c][1])


def test_confusion_metrics_with_no_examples():
    got = ConfusionMetrics(["a", "b"]).compute()
    assert got["accuracy"] == 0.0 and got["num_examples"] == 0 and got["macro_f1"] == 0.0


# --- decoding --------------------------------------------------------------------------------
def test_decode_gives_argmax_and_its_probability():
    logits = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0], [1.0, 1.0, 5.0]])
    out = TextClassification(labels=["a", "b", "c"]).decode(logits)
    assert out["pred"].tolist() == [1, 0, 2]
    expected = torch.softmax(logits, -1).max(-1).values
    torch.testing.assert_close(out["prob"], expected)
    e = np.exp([0.0, 2.0, 1.0])
    assert out["prob"][0].item() == pytest.approx(e[1] / e.sum(), rel=1e-6)


def test_decode_works_on_half_precision_logits():
    out = TextClassification(labels=["a", "b"]).decode(torch.tensor([[0.0, 1.0]]).half())
    assert out["prob"].dtype == torch.float32


def test_readable_maps_ids_to_names():
    task = TextClassification(labels=["neg", "pos"])
    out = task.readable({"pred": np.array([1, 0, 1]), "prob": np.array([0.9, 0.8, 0.7])})
    assert out["pred"].tolist() == ["pos", "neg", "pos"]
    assert out["prob"].tolist() == [0.9, 0.8, 0.7]
    assert task.readable_targets(np.array([0, 1, 1])).tolist() == ["neg", "pos", "pos"]


# --- state -----------------------------------------------------------------------------------
def test_state_round_trip():
    task = fitted(["z", "a", "m"])
    state = task.state()
    assert state == {"labels": ["a", "m", "z"], "params": None}
    again = TextClassification.from_state(state)
    assert again.labels == task.labels
    assert again.model_kwargs() == task.model_kwargs()
    assert again.encode_targets(frame(["m", "z"]))["label"].tolist() == [1, 2]
