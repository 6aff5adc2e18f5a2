"""Regression: numeric targets checked row by row, target scaling, pair or single inputs, the
losses, the metrics against hand-computed values, state, and whole runs plus predict."""

from __future__ import annotations

import contextlib
import io
import json
import math
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
from plmkit.config import load_config
from plmkit.errors import ConfigError, DataError
from plmkit.models import train_tokenizer
from plmkit.predict import load_run
from plmkit.tasks.regression import Regression, RegressionMetrics, as_number, rankdata
from plmkit.validation import check

COLORS = ["red", "blue", "green", "black", "white", "pink", "gray", "gold"]
THINGS = ["car", "house", "ball", "shirt", "door", "lamp", "cup", "hat"]
ANIMALS = ["fox", "owl", "bee", "cow", "elk", "yak", "ant", "emu"]
TINY_BERT = {
    "architecture": "bert",
    "vocab_size": 200,
    "hidden_size": 64,
    "num_layers": 1,
    "num_heads": 2,
}


def count_rows(n: int, seed: int, start: int = 1) -> list[tuple]:
    """(id, text, score): the score grows with the number of times "great" occurs."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        k = i % 4
        words = ["great"] * k + rng.sample(COLORS + THINGS, 5 - k)
        rng.shuffle(words)
        rows.append((start + i, " ".join(words), 1.0 + 1.5 * k))
    return rows


def pair_rows(n: int, seed: int, start: int = 1) -> list[tuple]:
    """(id, text, text_pair, label): text_pair is text with k words swapped for animals;
    label = (4 - k) * 1.25, a similarity on 0..5."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        k = i % 5
        a = rng.sample(COLORS, 2) + rng.sample(THINGS, 2)
        b = list(a)
        for j in rng.sample(range(4), k):
            b[j] = rng.choice(ANIMALS)
        rows.append((start + i, " ".join(a), " ".join(b), (4 - k) * 1.25))
    return rows


def write_csv(path: Path, header: list[str], rows) -> Path:
    df = pd.DataFrame(rows, columns=header)
    path.write_text(df.to_csv(index=False), encoding="utf-8")
    return path


def frame(labels, texts=None, pairs=None) -> pd.DataFrame:
    texts = texts or [f"text {i}" for i in range(len(labels))]
    df = pd.DataFrame({"id": range(len(labels)), "text": texts, "label": labels})
    if pairs is not None:
        df.insert(2, "text_pair", pairs)
    df.attrs = {"source": "scores.csv", "line_offset": 2}
    return df


def fitted(labels, **params) -> Regression:
    task = Regression(params)
    task.fit(frame(labels))
    return task


def run_config(root: Path, name: str, train: Path, test: Path, **data) -> dict:
    return {
        "task": "regression",
        "seed": 7,
        "data": {"train": str(train), "test": str(test), **data},
        "model": {"from_scratch": TINY_BERT, "max_length": 32},
        "training": {
            "epochs": 4,
            "batch_size": 4,
            "learning_rate": 2e-3,
            "device": "cpu",
            "best_metric": "rmse",
        },
        "output": {"dir": str(root / "runs"), "name": name},
    }


def cli_run(config: dict, path: Path) -> tuple[int, str]:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    AcceleratorState._reset_state(reset_partial_state=True)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["run", str(path)])
    return rc, out.getvalue()


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    AcceleratorState._reset_state(reset_partial_state=True)
    yield


# --- the adapter -----------------------------------------------------------------------------
def test_registered_with_columns_and_metrics():
    assert registry.tasks.get("regression") is Regression
    assert Regression.columns == {"id": False, "text": True, "text_pair": False, "label": False}
    assert Regression.text_columns == ("text", "text_pair")
    assert Regression.stratify_by is None
    assert Regression.default_metric() == "rmse"
    lower = [m for m in Regression.metric_names() if not Regression.greater_is_better(m)]
    assert lower == ["rmse", "mse", "mae", "loss"]
    assert Regression.greater_is_better("pearson") and Regression.greater_is_better("spearman")


