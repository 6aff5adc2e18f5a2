"""PairClassification: pair columns and schemas, pair encoding, the label handling it shares with
TextClassification, state, and a whole run on an NLI-style JSONL file mapped by data.columns."""

from __future__ import annotations

import contextlib
import io
import json
import random
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
import torch
import yaml
from accelerate.state import AcceleratorState

from plmkit import registry
from plmkit.cli import main
from plmkit.config import load_config
from plmkit.models import train_tokenizer
from plmkit.pipeline import Pipeline
from plmkit.predict import load_run
from plmkit.tasks import TextClassification
from plmkit.tasks.pair import PairClassification
from plmkit.validation import check

SUBJECTS = ["the cat", "a dog", "my friend", "the teacher", "a child", "the farmer", "the pilot"]
VERBS = ["reads", "eats", "sings", "swims", "paints", "cooks", "runs", "sleeps"]
PLACES = ["at home", "in the park", "near the river", "at school", "in the city", "on the hill"]
REASONS = ["for fun", "every day", "with joy", "after work"]
LABELS = ["entailment", "neutral", "contradiction"]


def nli_rows(n: int, seed: int, start: int = 1) -> list[dict]:
    """Premise/hypothesis rows whose label follows from how the hypothesis restates the
    premise: a shorter copy (entailment), an added reason (neutral), a negation (contradiction).
    The label depends on the hypothesis, so a model that never saw it could not learn it."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        s, v, p = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(PLACES)
        label = LABELS[i % 3]
        hypothesis = {
            "entailment": f"{s} {v}",
            "neutral": f"{s} {v} {rng.choice(REASONS)}",
            "contradiction": f"{s} never {v}",
        }[label]
        rows.append(
            {
                "pair_id": start + i,
                "sentence1": f"{s} {v} {p}",
                "sentence2": hypothesis,
                "gold_label": label,
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """One JSON object a line, and no newline after the last one."""
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def pair_config(root: Path, train: Path, test: Path, **training) -> dict:
    return {
        "task": "pair_classification",
        "seed": 7,
        "data": {
            "train": str(train),
            "test": str(test),
            "columns": {
                "id": "pair_id",
                "text": "sentence1",
                "text_pair": "sentence2",
                "label": "gold_label",
            },
        },
        "model": {
            "from_scratch": {
                "architecture": "bert",
                "vocab_size": 200,
                "hidden_size": 64,
                "num_layers": 1,
                "num_heads": 2,
            },
            "max_length": 32,
        },
        "training": {
            "epochs": 3,
            "batch_size": 4,
            "learning_rate": 2e-3,
            "device": "cpu",
            "best_metric": "accuracy",
            **training,
        },
        "output": {"dir": str(root / "runs"), "name": "nli"},
    }


def frame(texts, pairs, labels=None) -> pd.DataFrame:
    df = pd.DataFrame({"id": range(len(texts)), "text": texts, "text_pair": pairs})
    if labels is not None:
        df["label"] = labels
    df.attrs = {"source": "pairs.jsonl", "line_offset": 1}
    return df


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    AcceleratorState._reset_state(reset_partial_state=True)
    yield


# --- columns and labels ----------------------------------------------------------------------
def test_registered_and_shares_text_classification():
    assert registry.tasks.get("pair_classification") is PairClassification
    assert issubclass(PairClassification, TextClassification)
    assert PairClassification.columns == {
        "id": False,
        "text": True,
        "text_pair": True,
        "label": False,
    }
    assert PairClassification.text_columns == ("text", "text_pair")
    assert PairClassification.metrics == TextClassification.metrics
    assert PairClassification.default_metric() == "accuracy"


def test_labels_are_handled_like_text_classification():
    task = PairClassification()
    df = task.prepare(frame(["a", "b", "c"], ["x", "y", "z"], ["neutral", "entailment", 2]))
    task.fit(df)
    assert task.labels == ["2", "entailment", "neutral"]
    task = PairClassification(labels=LABELS)
    task.fit(frame(["a"], ["b"], ["neutral"]))
    encoded = task.encode_targets(task.prepare(frame(["a", "b"], ["x", "y"], ["neutral", 2])))
    assert encoded["label"].tolist() == [1, 2]  # names and ids, as in text classification
    assert task.model_kwargs()["id2label"] == dict(enumerate(LABELS))


# --- schemas ---------------------------------------------------------------------------------
def test_raw_schema_needs_both_texts():
    task = PairClassification(labels=LABELS)
    schema = task.raw_schema(has_labels=True)
    schema.validate(frame(["a", "b"], ["x", "y"], ["neutral", "entailment"]))
    with pytest.raises(pa.errors.SchemaError):
        schema.validate(frame(["a"], [None], ["neutral"]))
    with pytest.raises(pa.errors.SchemaError):
        schema.validate(frame(["a"], ["x"], ["neutral"]).drop(columns="text_pair"))
    task.raw_schema(has_labels=False).validate(frame(["a"], ["x"]))


def test_a_missing_hypothesis_is_a_row_error_naming_line_and_column():
    task = PairClassification(labels=LABELS)
    df = frame(["a", "b", "c"], ["x", None, "z"], ["neutral", "entailment", "neutral"])
    kept, rejected = check(
        df, task.raw_schema(True), split="train", stage="fetched", on_invalid="drop"
    )
    assert kept["id"].tolist() == [0, 2]
    row = rejected.iloc[0]
    assert (row["where"], row["column"], row["reason"]) == (
        "pairs.jsonl line 2",
        "text_pair",
        "missing value",
    )


def test_processed_schema_keeps_the_pair_column():
    task = PairClassification(labels=LABELS)
    ok = frame(["a"], ["b"], [1]).astype({"label": "int64"})
    task.processed_schema(True).validate(ok)
    with pytest.raises(pa.errors.SchemaError):
        task.processed_schema(True).validate(ok.drop(columns="text_pair"))


# --- encoding --------------------------------------------------------------------------------
BERT_INPUTS = ["input_ids", "token_type_ids", "attention_mask"]


@pytest.fixture(scope="module")
def tokenizer():
    """A WordPiece tokenizer that returns segment ids, like a pretrained BERT's."""
    texts = [f"{r['sentence1']} {r['sentence2']}" for r in nli_rows(30, seed=5)]
    tok = train_tokenizer(texts, vocab_size=120)
    tok.model_input_names = BERT_INPUTS
    return tok


