"""``training.accelerate_config``: run ``plmkit run`` under ``accelerate launch`` with an
Accelerate config file (DDP on several GPUs or nodes, FSDP, DeepSpeed), named in the run config
instead of on the command line.

``plmkit run`` checks the file, then starts ``accelerate launch --config_file FILE -m plmkit.cli
run ...`` and waits for it; the launched processes see that they were launched and train.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from plmkit.errors import ConfigError

KEY = "training.accelerate_config"
LAUNCHED = "PLMKIT_LAUNCHED"


def already_launched() -> bool:
    """Inside ``accelerate launch``/torchrun (ours or the user's own)."""
    return os.environ.get(LAUNCHED) == "1" or "LOCAL_RANK" in os.environ


def describe(path: Path) -> str:
    """Check the file the way ``accelerate launch`` reads it; a one-line summary of it."""
    from accelerate.commands.config.config_args import load_config_from_file

    if not Path(path).is_file():
        raise ConfigError([(KEY, f"file not found: {path}")])
    try:
        cfg = load_config_from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - yaml, json, TypeError on unknown keys, ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError([(KEY, f"{path}: not an Accelerate config file: {reason}")]) from None
    kind = getattr(cfg.distributed_type, "value", cfg.distributed_type)
    procs = getattr(cfg, "num_processes", None)
    machines = getattr(cfg, "num_machines", None)
    return f"{kind}, {procs} process(es) on {machines} machine(s)"


def command(path: Path, argv: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(path),
        "-m",
        "plmkit.cli",
        *argv,
    ]


def relaunch(path: Path, argv: list[str]) -> int:
    """Run ``argv`` (plmkit's own arguments) under ``accelerate launch``; its exit code."""
    proc = subprocess.Popen(command(path, argv), env={**os.environ, LAUNCHED: "1"})
    try:
        return proc.wait()
    except KeyboardInterrupt:  # the launched processes got it too: let them checkpoint
        return proc.wait()
