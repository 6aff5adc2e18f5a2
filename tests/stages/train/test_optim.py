"""Optimizer parameter groups, AdamW settings, and the learning-rate schedules."""

from __future__ import annotations

import pytest
import torch

from plmkit import registry
from plmkit.config.schema import ScratchModelConfig, TrainingConfig
from plmkit.models import build_model, train_tokenizer
from plmkit.stages.train import optim
from plmkit.tasks import TextClassification


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
        self.linear = torch.nn.Linear(4, 4)
        self.norm = torch.nn.LayerNorm(4)
        self.head = torch.nn.Linear(4, 2)
        self.frozen = torch.nn.Linear(4, 4)
        self.frozen.requires_grad_(False)


def ids(params) -> set[int]:
    return {id(p) for p in params}


def test_decay_groups_split_matrices_from_biases_and_norms():
    model = Small()
    decay, no_decay = optim.decay_groups(model, weight_decay=0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert ids(decay["params"]) == ids([model.embed.weight, model.linear.weight, model.head.weight])
    assert ids(no_decay["params"]) == ids(
        [model.linear.bias, model.norm.weight, model.norm.bias, model.head.bias]
    )


def test_decay_groups_leave_out_frozen_parameters():
    model = Small()
    grouped = ids(p for g in optim.decay_groups(model, 0.01) for p in g["params"])
    assert not grouped & ids(model.frozen.parameters())
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert grouped == ids(trainable)


def test_decay_groups_on_a_transformer():
    texts = ["가 나 다", "라 마 바"]
    tokenizer = train_tokenizer(texts, 100)
    scratch = ScratchModelConfig(
        architecture="bert", vocab_size=100, hidden_size=16, num_layers=1, num_heads=2
    )
    model = build_model(scratch, TextClassification(labels=["a", "b"]), tokenizer, 16)
    decay, no_decay = optim.decay_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    kept = {names[id(p)] for p in no_decay["params"]}
    assert all(n.endswith(".bias") or "LayerNorm" in n for n in kept)
    assert any("LayerNorm.weight" in n for n in kept)
    assert all(not n.endswith(".bias") and "LayerNorm" not in n for n in decayed)
    assert "classifier.weight" in decayed
    assert len(decayed) + len(kept) == len(list(model.parameters()))


def test_adamw_uses_the_training_config():
    cfg = TrainingConfig(
        learning_rate=3e-4, adam_betas=(0.8, 0.95), adam_eps=1e-6, weight_decay=0.2
    )
    model = Small()
    opt = registry.optimizers.get("adamw")(model, cfg)
    assert isinstance(opt, torch.optim.AdamW)
    assert len(opt.param_groups) == 2
    for group in opt.param_groups:
        assert group["lr"] == 3e-4
        assert tuple(group["betas"]) == (0.8, 0.95)
        assert group["eps"] == 1e-6
    assert [g["weight_decay"] for g in opt.param_groups] == [0.2, 0.0]


def lrs(schedule_name, warmup, total, steps=None) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    schedule = registry.schedules.get(schedule_name)(opt, warmup, total)
    out = [schedule.get_last_lr()[0]]
    for _ in range(steps or total):
        opt.step()
        schedule.step()
        out.append(schedule.get_last_lr()[0])
    return out


def test_linear_schedule_warms_up_then_decays_to_zero():
    got = lrs("linear", warmup=10, total=100)
    assert got[0] == 0.0
    assert got[5] == pytest.approx(0.5)
    assert got[10] == pytest.approx(1.0)  # the peak: the optimizer's own lr
    warm, decay = got[:11], got[10:]
    assert all(a < b for a, b in zip(warm, warm[1:], strict=False))
    assert all(a > b for a, b in zip(decay, decay[1:], strict=False))
    assert got[55] == pytest.approx(0.5)  # halfway through the decay
    assert got[100] == pytest.approx(0.0, abs=1e-12)


def test_linear_schedule_without_warmup_starts_at_the_peak():
    got = lrs("linear", warmup=0, total=4)
    assert got == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])


def test_cosine_schedule_ends_at_zero_and_constant_stays_flat():
    cosine = lrs("cosine", warmup=2, total=20)
    assert cosine[2] == pytest.approx(1.0) and cosine[20] == pytest.approx(0.0, abs=1e-12)
    assert cosine[11] == pytest.approx(0.5)
    constant = lrs("constant", warmup=2, total=20)
    assert constant[1] == pytest.approx(0.5)
    assert constant[2:] == pytest.approx([1.0] * 19)


def test_adamw_uses_the_fused_kernel_where_there_is_one():
    cfg = TrainingConfig(learning_rate=1e-3)
    opt = optim.adamw(Small(), cfg)
    assert opt.defaults["fused"] is True  # CPU has a fused AdamW


def test_adamw_falls_back_without_a_fused_kernel(monkeypatch):
    real = torch.optim.AdamW

    def no_fused(params, fused=None, **kwargs):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be on a supported device")
        return real(params, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", no_fused)
    opt = optim.adamw(Small(), TrainingConfig(learning_rate=1e-3, weight_decay=0.05))
    assert not opt.defaults["fused"] and opt.defaults["lr"] == 1e-3
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]
