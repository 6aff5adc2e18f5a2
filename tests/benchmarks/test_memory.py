"""benchmarks/memory.py --quick: evaluate and predict at two sizes, each with its peak RSS,
what grows with the rows, and the growth per added row."""

from __future__ import annotations

import math

from conftest import run_benchmark

PARTS = {"input", "text_steps", "tokens", "predictions"}


def test_quick_memory_benchmark(nsmc_dir, tmp_path):
    stdout, report = run_benchmark(
        "memory.py", "--threads", 1, "--nsmc-dir", nsmc_dir, cwd=tmp_path
    )
    assert "| evaluate | 20,000 |" in stdout and "| predict | 2,000 |" in stdout

    runs = {(r["operation"], r["rows"]): r for r in report["results"]}
    assert set(runs) == {(op, n) for op in ("evaluate", "predict") for n in (2000, 20000)}
    for (_, rows), r in runs.items():
        assert r["peak_rss_mb"] >= r["loaded_rss_mb"] > 0
        assert r["tokens"] >= rows and set(r["parts_mb"]) == PARTS
        assert all(v > 0 for v in r["parts_mb"].values())
    for n in (2000, 20000):  # the same rows, tokenised alike, on both paths
        assert runs["evaluate", n]["tokens"] == runs["predict", n]["tokens"]
        assert 0 <= runs["evaluate", n]["accuracy"] <= 1
    for op in ("evaluate", "predict"):
        growth = report["growth"][op]
        assert (growth["from_rows"], growth["to_rows"]) == (2000, 20000)
        assert math.isfinite(growth["peak_bytes_per_row"])
        assert set(growth["o_rows_parts_bytes_per_row"]) == PARTS
        assert growth["o_rows_bytes_per_row"] > 0
