"""DefaultTrainer on a tiny local model: it learns, keeps the best epoch, stops, repeats."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pandas as pd
import pytest
import torch
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from conftest import make_rows

from plmkit.batching import Encoded, encode
from plmkit.config.schema import ScratchModelConfig, TrainingConfig
from plmkit.errors import ConfigError
from plmkit.models import build_model, train_tokenizer
from plmkit.rundir import RunDir
from plmkit.stages.evaluate import DefaultEvaluator, EvalResult, Evaluator
from plmkit.stages.train import DefaultTrainer, TrainResult, make_accelerator
from plmkit.stages.train import precision as P
from plmkit.tasks import TextClassification

SCRATCH = ScratchModelConfig(
    architecture="bert", vocab_size=200, hidden_size=32, num_layers=1, num_heads=2
)
MAX_LENGTH = 32


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Accelerate keeps one process-wide state; every test here builds its own Accelerator."""
    AcceleratorState._reset_state(reset_partial_state=True)
    yield


@dataclass
class Tiny:
    task: TextClassification
    tokenizer: object
    train: Encoded
    validation: Encoded

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id

    def model(self, seed: int = 0):
        set_seed(seed)
        return build_model(SCRATCH, self.task, self.tokenizer, MAX_LENGTH)


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["id", "text", "label"])


@pytest.fixture(scope="module")
def tiny() -> Tiny:
    train, val = frame(make_rows(120, seed=1)), frame(make_rows(40, seed=2, start_id=1000))
    task = TextClassification()
    task.fit(train)
    train, val = task.encode_targets(train), task.encode_targets(val)
    tokenizer = train_tokenizer(train["text"], SCRATCH.vocab_size)
    return Tiny(
        task,
        tokenizer,
        encode(train, task, tokenizer, MAX_LENGTH, "train"),
        encode(val, task, tokenizer, MAX_LENGTH, "validation"),
    )


def subset(data: Encoded, n: int) -> Encoded:
    inputs = {k: v[:n] for k, v in data.inputs.items()}
    return Encoded(inputs, data.ids[:n], data.targets[:n])


def config(**overrides) -> TrainingConfig:
    values = dict(epochs=3, batch_size=8, learning_rate=3e-3, device="cpu", log_every=1)
    values.update(overrides)
    return TrainingConfig(**values)


def fit(tiny: Tiny, cfg: TrainingConfig, *, evaluator=None, train=None, seed=3, run=None):
    model = tiny.model()
    evaluator = evaluator or DefaultEvaluator(tiny.task, batch_size=64)
    trainer = DefaultTrainer(cfg, tiny.task, evaluator, seed=seed)
    result = trainer.fit(model, train or tiny.train, tiny.validation, pad_id=tiny.pad_id, run=run)
    return model, result


def accuracy(tiny: Tiny, model) -> float:
    out = DefaultEvaluator(tiny.task).evaluate(model, tiny.validation, pad_id=tiny.pad_id)
    return out.metrics["accuracy"]


def strip_times(history):
    return [{k: v for k, v in r.items() if k != "train_seconds"} for r in history]


# --- learning --------------------------------------------------------------------------------
def test_default_trainer_learns_the_tiny_data_and_keeps_the_best_epoch(tiny, tmp_path):
    before = accuracy(tiny, tiny.model())
    run = RunDir(tmp_path)
    _, result = fit(tiny, config(epochs=4), run=run)
    assert isinstance(result, TrainResult)

    history = result.history
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert [r["step"] for r in history] == [15, 30, 45, 60]  # 120 rows / batch 8 per epoch
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    scores = [r["validation"]["accuracy"] for r in history]
    assert max(scores) > before
    assert max(scores) >= 0.9  # the label follows from two sentiment words per row

    # The best epoch is the first with the highest validation accuracy, and its weights are
    # the ones returned: evaluating the returned model reproduces that epoch's score.
    assert result.best_epoch == scores.index(max(scores)) + 1
    assert result.best_metrics == history[result.best_epoch - 1]["validation"]
    assert accuracy(tiny, result.model) == pytest.approx(max(scores))

    lines = (tmp_path / "history.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]
    assert json.loads(lines[-1])["train_loss"] == pytest.approx(history[-1]["train_loss"])


class Scripted(Evaluator):
    """Returns a scripted metric per epoch and records the weights it was shown."""

    def __init__(self, values):
        self.values = list(values)
        self.weights: list[dict[str, torch.Tensor]] = []

    def evaluate(self, model, data, *, pad_id, accelerator=None, with_predictions=False):
        state = model.state_dict()
        self.weights.append({k: v.detach().clone() for k, v in state.items()})
        v = self.values[len(self.weights) - 1]
        return EvalResult(metrics={"accuracy": v, "macro_f1": v, "loss": v})


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "metric, trace, best",
    [
        ("accuracy", [0.6, 0.9, 0.7], 2),
        ("accuracy", [0.5, 0.8, 0.8], 2),  # a tie keeps the earlier epoch
        ("loss", [0.2, 0.5, 0.3], 1),  # lower is better
        ("macro_f1", [0.1, 0.2, 0.3], 3),
    ],
)
def test_the_best_epochs_weights_are_returned(tiny, metric, trace, best):
    scripted = Scripted(trace)
    model, result = fit(
        tiny, config(best_metric=metric), evaluator=scripted, train=subset(tiny.train, 24)
    )
    assert result.best_epoch == best
    assert [r["validation"][metric] for r in result.history] == trace
    assert result.best_metrics[metric] == trace[best - 1]
    final = result.model.state_dict()
    assert same_weights(final, scripted.weights[best - 1])
    others = [w for i, w in enumerate(scripted.weights) if i != best - 1]
    assert others and not any(same_weights(final, w) for w in others)