def test_params_defaults_and_checks():
    task = Regression()
    assert (task.params.loss, task.params.scale) == ("mse", "standard")
    with pytest.raises(ValidationError):
        Regression({"loss": "l2"})
    with pytest.raises(ValidationError):
        Regression({"scaling": "none"})


def test_config_check_reports_bad_task_options(tmp_path):
    cfg = {
        "task": "regression",
        "task_options": {"loss": "cross_entropy", "scael": "none"},
        "data": {"train": "t.csv"},
        "model": {"from_scratch": TINY_BERT},
        "training": {"best_metric": "accuracy"},
    }
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    text = str(exc.value)
    assert "task_options.loss" in text and "task_options.scael" in text
    assert "training.best_metric" in text and "rmse" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3.5", 3.5), (" -2 ", -2.0), ("1e2", 100.0), (4, 4.0), (0.25, 0.25), (np.int64(3), 3.0)],
)
def test_as_number_reads_numbers(value, expected):
    assert as_number(value) == expected


@pytest.mark.parametrize(
    "value", ["abc", "", "  ", "nan", "inf", "1_000", "3,5", None, float("nan"), True, [1]]
)
def test_as_number_refuses_the_rest(value):
    assert as_number(value) is None


def test_fit_learns_mean_and_std_from_valid_train_targets():
    task = fitted(["1", "abc", 3.0, "5", None])  # invalid ones are the schema's to report
    assert task.mean == pytest.approx(3.0)
    assert task.std == pytest.approx(math.sqrt(8 / 3))
    assert task.pairs is False


def test_fit_without_scaling_and_with_a_constant_target():
    task = fitted(["1", "3"], scale="none")
    assert (task.mean, task.std) == (0.0, 1.0)
    task = fitted(["2", "2", "2"])
    assert (task.mean, task.std) == (2.0, 1.0)


def test_fit_needs_two_numeric_targets_and_a_label_column():
    with pytest.raises(DataError, match="scores.csv.*1 numeric value"):
        fitted(["1", "x"])
    with pytest.raises(DataError, match="no label column"):
        Regression().fit(frame(["1"]).drop(columns="label"))


def test_prepare_leaves_targets_alone():
    df = frame(["1.5", "abc", ""])
    assert Regression().prepare(df)["label"].tolist() == ["1.5", "abc", ""]


def test_raw_schema_reports_each_non_numeric_target():
    task = fitted(["1", "2"])
    df = frame(["1.5", "abc", "", 7, None, "nan"])
    kept, rejected = check(
        df, task.raw_schema(has_labels=True), split="train", stage="fetched", on_invalid="drop"
    )
    assert kept["label"].tolist() == ["1.5", 7]
    assert rejected["where"].tolist() == [f"scores.csv line {i}" for i in (3, 4, 6, 7)]
    assert set(rejected["column"]) == {"label"}
    assert rejected["reason"].tolist() == ["wrong type (expected number)"] * 2 + [
        "missing value",
        "wrong type (expected number)",
    ]
    assert rejected["value"].tolist()[:2] == ["abc", ""]
    with pytest.raises(DataError, match=r"scores.csv line 3: column 'label': wrong type.*'abc'"):
        check(df, task.raw_schema(has_labels=True), split="train", stage="fetched")


def test_raw_schema_without_labels():
    fitted(["1", "2"]).raw_schema(has_labels=False).validate(frame([1]).drop(columns="label"))


def test_encode_targets_gives_floats_on_the_data_scale():
    task = fitted(["1", "3"])
    out = task.encode_targets(frame(["1.5", 2, "-3"]))
    assert out["label"].dtype == "float64"
    assert out["label"].tolist() == [1.5, 2.0, -3.0]
    task.processed_schema(has_labels=True).validate(out)
    targets = task.targets(out)
    assert targets.dtype == np.float32 and targets.tolist() == [1.5, 2.0, -3.0]
    with pytest.raises(pa.errors.SchemaError):
        task.processed_schema(has_labels=True).validate(frame(["1"]))


