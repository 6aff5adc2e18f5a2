"""A task adapter from another package, found through the ``plmkit.tasks`` entry point group
with no change to plmkit: the package here is examples/custom_task.py, installed as a
distribution (a ``.dist-info`` with ``entry_points.txt``) on a fresh PYTHONPATH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_task.py"


def install_plugin(site: Path) -> None:
    shutil.copy(EXAMPLE, site / "plmkit_ordinal.py")
    info = site / "plmkit_ordinal-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plmkit-ordinal\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[plmkit.tasks]\nordinal = plmkit_ordinal:OrdinalClassification\n"
    )


def test_adapter_from_another_package_runs_through_the_cli(tmp_path, tiny_config):
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site)
    ratings = tmp_path / "ratings.tsv"
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        from custom_task import write_ratings
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    write_ratings(ratings, 200, seed=1)
    config = {
        **tiny_config,
        "task": "ordinal",
        "data": {
            "source": "files",
            "train": str(ratings),
            "columns": {"text": "document", "label": "rating"},
        },
        "preprocess": {"test_size": 0.2},
        "training": {"epochs": 2, "batch_size": 16, "learning_rate": 2e-3},
    }
    path = tmp_path / "ordinal.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "plmkit", "run", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    run = Path(config["output"]["dir"]) / config["output"]["name"]
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["test"]) >= {"mae", "accuracy"}
    state = json.loads((run / "model" / "plmkit.json").read_text(encoding="utf-8"))
    assert state["task"] == "ordinal"


def test_without_the_plugin_the_task_is_unknown(tmp_path, tiny_config):
    config = {**tiny_config, "task": "ordinal"}
    path = tmp_path / "ordinal.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "plmkit", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "task: unknown task 'ordinal'" in done.stderr
