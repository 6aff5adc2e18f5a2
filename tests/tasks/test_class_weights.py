"""Class weights for (pair) text classification: the option, the weights learned from train,
the weighted cross-entropy, state, and a run on imbalanced data."""

from __future__ import annotations

import io
import json
import logging
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from accelerate.state import AcceleratorState
from conftest import make_rows, write_tsv
from pydantic import ValidationError

from plmkit.config import load_config
from plmkit.errors import ConfigError, DataError
from plmkit.predict import load_run
from plmkit.tasks import TextClassification
from plmkit.tasks.pair import PairClassification


def frame(labels) -> pd.DataFrame:
    return pd.DataFrame({"id": range(len(labels)), "text": ["t"] * len(labels), "label": labels})


def fitted(labels, class_weights, configured=None, cls=TextClassification) -> TextClassification:
    task = cls({"class_weights": class_weights}, labels=configured)
    df = frame(labels)
    if cls is PairClassification:
        df["text_pair"] = "p"
    task.fit(task.prepare(df))
    return task


class Out:
    def __init__(self, logits, loss=None):
        self.logits, self.loss = logits, loss


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    AcceleratorState._reset_state(reset_partial_state=True)
    yield


# --- the option ------------------------------------------------------------------------------
def test_option_values():
    assert TextClassification().params.class_weights is None
    assert TextClassification({"class_weights": "balanced"}).params.class_weights == "balanced"
    yaml_ints = TextClassification({"class_weights": {0: 1, 1: 4.5}})
    assert yaml_ints.params.class_weights == {"0": 1.0, "1": 4.5}
    for bad in ("balance", {"pos": 0}, {"pos": -1.0}, ["pos"]):
        with pytest.raises(ValidationError):
            TextClassification({"class_weights": bad})
    with pytest.raises(ValidationError):
        TextClassification({"weights": "balanced"})


def test_config_check_reports_bad_options(tiny_config):
    tiny_config["task_options"] = {"class_weights": "balanceed"}
    with pytest.raises(ConfigError, match="task_options.class_weights"):
        load_config(tiny_config)
    tiny_config["task_options"] = {"class_weight": "balanced"}
    with pytest.raises(
        ConfigError, match="task_options.class_weight.*did you mean 'class_weights'"
    ):
        load_config(tiny_config)
    tiny_config["task_options"] = {"class_weights": {"1": 3}}
    assert load_config(tiny_config).task_options == {"class_weights": {"1": 3}}


# --- weights from train ----------------------------------------------------------------------
def test_balanced_weights_follow_train_counts():
    task = fitted(["neg", "neg", "neg", "pos"], "balanced")
    assert task.weights == pytest.approx([4 / (2 * 3), 4 / (2 * 1)])


def test_balanced_weights_count_names_and_ids_and_skip_invalid_labels():
    task = fitted(["a", "1", 0, "c", "zzz", None, "b"], "balanced", configured=["a", "b", "c"])
    # a: 2 (name + id 0), b: 2 (id 1 + name), c: 1; "zzz" and null are the schema's to report
    assert task.weights == pytest.approx([5 / 6, 5 / 6, 5 / 3])


def test_a_label_missing_from_train_weighs_one(caplog):
    with caplog.at_level(logging.WARNING):
        task = fitted(["a", "a", "b"], "balanced", configured=["a", "b", "c"])
    assert task.weights == pytest.approx([3 / 6, 3 / 3, 1.0])
    assert "['c']" in caplog.text


def test_given_weights_by_label_name():
    task = fitted(["neg", "pos", "neu"], {"pos": 5, "neg": 2.5})
    assert task.labels == ["neg", "neu", "pos"]
    assert task.weights == [2.5, 1.0, 5.0]  # unlisted labels weigh 1
    ints = fitted([0, 1, 1], {0: 3})
    assert ints.weights == [3.0, 1.0]
    with pytest.raises(DataError, match=r"class_weights: 'postive' not in the label set"):
        fitted(["neg", "pos"], {"postive": 5})