def test_pairs_follow_the_train_split():
    task = Regression()
    task.fit(frame(["1", "2"], pairs=["a", "b"]))
    assert task.pairs
    schema = task.raw_schema(has_labels=False)
    schema.validate(frame(["1"], pairs=["a"]))
    with pytest.raises(pa.errors.SchemaError):
        schema.validate(frame(["1"], pairs=[None]))
    with pytest.raises(pa.errors.SchemaError):
        schema.validate(frame(["1"]))  # the run was trained on pairs: they are required


def test_tokenize_single_texts_or_pairs_as_trained():
    tokenizer = train_tokenizer(["red car blue house", "fox owl"] * 3, vocab_size=100)
    df = frame([1], texts=["red car"], pairs=["fox"])
    single = fitted(["1", "2"])  # trained without text_pair: a text_pair column is ignored
    assert single.tokenize(df, tokenizer, 16) == {"input_ids": tokenizer(["red car"])["input_ids"]}
    paired = Regression()
    paired.fit(frame(["1", "2"], pairs=["a", "b"]))
    out = paired.tokenize(df, tokenizer, 16)
    assert out["input_ids"] == tokenizer(["red car"], ["fox"])["input_ids"]


# --- model, loss, metrics --------------------------------------------------------------------
def test_model_head_and_inputs():
    task = fitted(["1", "3"])
    assert task.model_kwargs() == {"num_labels": 1, "problem_type": "regression"}
    batch = {"input_ids": torch.ones(2, 3), "labels": torch.ones(2)}
    assert list(task.model_inputs(batch)) == ["input_ids"]


@pytest.mark.parametrize("kind", ["mse", "l1", "huber"])
def test_loss_compares_outputs_with_standardised_targets(kind):
    task = fitted(["1", "3"], loss=kind)  # mean 2, std 1
    outputs = type("Out", (), {"logits": torch.tensor([[0.5], [-1.0], [3.0]])})()
    labels = torch.tensor([2.0, 1.0, 2.5])  # standardised: 0, -1, 0.5
    diffs = [0.5, 0.0, 2.5]
    expected = {
        "mse": sum(d * d for d in diffs) / 3,
        "l1": sum(diffs) / 3,
        "huber": (0.5 * 0.25 + 0 + (2.5 - 0.5)) / 3,
    }[kind]
    assert task.loss(outputs, {"labels": labels}).item() == pytest.approx(expected)


def test_rankdata_averages_ties():
    assert rankdata(np.array([10.0, 20.0, 10.0, 30.0, 20.0, 20.0])).tolist() == [
        1.5,
        4.0,
        1.5,
        6.0,
        4.0,
        4.0,
    ]


def test_metrics_match_hand_computed_values():
    metrics = RegressionMetrics(mean=2.0, std=2.0)
    # Outputs are standardised predictions: 2 + 2 * out -> 1, 3, 3, 6 on the data's scale.
    metrics.update(torch.tensor([[-0.5], [0.5]]), torch.tensor([1.0, 2.0]))
    metrics.update(torch.tensor([[0.5], [2.0]]), torch.tensor([4.0, 5.0]))
    got = metrics.compute()
    # errors: 0, 1, -1, 1
    assert got["mse"] == pytest.approx(0.75)
    assert got["rmse"] == pytest.approx(math.sqrt(0.75))
    assert got["mae"] == pytest.approx(0.75)
    # pearson of (1, 3, 3, 6) and (1, 2, 4, 5): means 3.25 and 3
    dx, dy = [-2.25, -0.25, -0.25, 2.75], [-2, -1, 1, 2]
    cov = sum(a * b for a, b in zip(dx, dy, strict=True))
    r = cov / math.sqrt(sum(a * a for a in dx) * sum(b * b for b in dy))
    assert got["pearson"] == pytest.approx(r)
    # spearman: ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4)
    rx, ry = [-1.5, 0.0, 0.0, 1.5], [-1.5, -0.5, 0.5, 1.5]
    rho = sum(a * b for a, b in zip(rx, ry, strict=True)) / math.sqrt(
        sum(a * a for a in rx) * sum(b * b for b in ry)
    )
    assert got["spearman"] == pytest.approx(rho)
    assert got["num_examples"] == 4