def test_tokenize_encodes_one_pair_input_with_segments(tokenizer):
    task = PairClassification(labels=LABELS)
    df = frame(["the cat reads at home", "a dog runs"], ["the cat never reads", "a dog runs"])
    out = task.tokenize(df, tokenizer, 32)
    assert set(out) == {"input_ids", "token_type_ids"}
    expected = tokenizer(df["text"].tolist(), df["text_pair"].tolist())
    assert out["input_ids"] == expected["input_ids"]
    assert out["token_type_ids"] == expected["token_type_ids"]
    ids, types = out["input_ids"][0], out["token_type_ids"][0]
    seps = [i for i, t in enumerate(ids) if t == tokenizer.sep_token_id]
    assert ids[0] == tokenizer.cls_token_id and len(seps) == 2 and seps[1] == len(ids) - 1
    assert types == [0] * (seps[0] + 1) + [1] * (len(ids) - seps[0] - 1)
    first = tokenizer.decode(ids[1 : seps[0]], skip_special_tokens=True)
    second = tokenizer.decode(ids[seps[0] + 1 : seps[1]], skip_special_tokens=True)
    assert (first, second) == ("the cat reads at home", "the cat never reads")


def test_tokenize_truncates_the_pair_to_max_length(tokenizer):
    task = PairClassification(labels=LABELS)
    long = " ".join(["the cat reads"] * 10)
    out = task.tokenize(frame([long], [long]), tokenizer, 12)
    assert len(out["input_ids"][0]) == 12 == len(out["token_type_ids"][0])
    assert out["input_ids"][0].count(tokenizer.sep_token_id) == 2  # both texts kept


