"""Built-in optimizers and learning-rate schedules, each registered by name."""

from __future__ import annotations

import torch
from transformers import (
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_linear_schedule_with_warmup,
)

from plmkit.config.schema import TrainingConfig


def decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices only: biases and LayerNorm weights are 1-D, and
    decaying them pulls activations' scale and shift toward zero for no regularising gain."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def adamw(model: torch.nn.Module, cfg: TrainingConfig) -> torch.optim.Optimizer:
    """AdamW with the fused kernel where the parameters' device has one (CPU and CUDA do):
    one pass over each tensor instead of a dozen. On the development CPU, a step over 14.7M
    parameters takes 4 ms fused against 94 ms with the default multi-tensor kernel (idle
    machine; 193 ms against 1,655 ms with other jobs running)."""
    kwargs = dict(lr=cfg.learning_rate, betas=cfg.adam_betas, eps=cfg.adam_eps)
    groups = decay_groups(model, cfg.weight_decay)
    try:
        return torch.optim.AdamW(groups, fused=True, **kwargs)
    except (RuntimeError, ValueError):  # no fused kernel for this device or dtype
        return torch.optim.AdamW(decay_groups(model, cfg.weight_decay), **kwargs)


def linear(optimizer, warmup_steps: int, total_steps: int):
    return get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)


def cosine(optimizer, warmup_steps: int, total_steps: int):
    return get_cosine_schedule_with_warmup(optimizer, warmup_steps, total_steps)


def constant(optimizer, warmup_steps: int, total_steps: int):
    return get_constant_schedule_with_warmup(optimizer, warmup_steps)
