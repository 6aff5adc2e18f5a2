"""TobitRegression: the censored likelihood, the expected observed rating, limits, metrics,
state, bad ratings, and a whole run plus predict on synthetic censored ratings."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from accelerate.state import AcceleratorState
from pydantic import ValidationError

from plmkit import registry
from plmkit.config import load_config
from plmkit.errors import ConfigError, DataError
from plmkit.pipeline import Pipeline
from plmkit.tasks.tobit import (
    SCALE_SPEED,
    TobitHead,
    TobitRegression,
    censored_mean,
    round_to_scale,
    tobit_nll,
)


def frame(labels, texts=None) -> pd.DataFrame:
    texts = texts or [f"text {i}" for i in range(len(labels))]
    return pd.DataFrame({"id": range(len(labels)), "text": texts, "label": labels})


def fitted(labels=("1", "4", "7", "10"), **params) -> TobitRegression:
    task = TobitRegression(params)
    task.fit(frame(list(labels)))
    return task


def head_logits(task: TobitRegression, mu, sigma) -> torch.Tensor:
    """The standardised logits that give these latent (mu, sigma) in rating units."""
    mu, sigma = torch.tensor(mu, dtype=torch.float64), torch.tensor(sigma, dtype=torch.float64)
    raw = (torch.log(sigma / task.std) - math.log(task.params.scale_init)) / SCALE_SPEED
    return torch.stack([(mu - task.mean) / task.std, raw], -1).float()


def phi_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


# --- options ---------------------------------------------------------------------------------
def test_registered_under_its_name():
    assert registry.tasks.get("tobit_regression") is TobitRegression


def test_default_limits_and_one_sided_limits():
    task = TobitRegression()
    assert (task.lower, task.upper, task.params.scale_init) == (1.0, 10.0, 1.0)
    assert TobitRegression({"lower": None}).lower is None
    assert TobitRegression({"lower": 0, "upper": None}).upper is None


@pytest.mark.parametrize("bad", [{"lower": 5, "upper": 5}, {"lower": 10, "upper": 1}])
def test_lower_must_be_below_upper(bad):
    with pytest.raises(ValidationError, match="must be less than upper"):
        TobitRegression(bad)


def test_scale_init_must_be_positive_and_unknown_options_are_refused():
    with pytest.raises(ValidationError):
        TobitRegression({"scale_init": 0})
    with pytest.raises(ValidationError):
        TobitRegression({"uper": 9})


def test_bad_limits_are_a_config_error_with_their_path():
    config = {
        "task": "tobit_regression",
        "task_options": {"lower": 10, "upper": 1},
        "data": {"train": "x.tsv"},
        "model": {"name_or_path": "m"},
    }
    with pytest.raises(ConfigError, match="task_options.*must be less than upper"):
        load_config(config)


def test_default_best_metric_is_mae_and_directions_are_right():
    assert TobitRegression.default_metric() == "mae"
    assert not TobitRegression.greater_is_better("mae")
    assert not TobitRegression.greater_is_better("rmse")
    assert not TobitRegression.greater_is_better("loss")
    assert TobitRegression.greater_is_better("accuracy")
    assert TobitRegression.stratify_by is None


# --- fit, schemas, targets -------------------------------------------------------------------
def test_fit_learns_mean_and_std_of_the_valid_ratings():
    task = fitted(["1", "4", 7, "10.0", "x", "", "12"])  # the invalid ones are the schema's
    assert task.mean == pytest.approx(5.5)
    assert task.std == pytest.approx(np.std([1, 4, 7, 10]))


def test_fit_needs_labels_and_two_different_ratings():
    df = pd.DataFrame({"text": ["a"]})
    df.attrs["source"] = "train.tsv"
    with pytest.raises(DataError, match="train.tsv.*no label column"):
        TobitRegression().fit(df)
    with pytest.raises(DataError, match="at least 2 different valid ratings"):
        fitted(["10", "10", "x"])


def test_raw_schema_reports_each_bad_rating_once():
    import pandera.pandas as pa

    task = fitted()
    schema = task.raw_schema(has_labels=True)
    schema.validate(frame(["1", "5.5", 10, 1.0, " 7 "]))
    bad = frame(["1", "abc", "", "nan", "inf", "1_0", "0", "11", True])
    with pytest.raises(pa.errors.SchemaErrors) as info:
        schema.validate(bad, lazy=True)
    cases = info.value.failure_cases
    assert sorted(cases["index"].tolist()) == [1, 2, 3, 4, 5, 6, 7, 8]  # each row once
    checks = dict(zip(cases["index"], cases["check"], strict=True))
    assert checks[1] == checks[8] == "dtype('number')"  # read as "wrong type (expected number)"
    assert checks[6] == checks[7] == "in_range(1.0, 10.0)"
    task.raw_schema(has_labels=False).validate(pd.DataFrame({"text": ["x"]}))


def test_one_sided_limits_accept_any_number_on_the_open_side():
    task = fitted(["1", "50", "-3"], lower=None, upper=10.0)
    task.raw_schema(has_labels=True).validate(frame(["-100", "3"]))


def test_encode_targets_gives_floats_and_the_processed_schema_checks_the_range():
    import pandera.pandas as pa

    task = fitted()
    out = task.encode_targets(frame(["1", " 7 ", 10]))
    assert out["label"].tolist() == [1.0, 7.0, 10.0] and out["label"].dtype == "float64"
    assert task.targets(out).dtype == np.float32
    task.processed_schema(has_labels=True).validate(out)
    with pytest.raises(pa.errors.SchemaError):
        task.processed_schema(has_labels=True).validate(frame([0.5]).astype({"label": "float64"}))


# --- the loss --------------------------------------------------------------------------------
def hand_nll(y, mu, sigma, lower=1.0, upper=10.0) -> float:
    if y <= lower:
        return -math.log(phi_cdf((lower - mu) / sigma))
    if y >= upper:
        return -math.log(1 - phi_cdf((upper - mu) / sigma))
    z = (y - mu) / sigma
    return 0.5 * z * z + math.log(sigma) + 0.5 * math.log(2 * math.pi)


def test_loss_matches_a_hand_computation():
    task = fitted()
    mu, sigma = [2.0, 8.5, 6.0, 9.0, 0.5], [1.5, 2.0, 1.0, 3.0, 0.7]
    y = [1.0, 10.0, 7.0, 3.0, 1.0]  # censored low, censored high, uncensored x2, low again
    outputs = SimpleNamespace(logits=head_logits(task, mu, sigma))
    batch = {"labels": torch.tensor(y)}
    expected = [hand_nll(*args) for args in zip(y, mu, sigma, strict=True)]
    got_rows = tobit_nll(*task.latent(outputs.logits), batch["labels"], 1.0, 10.0)
    assert got_rows.tolist() == pytest.approx(expected, rel=1e-4)
    assert task.loss(outputs, batch).item() == pytest.approx(np.mean(expected), rel=1e-4)


def test_one_sided_loss_is_gaussian_on_the_open_side():
    mu, log_sigma = torch.tensor([3.0, 3.0]), torch.tensor([0.0, 0.0])
    y = torch.tensor([-5.0, 12.0])
    got = tobit_nll(mu, log_sigma, y, None, 10.0)
    assert got[0].item() == pytest.approx(hand_nll(-5.0, 3.0, 1.0, -math.inf, 10.0), rel=1e-5)
    assert got[1].item() == pytest.approx(-math.log(1 - phi_cdf(7.0)), rel=1e-4)


def test_model_inputs_drop_the_labels():
    batch = {"input_ids": torch.ones(1, 2), "labels": torch.ones(1)}
    assert set(fitted().model_inputs(batch)) == {"input_ids"}


def test_gradients_stay_finite_for_extreme_outputs():
    task = fitted()
    logits = torch.tensor(
        [[1e4, 50.0], [-1e4, -50.0], [1e4, -50.0], [-1e4, 50.0], [30.0, -30.0], [-30.0, -30.0]],
        requires_grad=True,
    )
    y = torch.tensor([1.0, 10.0, 5.0, 5.0, 1.0, 10.0])
    loss = task.loss(SimpleNamespace(logits=logits), {"labels": y})
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


# --- the head: mu per text, one learned scale -----------------------------------------------
@pytest.mark.parametrize("architecture", ["bert", "electra"])
def test_head_has_one_learned_scale_shared_by_all_texts(architecture, tmp_path):
    from transformers import BertConfig, ElectraConfig

    task = fitted()
    config_cls = BertConfig if architecture == "bert" else ElectraConfig
    config = config_cls(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        **task.model_kwargs(),
    )
    model = TobitHead.from_config(config).eval()  # no dropout: outputs comparable below
    ids = torch.randint(5, 50, (4, 7))
    logits = model(input_ids=ids).logits
    assert logits.shape == (4, 2)
    assert torch.unique(logits[:, 1]).numel() == 1  # the same for every text
    assert logits[:, 0].std() > 0

    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    task.loss(model(input_ids=ids), {"labels": torch.tensor([1.0, 3.0, 6.0, 10.0])}).backward()
    optimizer.step()
    logits = model(input_ids=ids).logits
    assert torch.unique(logits[:, 1]).numel() == 1 and logits[0, 1] != 0  # it learned, still one

    model.save_pretrained(tmp_path)
    again = TobitHead.from_pretrained(tmp_path)
    torch.testing.assert_close(again(input_ids=ids).logits, logits)


def test_head_needs_a_two_output_layer():
    with pytest.raises(TypeError, match="no 2-output linear layer"):
        from plmkit.tasks.tobit import share_scale

        share_scale(torch.nn.Sequential(torch.nn.Linear(3, 4)))


# --- the expected observed rating ------------------------------------------------------------
@pytest.mark.parametrize(
    ("mu", "sigma", "lower", "upper"),
    [
        (5.5, 3.0, 1.0, 10.0),
        (11.0, 2.0, 1.0, 10.0),
        (0.0, 1.5, 1.0, 10.0),
        (9.0, 4.0, None, 10.0),
        (2.0, 2.5, 1.0, None),
        (4.0, 1.0, None, None),
    ],
)
def test_censored_mean_matches_monte_carlo(mu, sigma, lower, upper):
    draws = np.random.default_rng(0).normal(mu, sigma, size=2_000_000)
    expected = np.clip(draws, lower, upper).mean()
    got = censored_mean(torch.tensor([mu]), torch.tensor([sigma]), lower, upper).item()
    assert got == pytest.approx(expected, abs=0.01)


def test_censored_mean_stays_within_the_limits_for_extreme_latents():
    mu, sigma = torch.tensor([1e6, -1e6, 5.0, 5.5]), torch.tensor([1e-3, 1e3, 1e-6, 1e6])
    got = censored_mean(mu, sigma, 1, 10)
    assert got.tolist() == pytest.approx([10.0, 1.0, 5.0, 5.5], abs=1e-3)


def test_decode_gives_expected_rating_rounded_median_and_latents():
    task = fitted()
    out = task.decode(head_logits(task, [5.0, 12.0], [1.0, 0.5]))
    assert set(out) == {"pred", "rounded", "mean", "median", "mu", "sigma"}
    torch.testing.assert_close(out["pred"], out["mean"])
    assert out["pred"][0].item() == pytest.approx(5.0, abs=1e-3)
    assert out["pred"][1].item() == pytest.approx(10.0, abs=1e-3)
    assert out["rounded"].tolist() == [5, 10]
    assert out["median"].tolist() == pytest.approx([5.0, 10.0], abs=1e-4)
    assert out["mu"].tolist() == pytest.approx([5.0, 12.0], abs=1e-4)
    assert out["sigma"].tolist() == pytest.approx([1.0, 0.5], rel=1e-4)


# --- metrics ---------------------------------------------------------------------------------
def test_round_to_scale_rounds_halves_up_and_clips():
    x = torch.tensor([0.2, 3.4, 3.5, 9.6, 12.0])
    assert round_to_scale(x, 1.0, 10.0).tolist() == [1, 3, 4, 10, 10]


def test_metrics_round_then_compare_and_accumulate_over_batches():
    task = fitted()
    sigma = [1e-3] * 3  # a sharp latent: the expected rating is mu clipped to the limits
    metrics = task.new_metrics()
    metrics.update(head_logits(task, [3.4, 3.6, 12.0], sigma), torch.tensor([3.0, 3.0, 10.0]))
    metrics.update(head_logits(task, [0.2], [1e-3]), torch.tensor([2.0]))
    got = metrics.compute()
    preds, labels = np.array([3.4, 3.6, 10.0, 1.0]), np.array([3.0, 3.0, 10.0, 2.0])
    assert got["accuracy"] == pytest.approx(2 / 4)  # 3 ok, 4 != 3, 10 ok, 1 != 2
    assert got["mae"] == pytest.approx(np.abs(preds - labels).mean(), abs=1e-3)
    assert got["rmse"] == pytest.approx(np.sqrt(((preds - labels) ** 2).mean()), abs=1e-3)
    assert got["mae_censored"] == pytest.approx(0.0, abs=1e-3)  # the 10
    assert got["mae_uncensored"] == pytest.approx((0.4 + 0.6 + 1.0) / 3, abs=1e-3)
    assert (got["num_examples"], got["num_censored"]) == (4, 1)


def test_point_median_predicts_and_scores_the_clipped_latent_mean():
    task = fitted(point="median")
    logits = head_logits(task, [9.0, 12.0, 0.0], [3.0, 3.0, 3.0])
    out = task.decode(logits)
    assert out["pred"].tolist() == pytest.approx([9.0, 10.0, 1.0], abs=1e-4)
    assert out["mean"][0].item() < 9.0  # a wide normal near the top: the mean is pulled down
    metrics = task.new_metrics()
    metrics.update(logits, torch.tensor([10.0, 10.0, 1.0]))
    assert metrics.compute()["mae"] == pytest.approx(1 / 3, abs=1e-4)


def test_metrics_with_no_examples():
    got = fitted().new_metrics().compute()
    assert got["num_examples"] == 0 and got["mae"] == 0.0 and got["mae_censored"] is None


# --- state -----------------------------------------------------------------------------------
def test_state_round_trip_through_json():
    task = fitted(["2", "3", "10"], lower=2.0, scale_init=0.5)
    state = json.loads(json.dumps(task.state()))
    assert state["params"] == {"lower": 2.0, "upper": 10.0, "scale_init": 0.5, "point": "mean"}
    again = TobitRegression.from_state(state)
    assert (again.mean, again.std) == (task.mean, task.std)
    logits = torch.tensor([[0.3, -0.2], [2.0, 1.0]])
    for key, value in task.decode(logits).items():
        torch.testing.assert_close(again.decode(logits)[key], value)


def test_latent_needs_a_fitted_task():
    with pytest.raises(RuntimeError, match="fit"):
        TobitRegression().latent(torch.zeros(1, 2))


# --- bad ratings through the pipeline --------------------------------------------------------
TOKENS = (
    "최악 형편없다 지루하다 별로다 아쉽다 그저그렇다 무난하다 괜찮다 좋았다 재밌다 훌륭하다 최고다"
)
TOKENS = TOKENS.split()
FILLER = ["영화", "배우", "연기", "스토리", "음악", "결말"]


def rating_rows(n: int, seed: int, start_id: int = 1) -> list[tuple[int, str, int]]:
    """Latent level k in 0..11, shown by word TOKENS[k]; the rating is k clipped to 1..10."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        k = rng.choice(range(12))
        words = [TOKENS[k], TOKENS[k]] + rng.sample(FILLER, 3)
        rng.shuffle(words)
        rows.append((start_id + i, " ".join(words), min(max(k, 1), 10)))
    return rows