def test_tokenize_leaves_out_segments_when_the_model_takes_none(tokenizer):
    task = PairClassification(labels=LABELS)
    tokenizer.model_input_names = ["input_ids", "attention_mask"]  # as for RoBERTa
    try:
        out = task.tokenize(frame(["a dog runs"], ["a dog sleeps"]), tokenizer, 32)
    finally:
        tokenizer.model_input_names = BERT_INPUTS
    assert list(out) == ["input_ids"]


def test_state_round_trip():
    task = PairClassification(labels=LABELS)
    again = registry.tasks.get("pair_classification").from_state(task.state())
    assert isinstance(again, PairClassification)
    assert again.labels == LABELS and again.model_kwargs() == task.model_kwargs()
    logits = torch.tensor([[0.1, 2.0, -1.0]])
    assert again.readable({k: v.numpy() for k, v in again.decode(logits).items()})["pred"][0] == (
        "neutral"
    )


# --- data through the pipeline (no training) -------------------------------------------------
def test_preprocessing_rewrites_and_dedupes_both_texts(tmp_path):
    rows = nli_rows(30, seed=3)
    rows[1]["sentence2"] = "  <b>a   dog</b> runs  "
    rows[2] = {**rows[0], "pair_id": 900}  # the same pair again: a duplicate
    rows[3] = {**rows[0], "pair_id": 901, "sentence2": "the pilot never sleeps"}  # not one
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    cfg = pair_config(tmp_path, train, train)
    del cfg["data"]["test"]
    cfg["preprocess"] = {"steps": ["strip_html", "whitespace", "dedupe"], "validation_size": 0.2}
    splits, rejected = Pipeline(load_config(cfg)).load_data()
    both = pd.concat([splits["train"], splits["validation"]]).set_index("id")
    assert both.loc[rows[1]["pair_id"], "text_pair"] == "a dog runs"
    assert 901 in both.index and 900 not in both.index
    assert rejected.set_index("id").loc[900, "reason"] == "duplicate text"


def test_missing_hypothesis_stops_the_run_naming_file_line_and_column(tmp_path, cli):
    rows = nli_rows(12, seed=3)
    rows[4]["sentence2"] = None
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(pair_config(tmp_path, train, train)), encoding="utf-8")
    rc, out, err = cli("validate", path)
    assert rc == 2
    assert f"{train} line 5: column 'text_pair': missing value" in err
    assert not (tmp_path / "runs").exists()


# --- a whole run -----------------------------------------------------------------------------
class Trained:
    """`plmkit run` on JSONL files with sentence1/sentence2/gold_label columns, no trailing
    newline, label names, one row without a hypothesis (dropped) and a wrong label (dropped)."""

    def __init__(self, root: Path):
        rows = nli_rows(150, seed=1)
        rows[10]["sentence2"] = None
        rows[20]["gold_label"] = "unrelated"
        self.bad_ids = {rows[10]["pair_id"], rows[20]["pair_id"]}
        self.train = write_jsonl(root / "train.jsonl", rows)
        self.test_rows = nli_rows(45, seed=2, start=1000)
        self.test = write_jsonl(root / "test.jsonl", self.test_rows)
        config = pair_config(root, self.train, self.test)
        config["data"]["on_invalid"] = "drop"
        config["data"]["labels"] = LABELS
        self.config = root / "config.yaml"
        self.config.write_text(yaml.safe_dump(config), encoding="utf-8")
        AcceleratorState._reset_state(reset_partial_state=True)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.rc = main(["run", str(self.config)])
        self.stdout = out.getvalue()
        self.run = root / "runs" / "nli"
        self.metrics = json.loads((self.run / "metrics.json").read_text(encoding="utf-8"))
        self.predictions = pd.read_csv(self.run / "predictions" / "test.csv")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Trained:
    return Trained(tmp_path_factory.mktemp("nli"))