def test_correlations_of_a_constant_prediction_are_zero():
    metrics = RegressionMetrics(mean=0.0, std=1.0)
    metrics.update(torch.zeros(3, 1), torch.tensor([1.0, 2.0, 3.0]))
    got = metrics.compute()
    assert (got["pearson"], got["spearman"]) == (0.0, 0.0)
    assert RegressionMetrics(0.0, 1.0).compute()["num_examples"] == 0


def test_decode_and_state_round_trip():
    task = Regression({"loss": "huber"})
    task.fit(frame(["1", "5"], pairs=["a", "b"]))  # mean 3, std 2
    state = json.loads(json.dumps(task.state()))
    assert state == {
        "labels": None,
        "params": {"loss": "huber", "scale": "standard"},
        "mean": 3.0,
        "std": 2.0,
        "pairs": True,
    }
    again = Regression.from_state(state)
    assert (again.mean, again.std, again.pairs, again.params.loss) == (3.0, 2.0, True, "huber")
    decoded = again.decode(torch.tensor([[0.5], [-1.0]]).half())
    assert decoded["pred"].dtype == torch.float32
    assert decoded["pred"].tolist() == [4.0, 1.0]
    readable = again.readable({k: v.numpy() for k, v in decoded.items()})
    assert readable["pred"].tolist() == [4.0, 1.0]
    assert again.readable_targets(np.array([3.7], dtype=np.float32))[0] == np.float32(3.7)


# --- bad targets in a run --------------------------------------------------------------------
def test_a_non_numeric_target_stops_the_run_naming_file_line_and_column(tmp_path, cli):
    rows = count_rows(20, seed=3)
    rows[6] = (rows[6][0], rows[6][1], "abc")
    train = write_csv(tmp_path / "train.csv", ["id", "review", "score"], rows)
    path = tmp_path / "config.yaml"
    cfg = run_config(tmp_path, "bad", train, train, columns={"text": "review", "label": "score"})
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    rc, out, err = cli("validate", path)
    assert rc == 2
    assert f"{train} line 8: column 'label': wrong type (expected number) (value 'abc')" in err


# --- a whole run: one text per row, scores in a CSV column "score" ---------------------------
class Trained:
    def __init__(self, root: Path):
        rows = count_rows(150, seed=1)
        rows[5] = (rows[5][0], rows[5][1], "abc")
        rows[9] = (rows[9][0], rows[9][1], "")
        self.bad = {rows[5][0]: "abc", rows[9][0]: ""}
        self.test_rows = count_rows(40, seed=2, start=1000)
        header = ["id", "review", "score"]
        self.train = write_csv(root / "train.csv", header, rows)
        self.test = write_csv(root / "test.csv", header, self.test_rows)
        config = run_config(
            root,
            "scores",
            self.train,
            self.test,
            columns={"text": "review", "label": "score"},
            on_invalid="drop",
        )
        self.rc, self.stdout = cli_run(config, root / "config.yaml")
        self.run = root / "runs" / "scores"
        self.metrics = json.loads((self.run / "metrics.json").read_text(encoding="utf-8"))
        self.predictions = pd.read_csv(self.run / "predictions" / "test.csv")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Trained:
    return Trained(tmp_path_factory.mktemp("scores"))


def test_run_learns_the_scores(trained):
    assert trained.rc == 0, trained.stdout
    test = trained.metrics["test"]
    assert set(test) >= {"rmse", "mse", "mae", "pearson", "spearman", "loss"}
    assert test["num_examples"] == 40
    assert test["pearson"] > 0.8 and test["rmse"] < 1.0  # the scores' std is 1.68
    history = (trained.run / "history.jsonl").read_text(encoding="utf-8").splitlines()
    rmse = [json.loads(line)["validation"]["rmse"] for line in history]
    assert trained.metrics["summary"]["best_epoch"] == rmse.index(min(rmse)) + 1  # lower wins


def test_predictions_are_on_the_scores_scale(trained):
    preds = trained.predictions
    assert list(preds.columns) == ["id", "label", "pred"]
    assert preds["id"].tolist() == [r[0] for r in trained.test_rows]
    assert preds["label"].tolist() == [r[2] for r in trained.test_rows]  # exact, not rescaled
    err = preds["pred"] - preds["label"]
    assert trained.metrics["test"]["rmse"] == pytest.approx(math.sqrt((err**2).mean()), rel=1e-4)
    assert trained.metrics["test"]["mae"] == pytest.approx(err.abs().mean(), rel=1e-4)


