"""benchmarks/tobit_vs_mse.py --quick: both runs finish and report finite numbers.

On the real reviews when ../shared holds them, else on synthetic reviews in the same format."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from conftest import SHARED, write_reviews

ROOT = Path(__file__).resolve().parents[1]
REVIEWS = SHARED / "nsmc_reviews" / "reviews_all.tsv.gz"


def test_quick_benchmark_reports_both_models(tmp_path):
    out = tmp_path / "result.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "tobit_vs_mse.py"), "--quick", "--out", out]
    if not REVIEWS.is_file():
        cmd += ["--data", write_reviews(tmp_path / "reviews.tsv.gz")]
    done = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "mse (clipped)" in done.stdout and "tobit E[y]" in done.stdout

    report = json.loads(out.read_text(encoding="utf-8"))
    results = report["results"]
    assert {"mse (clipped)", "tobit E[y]", "tobit median"} <= set(results)
    for name in ("mse (clipped)", "tobit E[y]"):
        row = results[name]
        for key in ("mae", "rmse", "accuracy", "mae_censored", "mae_uncensored"):
            assert math.isfinite(row[key]), (name, key)
        assert 0 <= row["accuracy"] <= 1 and row["mae"] <= row["rmse"]
    assert set(report["runs"]) == {"regression", "tobit_regression"}
    rows = {r["rows"]["test"] for r in report["runs"].values()}
    assert rows == {report["data"]["rows"]["test"]}  # the same test rows for both
