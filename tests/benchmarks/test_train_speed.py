"""benchmarks/train_speed.py --quick: all four competitors finish and report sane numbers.

On the real NSMC when ../shared holds it, else on a small fake NSMC in the same format."""

from __future__ import annotations

import math

from conftest import run_benchmark

COMPETITORS = {"plmkit", "hf_trainer", "seed_loop", "bare_loop"}


def test_quick_benchmark_reports_every_competitor(tmp_path, nsmc_dir):
    stdout, report = run_benchmark("train_speed.py", "--nsmc-dir", nsmc_dir, cwd=tmp_path)
    assert "| competitor |" in stdout and "overhead vs bare_loop" in stdout

    assert report["machine"]["cores"] >= 1 and report["matmul_peak_gflops"] > 0
    results = report["results"]["electra"]
    assert set(results) == COMPETITORS
    for name, row in results.items():
        assert math.isfinite(row["samples_per_s"]) and row["samples_per_s"] > 0, name
        assert 0 < row["nonpad_fraction"] <= 1, name
        assert 0 <= row["val_acc"] <= 1 and 0 <= row["test_acc"] <= 1, name
        assert row["samples"] == report["rows"]["train"], name  # one epoch over the same rows
    # The seed loop pads every row to max_length; plmkit pads each batch to its longest row.
    assert results["seed_loop"]["nonpad_fraction"] < results["plmkit"]["nonpad_fraction"]
    # plmkit and the bare loop train on the very same batches.
    for key in ("steps", "real_tokens", "processed_tokens"):
        assert results["plmkit"][key] == results["bare_loop"][key], key
