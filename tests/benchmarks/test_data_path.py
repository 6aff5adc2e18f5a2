"""benchmarks/data_path.py --quick: a cold run fills the data cache, a warm run only reloads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_data_path_benchmark(nsmc_dir, tmp_path):
    out = tmp_path / "data_path.json"
    cmd = [sys.executable, ROOT / "benchmarks" / "data_path.py", "--quick", "--rows", "300"]
    cmd += ["--nsmc-dir", nsmc_dir, "--out", out, "--tokenizer", "scratch", "--no-verify"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    cold, warm = result["cold"], result["warm"]
    assert not cold["cached"] and warm["cached"]
    assert cold["rows"] == warm["rows"] and cold["tokens"] == warm["tokens"] > 0
    assert sum(cold["rows"].values()) + cold["rejected"] == result["rows_read"] == 600  # 300 a file
    for stage in ("fetch", "validate", "preprocess", "tokenize"):
        assert cold["stages"][stage] > 0 and stage not in warm["stages"]
    assert "| cold |" in proc.stdout and "Pandera validation" in proc.stdout
