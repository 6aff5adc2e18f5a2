"""benchmarks/large_data.py --quick on synthetic reviews: cold and warm runs per size, with
the warm run loading the cache and scoring exactly like the cold one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import write_reviews

ROOT = Path(__file__).resolve().parents[2]


def test_quick_large_data_benchmark(tmp_path):
    data = write_reviews(tmp_path / "reviews.tsv.gz", n=2000)
    out = tmp_path / "large.json"
    cmd = [sys.executable, ROOT / "benchmarks" / "large_data.py", "--quick", "--data", data]
    cmd += ["--rows", "500,all", "--steps", "5", "--out", out]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    assert [(r["size"], r["run"]) for r in results] == [
        ("500", "cold"),
        ("500", "warm"),
        ("all", "cold"),
        ("all", "warm"),
    ]
    assert sum(results[2]["rows"].values()) + results[2]["rejected"] == 2000
    for cold, warm in (results[:2], results[2:]):
        assert warm["rows"] == cold["rows"]
        assert warm["test_accuracy"] == cold["test_accuracy"]
        assert "fetch" in cold["data_seconds"] and "fetch" not in warm["data_seconds"]
        assert warm["peak_mb"]["RssAnon"] > 0 and warm["peak_mb"]["RssFile"] > 0
    assert "anonymous peak" in done.stdout
