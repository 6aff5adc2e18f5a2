"""Pick the device and mixed precision that are actually fast on this machine."""

from __future__ import annotations

import logging

import torch

from plmkit.errors import ConfigError

log = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if not available[device]:
        raise ConfigError([("training.device", f"'{device}' is not available on this machine")])
    return device


def resolve_precision(setting: str, device: str) -> str:
    """``auto``: bf16 on GPUs with native bf16, else fp16 on CUDA; fp32 ("no") elsewhere.

    CPUs without AMX/AVX512-BF16 emulate bf16 matmuls hundreds of times slower than fp32, so
    ``auto`` never picks it on CPU; asking for it explicitly there gets a warning."""
    if setting != "auto":
        if device == "cpu" and setting != "no":
            log.warning("mixed_precision=%s on CPU is usually far slower than fp32", setting)
        return setting
    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"