def write_rows(path: Path, rows) -> Path:
    lines = ["id\treview\trating"] + ["\t".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tobit_config(tmp_path: Path, train: Path, test: Path, **data) -> dict:
    return {
        "task": "tobit_regression",
        "seed": 3,
        "data": {
            "source": "files",
            "train": str(train),
            "test": str(test),
            "quoting": "none",
            "columns": {"text": "review", "label": "rating"},
            **data,
        },
        "model": {
            "from_scratch": {
                "architecture": "bert",
                "vocab_size": 300,
                "hidden_size": 32,
                "num_layers": 1,
                "num_heads": 2,
            },
            "max_length": 16,
        },
        "training": {"epochs": 6, "batch_size": 16, "learning_rate": 3e-3, "device": "cpu"},
        "output": {"dir": str(tmp_path / "runs"), "name": "tobit"},
    }


@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    rows = rating_rows(30, seed=1)
    rows[3] = (rows[3][0], rows[3][1], "ten")
    rows[7] = (rows[7][0], rows[7][1], 11)
    return {
        "train": write_rows(tmp_path / "train.tsv", rows),
        "test": write_rows(tmp_path / "test.tsv", rating_rows(10, seed=2, start_id=100)),
    }


def test_bad_ratings_stop_the_run_naming_file_line_and_column(tmp_path, bad_files):
    config = load_config(tobit_config(tmp_path, bad_files["train"], bad_files["test"]))
    with pytest.raises(DataError) as info:
        Pipeline(config).load_data()
    message = str(info.value)
    assert "2 invalid row(s) in split 'train'" in message
    assert f"{bad_files['train']} line 5: column 'label': wrong type (expected number)" in message
    assert "(value 'ten')" in message
    assert f"{bad_files['train']} line 9: column 'label': out of range (1.0, 10.0)" in message


def test_bad_ratings_are_dropped_into_rejected_rows(tmp_path, bad_files):
    config = tobit_config(tmp_path, bad_files["train"], bad_files["test"], on_invalid="drop")
    splits, rejected = Pipeline(load_config(config)).load_data()
    assert sorted(rejected["value"].tolist()) == ["11", "ten"]
    assert set(rejected["column"]) == {"label"}
    assert len(splits["train"]) + len(splits["validation"]) == 28
    assert splits["train"]["label"].dtype == "float64"


# --- end to end ------------------------------------------------------------------------------
def test_run_and_predict_end_to_end(tmp_path, cli, write_config):
    AcceleratorState._reset_state(reset_partial_state=True)
    train = write_rows(tmp_path / "train.tsv", rating_rows(240, seed=1))
    test_rows = rating_rows(40, seed=2, start_id=1000)
    test = write_rows(tmp_path / "test.tsv", test_rows)
    rc, out, err = cli("run", write_config(tobit_config(tmp_path, train, test)))
    assert rc == 0, err
    run = tmp_path / "runs" / "tobit"

    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert {"mae", "rmse", "accuracy", "loss"} <= set(metrics["test"])
    assert metrics["test"]["num_examples"] == 40
    preds = pd.read_csv(run / "predictions" / "test.csv")
    outputs = ["pred", "rounded", "mean", "median", "mu", "sigma"]
    assert list(preds.columns) == ["id", "label", *outputs]
    assert preds["pred"].between(1, 10).all() and (preds["sigma"] > 0).all()
    assert metrics["test"]["mae"] == pytest.approx((preds["pred"] - preds["label"]).abs().mean())
    baseline = (preds["label"] - preds["label"].mean()).abs().mean()
    assert metrics["test"]["mae"] < baseline  # the words give the rating away: it learned some
    state = json.loads((run / "model" / "plmkit.json").read_text(encoding="utf-8"))
    assert state["task"] == "tobit_regression" and state["state"]["std"] > 0

    texts = [r[1] for r in test_rows[:3]]
    rc, out, err = cli("predict", run, *[a for t in texts for a in ("--text", t)])
    assert rc == 0, err
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert list(table.columns) == ["id", *outputs, "text"]
    assert table["pred"].to_numpy() == pytest.approx(preds["pred"][:3].to_numpy(), abs=1e-4)
