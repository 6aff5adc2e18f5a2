"""Checkpoints and resume: a run killed at a random step and resumed ends exactly like one
that never stopped (CPU); SIGTERM stops cleanly; non-finite losses and early stopping."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from plmkit import Pipeline, TextClassification, TrainingStopped, load_config
from plmkit.stages.train.checkpoint import COMPLETE, Checkpoints


@pytest.fixture
def resumable(tiny_config, tmp_path):
    config = {**tiny_config}
    config["model"] = {
        **config["model"],
        "from_scratch": {
            "architecture": "bert",
            "vocab_size": 200,
            "hidden_size": 32,
            "num_layers": 1,
            "num_heads": 2,
        },
    }
    # best_metric=loss: the best epoch is the last, so the weights compared are post-resume.
    config["training"] = {
        **config["training"],
        "checkpoint_every": 1,
        "best_metric": "loss",
        "epochs": 3,
    }
    path = tmp_path / "resume.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path, Path(config["output"]["dir"])


def plmkit(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "plmkit", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def steps_saved(run: Path) -> list[int]:
    return [int(p.name.split("-")[1]) for p in (run / "checkpoints").glob("step-*")]


def wait_for_step(proc: subprocess.Popen, run: Path, step: int) -> None:
    deadline = time.time() + 120
    while not any(s >= step for s in steps_saved(run)):
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline
        time.sleep(0.005)


def outcome(run: Path) -> tuple[dict, list, dict]:
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["summary"].pop("seconds")
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    for record in history:
        record.pop("train_seconds")
    return metrics, history, load_file(str(run / "model" / "model.safetensors"))


def assert_same(a: Path, b: Path) -> None:
    ma, ha, wa = outcome(a)
    mb, hb, wb = outcome(b)
    assert ha == hb
    assert ma == mb
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_sigkill_at_a_random_step_then_resume_is_exact(resumable):
    config, runs = resumable
    assert plmkit("run", str(config), "output.name=whole").wait() == 0
    target = random.Random().randint(2, 40)  # 45 steps in all: 15 per epoch
    proc = plmkit("run", str(config), "output.name=cut")
    wait_for_step(proc, runs / "cut", target)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (runs / "cut" / "metrics.json").exists()
    resumed = plmkit("run", str(config), "output.name=cut", "--resume")
    assert resumed.wait() == 0, resumed.stderr.read()
    assert_same(runs / "whole", runs / "cut")


def test_sigterm_checkpoints_and_says_how_to_resume(resumable):
    config, runs = resumable
    proc = plmkit("run", str(config), "output.name=term")
    wait_for_step(proc, runs / "term", 20)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: SIGTERM received: stopped after step")
    assert "--resume" in last and "Traceback" not in err
    assert (Checkpoints(runs / "term" / "checkpoints", None).latest() / COMPLETE).is_file()
    assert plmkit("run", str(config), "output.name=term", "--resume").wait() == 0
    assert plmkit("run", str(config), "output.name=whole").wait() == 0
    assert_same(runs / "whole", runs / "term")


def test_an_unfinished_checkpoint_is_never_resumed_from(tmp_path):
    root = tmp_path / "checkpoints"
    (root / "step-00000004").mkdir(parents=True)
    (root / "step-00000004" / COMPLETE).write_text("")
    (root / "step-00000009").mkdir()  # written up to a crash: no COMPLETE marker
    (root / ".tmp-step-00000012").mkdir()
    assert Checkpoints(root, None).latest() == root / "step-00000004"


def test_resume_without_a_run_directory_is_a_clear_error(resumable, cli):
    config, runs = resumable
    rc, _, err = cli("run", config, "output.name=never-ran", "--resume")
    assert rc == 2
    assert (
        err.strip()
        == f"error: {runs / 'never-ran'}: no run to resume (check output.dir/output.name)"
    )


class NanAtStep5(TextClassification):
    calls = 0

    def loss(self, outputs, batch):
        NanAtStep5.calls += 1
        loss = outputs.loss
        return loss * float("nan") if NanAtStep5.calls == 5 else loss


def test_a_non_finite_loss_stops_before_the_update(tiny_config):
    tiny_config["training"]["checkpoint_every"] = 2
    config = load_config(tiny_config)
    NanAtStep5.calls = 0
    with pytest.raises(TrainingStopped) as info:
        Pipeline(config, task=NanAtStep5(labels=None)).run()
    message = str(info.value)
    assert message.startswith("loss is nan at step 5 (epoch 1)")
    assert "step-00000004" in message


def test_early_stopping_ends_after_patience(tiny_config):
    tiny_config["training"].update(
        epochs=8, best_metric="accuracy", early_stopping_patience=1, early_stopping_min_delta=1.0
    )
    result = Pipeline(load_config(tiny_config)).run()
    lines = (result.run.path / "history.jsonl").read_text().splitlines()
    # min_delta 1.0 means nothing ever improves on the first epoch: stop after epoch 2.
    assert len(lines) == 2
    assert result.summary["best_epoch"] == 1
