"""benchmarks/inference.py --quick: plmkit and the transformers pipeline predict the same texts
with the same (tiny) model; the JSON has their throughputs and the label agreement."""

from __future__ import annotations

import math

from conftest import run_benchmark


def test_quick_inference_benchmark(nsmc_dir, tmp_path):
    stdout, report = run_benchmark(
        "inference.py", "--threads", 1, "--nsmc-dir", nsmc_dir, cwd=tmp_path
    )
    assert "| plmkit |" in stdout and "| hf_pipeline |" in stdout

    used = report["texts"]["used"]
    assert 0 < used <= report["texts"]["sampled"]
    results = report["results"]
    assert [r["competitor"] for r in results] == ["plmkit", "hf_pipeline", "hf_pipeline"]
    assert [r["batch_size"] for r in results[1:]] == [1, 32]
    for r in results:
        assert r["rows"] == used
        assert math.isfinite(r["rows_per_s"]) and r["rows_per_s"] > 0
        assert r["peak_rss_mb"] > 0 and r["torch_threads"] == 1
        assert r["agreement"]["same"] + r["agreement"]["differ"] == used
    assert results[0]["agreement"]["differ"] == 0  # plmkit against itself
    assert math.isfinite(report["speedup"]) and report["speedup"] > 0
    assert report["best_pipeline_batch_size"] in (1, 32)
    best = report["agreement_with_best"]
    assert best["same"] + best["differ"] == used and set(report["met"]) == set(report["targets"])
