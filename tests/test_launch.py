"""training.accelerate_config: plmkit run relaunches itself under accelerate launch."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from plmkit import launch

SINGLE_CPU = {
    "compute_environment": "LOCAL_MACHINE",
    "distributed_type": "NO",
    "mixed_precision": "no",
    "use_cpu": True,
    "num_processes": 1,
    "num_machines": 1,
    "machine_rank": 0,
    "main_training_function": "main",
}
FSDP = {
    **SINGLE_CPU,
    "distributed_type": "FSDP",
    "use_cpu": False,
    "num_processes": 8,
    "num_machines": 2,
    "fsdp_config": {"fsdp_version": 2, "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP"},
}


def write(path, content) -> str:
    path.write_text(yaml.safe_dump(content) if isinstance(content, dict) else content)
    return str(path)


def test_the_command_launches_plmkit_with_the_file(tmp_path):
    path = write(tmp_path / "fsdp.yaml", FSDP)
    assert launch.describe(path) == "FSDP, 8 process(es) on 2 machine(s)"
    cmd = launch.command(path, ["run", "cfg.yaml", "training.epochs=2", "--resume"])
    assert cmd[:5] == [sys.executable, "-m", "accelerate.commands.launch", "--config_file", path]
    assert cmd[5:] == ["-m", "plmkit.cli", "run", "cfg.yaml", "training.epochs=2", "--resume"]


def test_inside_a_launch_there_is_no_second_one(monkeypatch):
    monkeypatch.delenv(launch.LAUNCHED, raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert not launch.already_launched()
    monkeypatch.setenv("LOCAL_RANK", "0")  # the user's own accelerate launch / torchrun
    assert launch.already_launched()


def test_a_missing_or_bad_file_is_a_config_error(tiny_config, write_config, cli, tmp_path):
    cfg = write_config(tiny_config)
    rc, out, err = cli("run", cfg, f"training.accelerate_config={tmp_path / 'nope.yaml'}")
    assert rc == 2 and "Traceback" not in err
    assert f"training.accelerate_config: file not found: {tmp_path / 'nope.yaml'}" in err
    bad = write(tmp_path / "bad.yaml", "distributed_type: NO\nnot_a_key: 1\n")
    rc, out, err = cli("run", cfg, f"training.accelerate_config={bad}")
    assert rc == 2 and "Traceback" not in err
    assert f"training.accelerate_config: {bad}: not an Accelerate config file" in err
    assert not (tmp_path / "runs").exists()


def test_run_under_accelerate_launch_from_the_run_config(tiny_config, tmp_path):
    tiny_config["training"]["epochs"] = 1
    tiny_config["training"]["accelerate_config"] = write(tmp_path / "acc.yaml", SINGLE_CPU)
    cfg = write(tmp_path / "run.yaml", tiny_config)
    done = subprocess.run(
        [sys.executable, "-m", "plmkit", "run", cfg], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"accelerate launch --config_file {tmp_path / 'acc.yaml'} (NO, 1 process(es)" in (
        done.stdout
    )
    assert done.stdout.count("run directory:") == 1  # printed by the launched run
    metrics = json.loads((tmp_path / "runs" / "tiny" / "metrics.json").read_text())
    assert metrics["test"]["num_examples"] == 40