def test_without_the_option_nothing_changes():
    task = fitted(["neg", "pos"], None)
    assert task.weights is None
    batch = {"input_ids": torch.ones(2, 3), "labels": torch.tensor([0, 1])}
    assert task.model_inputs(batch) is batch  # the head computes its own loss
    sentinel = torch.tensor(0.123)
    assert task.loss(Out(torch.zeros(2, 2), sentinel), batch) is sentinel


# --- the weighted loss -----------------------------------------------------------------------
def test_weighted_cross_entropy_matches_its_definition():
    task = fitted(["neg", "neg", "neg", "pos"], "balanced")  # weights 2/3 and 2
    batch = {"input_ids": torch.ones(3, 2), "labels": torch.tensor([0, 1, 1])}
    assert list(task.model_inputs(batch)) == ["input_ids"]
    logits = torch.tensor([[2.0, 0.0], [0.5, 0.5], [-1.0, 1.0]])
    got = task.loss(Out(logits.half()), batch).item()
    w = [2 / 3, 2.0]
    nll = [-torch.log_softmax(logits, -1)[i, y].item() for i, y in enumerate([0, 1, 1])]
    by_hand = (w[0] * nll[0] + w[1] * nll[1] + w[1] * nll[2]) / (w[0] + 2 * w[1])
    assert got == pytest.approx(by_hand, rel=1e-3)
    assert got == pytest.approx(
        F.cross_entropy(logits, batch["labels"], weight=torch.tensor(w)).item(), rel=1e-3
    )


def test_pair_classification_takes_class_weights_too():
    task = fitted(["e", "n", "n", "c", "c", "c"], "balanced", cls=PairClassification)
    assert task.weights == pytest.approx([6 / 9, 6 / 3, 6 / 6])
    assert "labels" not in task.model_inputs({"input_ids": torch.ones(1, 1), "labels": 0})


# --- state -----------------------------------------------------------------------------------
def test_state_keeps_the_weights():
    task = fitted(["neg", "neg", "neg", "pos"], "balanced")
    state = json.loads(json.dumps(task.state()))
    assert state == {
        "labels": ["neg", "pos"],
        "params": {"class_weights": "balanced"},
        "weights": pytest.approx([2 / 3, 2.0]),
    }
    again = TextClassification.from_state(state)
    assert again.weights == state["weights"] and again.params.class_weights == "balanced"
    assert "labels" not in again.model_inputs({"input_ids": torch.ones(1, 1), "labels": 0})


def test_state_without_weights_is_the_one_runs_always_saved():
    task = fitted(["neg", "pos"], None)
    assert task.state() == {"labels": ["neg", "pos"], "params": None}
    again = TextClassification.from_state({"labels": ["neg", "pos"], "params": None})
    assert again.weights is None and again.params.class_weights is None


# --- a run on imbalanced data ----------------------------------------------------------------
def test_run_with_balanced_weights_on_imbalanced_data(tiny_config, tmp_path, write_config, cli):
    rows = [r for r in make_rows(150, seed=1) if r[2] == 0 or r[0] % 8 == 0]
    write_tsv(tmp_path / "train.tsv", rows)  # the tiny_config's train file, now imbalanced
    counts = [sum(1 for r in rows if r[2] == c) for c in (0, 1)]
    assert counts[0] >= 4 * counts[1]
    tiny_config["task_options"] = {"class_weights": "balanced"}
    tiny_config["training"].update(epochs=2, device="cpu", best_metric="macro_f1")
    rc, out, err = cli("run", write_config(tiny_config))
    assert rc == 0, err
    run = tmp_path / "runs" / "tiny"

    saved = json.loads((run / "model" / "plmkit.json").read_text(encoding="utf-8"))
    n = sum(counts)
    assert saved["task"] == "text_classification"
    assert saved["state"]["params"] == {"class_weights": "balanced"}
    assert saved["state"]["weights"] == pytest.approx([n / (2 * c) for c in counts], rel=1e-5)
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert math.isfinite(metrics["test"]["loss"]) and metrics["test"]["num_examples"] == 40

    loaded = load_run(run)
    assert loaded.task.weights == saved["state"]["weights"]
    rc, out, err = cli("predict", run, "--text", "영화 재밌다 최고다", "--text", "지루하다 실망")
    assert rc == 0, err
    assert len(pd.read_csv(io.StringIO(out))) == 2