def test_run_learns_from_the_pairs(trained):
    assert trained.rc == 0, trained.stdout
    test = trained.metrics["test"]
    assert test["num_examples"] == 45
    assert test["accuracy"] >= 0.8  # chance is 1/3: the hypothesis reached the model
    assert test["confusion_matrix"]["labels"] == LABELS  # data.labels: names in id order


def test_predictions_name_labels_in_file_order(trained):
    preds = trained.predictions
    assert preds["id"].tolist() == [r["pair_id"] for r in trained.test_rows]
    assert preds["label"].tolist() == [r["gold_label"] for r in trained.test_rows]
    assert set(preds["pred"]) <= set(LABELS)
    assert trained.metrics["test"]["accuracy"] == pytest.approx(
        (preds["pred"] == preds["label"]).mean()
    )


def test_bad_rows_end_in_rejected_csv(trained):
    rejected = pd.read_csv(trained.run / "rejected.csv").set_index("id")
    assert set(rejected.index) == trained.bad_ids
    missing = rejected.loc[11]
    assert missing["where"] == f"{trained.train} line 11"
    assert (missing["column"], missing["reason"]) == ("text_pair", "missing value")
    wrong = rejected.loc[21]
    assert wrong["column"] == "label" and wrong["reason"].startswith("not in the label set")
    assert trained.metrics["summary"]["rejected"] == 2


def test_saved_state_and_head(trained):
    state = json.loads((trained.run / "model" / "plmkit.json").read_text(encoding="utf-8"))
    assert state == {
        "task": "pair_classification",
        "state": {"labels": LABELS, "params": None},
    }


def test_a_loaded_run_predicts_pairs_like_the_run(trained):
    loaded = load_run(trained.run)
    df = (
        pd.DataFrame(trained.test_rows)
        .rename(columns={"pair_id": "id", "sentence1": "text", "sentence2": "text_pair"})
        .drop(columns="gold_label")
    )
    table = loaded.evaluate(df).predictions
    assert table["id"].tolist() == trained.predictions["id"].tolist()
    assert table["pred"].tolist() == trained.predictions["pred"].tolist()
    assert table["prob"].to_numpy() == pytest.approx(
        trained.predictions["prob"].to_numpy(), abs=1e-5
    )


def test_predict_reads_a_file_like_the_training_data(trained, cli):
    """sentence1/sentence2/pair_id are mapped onto the pair columns as in the run's config."""
    rc, out, err = cli("predict", trained.run, "--input", trained.test)
    assert rc == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert table["id"].tolist() == trained.predictions["id"].tolist()
    assert table["pred"].tolist() == trained.predictions["pred"].tolist()


def test_evaluate_reproduces_the_test_metrics(trained, cli):
    rc, out, err = cli("evaluate", trained.run, "--data", trained.test)
    assert rc == 0, err
    written = trained.run / "evaluations" / trained.test.name / "metrics.json"
    metrics = json.loads(written.read_text(encoding="utf-8"))
    assert metrics["accuracy"] == pytest.approx(trained.metrics["test"]["accuracy"])
    assert metrics["confusion_matrix"] == trained.metrics["test"]["confusion_matrix"]


def test_predict_an_unlabelled_file_in_the_training_format(trained, cli, tmp_path):
    unlabelled = [
        {k: r[k] for k in ("pair_id", "sentence1", "sentence2")} for r in trained.test_rows
    ]
    path = write_jsonl(tmp_path / "pairs.jsonl", unlabelled)
    rc, out, err = cli("predict", trained.run, "--input", path)
    assert rc == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert "label" not in table.columns
    assert table["pred"].tolist() == trained.predictions["pred"].tolist()
