"""MultiLabelClassification: list and delimited labels, unknown labels as row errors, multi-hot
targets, metrics against hand-computed values, decoding, state, and a whole run plus predict."""

from __future__ import annotations

import contextlib
import io
import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
import torch
import yaml
from accelerate.state import AcceleratorState
from pydantic import ValidationError

from plmkit import registry
from plmkit.cli import main
from plmkit.errors import DataError
from plmkit.tasks.multilabel import MultiLabelClassification, MultiLabelMetrics, parse_labels
from plmkit.validation import check

TOPICS = {
    "sport": ["goal", "match", "coach", "league"],
    "tech": ["laptop", "code", "robot", "chip"],
    "food": ["bread", "soup", "rice", "cake"],
}
ORDER = ["sport", "tech", "food"]  # data.labels in the run: names in id order, not sorted
FILLER = ["today", "really", "new", "big", "news", "people", "again", "city"]


def topic_rows(n: int, seed: int, start: int = 1) -> list[tuple[int, str, list[str]]]:
    """(id, text, topics): every subset of the topics in turn, each topic named by two of its
    words among filler words; some rows have no topic at all."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        chosen = [t for j, t in enumerate(ORDER) if (i >> j) & 1]
        words = [w for t in chosen for w in rng.sample(TOPICS[t], 2)] + rng.sample(FILLER, 2)
        rng.shuffle(words)
        rows.append((start + i, " ".join(words), chosen))
    return rows


def frame(labels, texts=None) -> pd.DataFrame:
    texts = texts or [f"text {i}" for i in range(len(labels))]
    df = pd.DataFrame({"id": range(len(labels)), "text": texts, "label": labels})
    df.attrs = {"source": "topics.csv", "line_offset": 2}
    return df


def fitted(labels, **params) -> MultiLabelClassification:
    task = MultiLabelClassification(params)
    task.fit(task.prepare(frame(labels)))
    return task


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    AcceleratorState._reset_state(reset_partial_state=True)
    yield


# --- labels ----------------------------------------------------------------------------------
def test_registered_with_columns_and_metrics():
    assert registry.tasks.get("multi_label") is MultiLabelClassification
    assert MultiLabelClassification.columns == {"id": False, "text": True, "label": False}
    assert MultiLabelClassification.stratify_by is None
    assert MultiLabelClassification.default_metric() == "micro_f1"
    assert MultiLabelClassification.greater_is_better("subset_accuracy")
    assert not MultiLabelClassification.greater_is_better("loss")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sport|tech", ("sport", "tech")),
        (" sport | tech |", ("sport", "tech")),
        ("", ()),
        ("food|food", ("food",)),
        (["tech", "food"], ("tech", "food")),
        ((1, 0.0, 2), ("1", "0", "2")),
        (np.array(["a", "b"], dtype=object), ("a", "b")),
        ([], ()),
        (3, ("3",)),
        (None, None),
        (float("nan"), None),
    ],
)
def test_parse_labels(value, expected):
    assert parse_labels(value, "|") == expected


def test_parse_labels_with_another_delimiter_and_odd_values():
    assert parse_labels("a;b|c", ";") == ("a", "b|c")
    odd = {"sport": 1}
    assert parse_labels(odd, "|") is odd  # left for the schema to report


def test_params():
    task = MultiLabelClassification()
    assert (task.params.delimiter, task.params.threshold) == ("|", 0.5)
    for bad in ({"threshold": 1.0}, {"threshold": 0}, {"delimiter": ""}, {"sep": ","}):
        with pytest.raises(ValidationError):
            MultiLabelClassification(bad)


def test_prepare_reads_strings_and_lists_and_keeps_attrs():
    task = MultiLabelClassification({"delimiter": ","})
    df = frame(["tech,food", "", ["sport"], None])
    out = task.prepare(df)
    assert out["label"].tolist() == [("tech", "food"), (), ("sport",), None]
    assert out.attrs == df.attrs
    assert df["label"].tolist()[0] == "tech,food"  # the input is not modified


def test_fit_infers_sorted_labels_or_keeps_configured_ones():
    assert fitted(["tech|food", "", "sport", None]).labels == ["food", "sport", "tech"]
    assert fitted([[10, 2], [1]]).labels == ["1", "2", "10"]
    task = MultiLabelClassification(labels=ORDER)
    task.fit(task.prepare(frame(["tech"])))
    assert task.labels == ORDER


def test_fit_needs_two_labels_and_a_label_column():
    with pytest.raises(DataError, match="topics.csv.*1 distinct label"):
        fitted(["sport", "sport|sport", ""])
    with pytest.raises(DataError, match="no label column"):
        MultiLabelClassification().fit(frame(["a"]).drop(columns="label"))


# --- schemas and targets ---------------------------------------------------------------------
def test_unknown_labels_are_row_errors_naming_the_label():
    task = MultiLabelClassification(labels=ORDER)
    df = task.prepare(frame(["sport|tech", "sport|chess", "", None, "go|chess", "1|food"]))
    kept, rejected = check(
        df, task.raw_schema(has_labels=True), split="train", stage="fetched", on_invalid="drop"
    )
    assert kept["id"].tolist() == [0, 2, 5]  # "1" is an id: tech
    assert rejected["where"].tolist() == [
        "topics.csv line 3",
        "topics.csv line 5",
        "topics.csv line 6",
    ]
    assert set(rejected["column"]) == {"label"}
    reasons = rejected["reason"].tolist()
    assert reasons[0] == reasons[2] == "not in the label set ['sport', 'tech', 'food']"
    assert reasons[1] == "missing value"
    assert rejected["value"].tolist()[::2] == ["chess", "go|chess"]
    with pytest.raises(DataError, match=r"topics.csv line 3: column 'label': not in the label set"):
        check(df, task.raw_schema(has_labels=True), split="train", stage="fetched")


def test_raw_schema_reports_a_label_cell_of_another_kind():
    task = MultiLabelClassification(labels=ORDER)
    df = task.prepare(frame([{"sport": 1}]))
    with pytest.raises(pa.errors.SchemaError):
        task.raw_schema(has_labels=True).validate(df)
    task.raw_schema(has_labels=False).validate(frame([1]).drop(columns="label"))


def test_encode_targets_and_multi_hot_rows():
    task = MultiLabelClassification(labels=ORDER)
    df = task.encode_targets(task.prepare(frame(["food|sport", "", "tech", "2"])))
    assert df["label"].tolist() == [(0, 2), (), (1,), (2,)]
    task.processed_schema(has_labels=True).validate(df)
    targets = task.targets(df)
    assert targets.dtype == np.float32
    assert targets.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert task.targets(df.iloc[:0]).shape == (0, 3)
    assert task.targets(df.drop(columns="label")) is None
    with pytest.raises(pa.errors.SchemaError):
        task.processed_schema(has_labels=True).validate(frame([(0, 3)]))


def test_model_head():
    kwargs = MultiLabelClassification(labels=ORDER).model_kwargs()
    assert kwargs == {
        "num_labels": 3,
        "id2label": {0: "sport", 1: "tech", 2: "food"},
        "label2id": {"sport": 0, "tech": 1, "food": 2},
        "problem_type": "multi_label_classification",
    }


def test_the_head_computes_binary_cross_entropy():
    from transformers import BertConfig

    task = MultiLabelClassification(labels=ORDER)
    cfg = BertConfig(
        vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=8, **task.model_kwargs(),
    )  # fmt: skip
    model = task.model_class().from_config(cfg)
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    out = model(
        **task.model_inputs({"input_ids": torch.tensor([[1, 2], [3, 4]]), "labels": labels})
    )
    expected = torch.nn.functional.binary_cross_entropy_with_logits(out.logits, labels)
    assert task.loss(out, {"labels": labels}).item() == pytest.approx(expected.item())


# --- metrics and decoding --------------------------------------------------------------------
def logits_for(on: list[list[int]]) -> torch.Tensor:
    return torch.tensor(on, dtype=torch.float32) * 4 - 2  # sigmoid: 0.88 on, 0.12 off


def test_metrics_match_hand_computed_values():
    metrics = MultiLabelMetrics(ORDER, threshold=0.5)
    true = [[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 0]]
    pred = [[1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 1]]
    metrics.update(logits_for(pred[:2]), torch.tensor(true[:2], dtype=torch.float32))
    metrics.update(logits_for(pred[2:]), torch.tensor(true[2:], dtype=torch.float32))
    got = metrics.compute()
    # sport: tp 2; tech: tp 1, fn 1; food: fp 1, fn 1
    per = got["per_label"]
    assert per["sport"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert per["tech"] == {
        "precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2,
    }  # fmt: skip
    assert per["food"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    # micro: tp 3, fp 1, fn 2
    assert got["micro_precision"] == pytest.approx(3 / 4)
    assert got["micro_recall"] == pytest.approx(3 / 5)
    assert got["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))
    assert got["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert got["subset_accuracy"] == pytest.approx(2 / 4)
    assert got["num_examples"] == 4


def test_metrics_follow_the_threshold():
    logits = torch.tensor([[0.0, -0.5]])  # probabilities 0.5 and 0.38
    labels = torch.tensor([[1.0, 1.0]])
    low = MultiLabelMetrics(["a", "b"], threshold=0.3)
    low.update(logits, labels)
    high = MultiLabelMetrics(["a", "b"], threshold=0.6)
    high.update(logits, labels)
    assert low.compute()["subset_accuracy"] == 1.0
    assert high.compute()["micro_f1"] == 0.0


def test_decode_and_readable():
    task = MultiLabelClassification({"delimiter": ";", "threshold": 0.4}, labels=ORDER)
    decoded = task.decode(torch.tensor([[2.0, -0.2, -3.0], [-2.0, -2.0, -2.0]]).half())
    assert decoded["pred"].tolist() == [[True, True, False], [False, False, False]]
    assert decoded["prob"].dtype == torch.float32
    out = task.readable({k: v.numpy() for k, v in decoded.items()})
    assert list(out) == ["pred", "prob_sport", "prob_tech", "prob_food"]
    assert out["pred"].tolist() == ["sport;tech", ""]
    assert out["prob_tech"][0] == pytest.approx(torch.sigmoid(torch.tensor(-0.2)).item(), 1e-3)
    targets = np.array([[0, 1, 1], [0, 0, 0]], dtype=np.float32)
    assert task.readable_targets(targets).tolist() == ["tech;food", ""]


def test_state_round_trip():
    task = MultiLabelClassification({"delimiter": ",", "threshold": 0.3}, labels=ORDER)
    state = json.loads(json.dumps(task.state()))
    assert state == {"labels": ORDER, "params": {"delimiter": ",", "threshold": 0.3}}
    again = registry.tasks.get("multi_label").from_state(state)
    assert again.labels == ORDER and again.params == task.params
    assert again.model_kwargs() == task.model_kwargs()


# --- a whole run -----------------------------------------------------------------------------
def write_csv(path: Path, rows, labelled: bool = True) -> Path:
    data = [(i, t, "|".join(ls)) for i, t, ls in rows] if labelled else [r[:2] for r in rows]
    columns = ["id", "text", "label"] if labelled else ["id", "text"]
    path.write_text(pd.DataFrame(data, columns=columns).to_csv(index=False), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows) -> Path:
    lines = [json.dumps({"id": i, "text": t, "label": ls}) for i, t, ls in rows]
    path.write_text("\n".join(lines), encoding="utf-8")  # no trailing newline
    return path


def run_config(root: Path, **data) -> dict:
    return {
        "task": "multi_label",
        "seed": 7,
        "data": {"labels": ORDER, **data},
        "model": {
            "from_scratch": {
                "architecture": "bert",
                "vocab_size": 200,
                "hidden_size": 64,
                "num_layers": 1,
                "num_heads": 4,
            },
            "max_length": 32,
        },
        "training": {
            "epochs": 6,
            "batch_size": 8,
            "learning_rate": 3e-3,
            "device": "cpu",
            "best_metric": "micro_f1",
        },
        "evaluation": {"splits": ["validation", "test"]},
        "output": {"dir": str(root / "runs"), "name": "topics"},
    }


def test_an_unknown_label_stops_the_run_naming_row_and_label(tmp_path, cli):
    rows = topic_rows(16, seed=3)
    rows[3] = (rows[3][0], rows[3][1], ["sport", "chess"])
    train = write_csv(tmp_path / "train.csv", rows)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(run_config(tmp_path, train=str(train))), encoding="utf-8")
    rc, out, err = cli("validate", path)
    assert rc == 2
    assert (
        f"{train} line 5: column 'label': not in the label set ['sport', 'tech', 'food'] "
        "(value 'chess')"
    ) in err


class Trained:
    """Train: CSV with "|"-joined labels (one unknown); validation: JSONL with label lists;
    test: CSV without labels."""

    def __init__(self, root: Path):
        rows = topic_rows(160, seed=1)
        rows[7] = (rows[7][0], rows[7][1], ["tech", "weather"])
        self.train = write_csv(root / "train.csv", rows)
        self.validation_rows = topic_rows(40, seed=2, start=500)
        self.validation = write_jsonl(root / "validation.jsonl", self.validation_rows)
        self.test_rows = topic_rows(24, seed=3, start=900)
        self.test = write_csv(root / "test.csv", self.test_rows, labelled=False)
        config = run_config(
            root,
            train=str(self.train),
            validation=str(self.validation),
            test=str(self.test),
            on_invalid="drop",
        )
        self.config = root / "config.yaml"
        self.config.write_text(yaml.safe_dump(config), encoding="utf-8")
        AcceleratorState._reset_state(reset_partial_state=True)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.rc = main(["run", str(self.config)])
        self.stdout = out.getvalue()
        self.run = root / "runs" / "topics"
        self.metrics = json.loads((self.run / "metrics.json").read_text(encoding="utf-8"))

    def predictions(self, split: str) -> pd.DataFrame:
        path = self.run / "predictions" / f"{split}.csv"
        return pd.read_csv(path, keep_default_na=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Trained:
    return Trained(tmp_path_factory.mktemp("topics"))


def test_run_learns_the_topics(trained):
    assert trained.rc == 0, trained.stdout
    val = trained.metrics["validation"]
    assert val["num_examples"] == 40
    assert val["micro_f1"] >= 0.75  # predicting every label on gives 0.67
    assert list(val["per_label"]) == ORDER


def test_metrics_match_the_written_predictions(trained):
    preds = trained.predictions("validation")
    assert list(preds.columns) == ["id", "label", "pred", "prob_sport", "prob_tech", "prob_food"]
    assert preds["id"].tolist() == [r[0] for r in trained.validation_rows]
    assert preds["label"].tolist() == ["|".join(r[2]) for r in trained.validation_rows]
    true = [set(filter(None, s.split("|"))) for s in preds["label"]]
    pred = [set(filter(None, s.split("|"))) for s in preds["pred"]]
    tp = sum(len(t & p) for t, p in zip(true, pred, strict=True))
    fp = sum(len(p - t) for t, p in zip(true, pred, strict=True))
    fn = sum(len(t - p) for t, p in zip(true, pred, strict=True))
    val = trained.metrics["validation"]
    assert val["micro_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert val["subset_accuracy"] == pytest.approx(
        np.mean([t == p for t, p in zip(true, pred, strict=True)])
    )
    on = preds[[f"prob_{n}" for n in ORDER]].to_numpy() >= 0.5
    assert [{ORDER[j] for j in np.flatnonzero(r)} for r in on] == pred


def test_the_unlabelled_test_split_is_predicted_not_scored(trained):
    assert not trained.metrics.get("test")
    preds = trained.predictions("test")
    assert list(preds.columns) == ["id", "pred", "prob_sport", "prob_tech", "prob_food"]
    assert preds["id"].tolist() == [r[0] for r in trained.test_rows]


def test_the_unknown_label_ends_in_rejected_csv(trained):
    rejected = pd.read_csv(trained.run / "rejected.csv")
    assert len(rejected) == 1
    row = rejected.iloc[0]
    assert (row["id"], row["where"], row["column"], row["value"]) == (
        8,
        f"{trained.train} line 9",
        "label",
        "weather",
    )


def test_predict_and_evaluate_from_the_run_directory(trained, cli):
    rc, out, err = cli("predict", trained.run, "--input", trained.test)
    assert rc == 0, err
    table = pd.read_csv(io.StringIO(out), keep_default_na=False)
    expected = trained.predictions("test")
    assert table["pred"].tolist() == expected["pred"].tolist()
    assert table["prob_food"].to_numpy() == pytest.approx(expected["prob_food"], abs=1e-5)

    rc, out, err = cli("predict", trained.run, "--text", trained.test_rows[0][1])
    assert rc == 0, err
    assert pd.read_csv(io.StringIO(out), keep_default_na=False)["pred"][0] == expected["pred"][0]

    rc, out, err = cli("evaluate", trained.run, "--data", trained.validation)
    assert rc == 0, err
    written = trained.run / "evaluations" / trained.validation.name / "metrics.json"
    metrics = json.loads(written.read_text(encoding="utf-8"))
    for key in ("micro_f1", "macro_f1", "subset_accuracy"):
        assert metrics[key] == pytest.approx(trained.metrics["validation"][key])


def test_saved_state(trained):
    saved = json.loads((trained.run / "model" / "plmkit.json").read_text(encoding="utf-8"))
    assert saved == {
        "task": "multi_label",
        "state": {"labels": ORDER, "params": {"delimiter": "|", "threshold": 0.5}},
    }