def test_non_numeric_targets_end_in_rejected_csv(trained):
    rejected = pd.read_csv(trained.run / "rejected.csv", keep_default_na=False)
    assert rejected["id"].tolist() == list(trained.bad)
    assert rejected["where"].tolist() == [f"{trained.train} line {i}" for i in (7, 11)]
    assert set(rejected["column"]) == {"label"}
    assert set(rejected["reason"]) == {"wrong type (expected number)"}
    assert rejected["value"].tolist() == list(trained.bad.values())


def test_state_holds_the_scale(trained):
    saved = json.loads((trained.run / "model" / "plmkit.json").read_text(encoding="utf-8"))
    assert saved["task"] == "regression"
    state = saved["state"]
    scores = [1.0 + 1.5 * (i % 4) for i in range(150) if i not in (5, 9)]
    assert state["mean"] == pytest.approx(np.mean(scores))
    assert state["std"] == pytest.approx(np.std(scores))
    assert state["pairs"] is False


def test_predict_texts_and_files(trained, cli):
    texts = [r[1] for r in trained.test_rows[:3]]
    rc, out, err = cli("predict", trained.run, *[a for t in texts for a in ("--text", t)])
    assert rc == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert list(table.columns) == ["id", "pred", "text"]
    assert table["pred"].to_numpy() == pytest.approx(
        trained.predictions["pred"].to_numpy()[:3], abs=1e-4
    )
    rc, out, err = cli("predict", trained.run, "--input", trained.test)
    assert rc == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert table["pred"].to_numpy() == pytest.approx(trained.predictions["pred"], abs=1e-4)


def test_evaluate_reproduces_the_test_metrics(trained, cli):
    rc, out, err = cli("evaluate", trained.run, "--data", trained.test)
    assert rc == 0, err
    written = trained.run / "evaluations" / trained.test.name / "metrics.json"
    metrics = json.loads(written.read_text(encoding="utf-8"))
    for key in ("rmse", "mae", "pearson", "spearman"):
        assert metrics[key] == pytest.approx(trained.metrics["test"][key], abs=1e-5)
    assert f"rmse {metrics['rmse']:.4f}" in out


# --- a whole run on pairs, with an unlabelled test split -------------------------------------
def test_pair_run_predicts_an_unlabelled_test_split(tmp_path, cli):
    header = ["id", "text", "text_pair", "label"]
    train = write_csv(tmp_path / "train.csv", header, pair_rows(60, seed=1))
    test_rows = [r[:3] for r in pair_rows(15, seed=2, start=500)]
    test = write_csv(tmp_path / "test.csv", header[:3], test_rows)
    config = run_config(tmp_path, "pairs", train, test)
    config["training"]["epochs"] = 1
    config["task_options"] = {"loss": "huber"}
    rc, stdout = cli_run(config, tmp_path / "config.yaml")
    assert rc == 0, stdout
    run = tmp_path / "runs" / "pairs"
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert not metrics.get("test")  # predicted, not scored
    assert "rmse" in metrics["validation"]
    preds = pd.read_csv(run / "predictions" / "test.csv")
    assert list(preds.columns) == ["id", "pred"]
    assert preds["id"].tolist() == [r[0] for r in test_rows]
    state = json.loads((run / "model" / "plmkit.json").read_text(encoding="utf-8"))["state"]
    assert state["pairs"] is True and state["params"]["loss"] == "huber"

    rc, out, err = cli("predict", run, "--input", test)  # pairs from the file's two columns
    assert rc == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert table["pred"].to_numpy() == pytest.approx(preds["pred"].to_numpy(), abs=1e-4)
    loaded = load_run(run)
    df = pd.DataFrame(test_rows, columns=header[:3])
    again = loaded.evaluate(df).predictions
    assert again["pred"].to_numpy() == pytest.approx(preds["pred"].to_numpy(), abs=1e-4)