def test_without_validation_the_last_weights_are_kept(tiny):
    model = tiny.model()
    cfg = config(epochs=2)
    trainer = DefaultTrainer(cfg, tiny.task, DefaultEvaluator(tiny.task), seed=3)
    result = trainer.fit(model, subset(tiny.train, 16), None, pad_id=tiny.pad_id)
    assert result.best_epoch is None and result.best_metrics == {}
    assert all("validation" not in r for r in result.history)
    assert len(result.history) == 2


# --- stopping --------------------------------------------------------------------------------
def test_max_steps_stops_mid_epoch(tiny):
    scripted = Scripted([0.5] * 3)
    _, result = fit(tiny, config(epochs=3, max_steps=5), evaluator=scripted)
    assert len(result.history) == 1  # 15 steps per epoch: stopped inside the first
    assert result.history[0]["step"] == 5
    assert result.history[0]["lr"] == pytest.approx(0.0)  # the schedule ends at max_steps
    assert len(scripted.weights) == 1  # validated once, for the partial epoch


def test_max_steps_across_epochs(tiny):
    _, result = fit(tiny, config(epochs=5, max_steps=20), evaluator=Scripted([0.5] * 5))
    assert [r["step"] for r in result.history] == [15, 20]


def test_max_steps_counts_optimizer_steps_with_gradient_accumulation(tiny):
    cfg = config(epochs=2, max_steps=3, grad_accum_steps=2)
    _, result = fit(tiny, cfg, evaluator=Scripted([0.5] * 2))
    assert [r["step"] for r in result.history] == [3]


# --- determinism -----------------------------------------------------------------------------
def test_same_seed_gives_the_same_history_and_weights(tiny):
    train = subset(tiny.train, 48)
    cfg = config(epochs=2)
    _, first = fit(tiny, cfg, train=train, seed=11)
    _, second = fit(tiny, cfg, train=train, seed=11)
    assert strip_times(first.history) == strip_times(second.history)
    assert same_weights(first.model.state_dict(), second.model.state_dict())
    _, other = fit(tiny, cfg, train=train, seed=12)  # another batch order
    assert other.history[0]["train_loss"] != first.history[0]["train_loss"]


# --- device and precision --------------------------------------------------------------------
def test_auto_precision_is_fp32_on_cpu():
    assert P.resolve_precision("auto", "cpu") == "no"
    assert P.resolve_precision("auto", "mps") == "no"


def test_auto_precision_on_cuda_prefers_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert P.resolve_precision("auto", "cuda") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert P.resolve_precision("auto", "cuda") == "fp16"


def test_explicit_precision_is_kept_and_warned_about_on_cpu(caplog):
    with caplog.at_level(logging.WARNING, logger="plmkit.stages.train.precision"):
        assert P.resolve_precision("bf16", "cpu") == "bf16"
    assert "slower" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="plmkit.stages.train.precision"):
        assert P.resolve_precision("no", "cpu") == "no"
    assert caplog.text == ""


def test_resolve_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert P.resolve_device("auto") == "cpu"
    assert P.resolve_device("cpu") == "cpu"
    with pytest.raises(ConfigError, match="training.device"):
        P.resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert P.resolve_device("auto") == "cuda"


def test_make_accelerator_on_cpu_uses_fp32():
    accelerator = make_accelerator(TrainingConfig(device="cpu", mixed_precision="auto"))
    assert accelerator.device.type == "cpu"
    assert accelerator.mixed_precision == "no"
    assert accelerator.gradient_accumulation_steps == 1
