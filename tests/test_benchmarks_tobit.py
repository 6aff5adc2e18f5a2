"""benchmarks/tobit_vs_mse.py --quick: both runs finish and report finite numbers.

On the real reviews when ../shared holds them, else on synthetic reviews in the same format."""

from __future__ import annotations

import math

from conftest import SHARED, run_benchmark, write_reviews

REVIEWS = SHARED / "nsmc_reviews" / "reviews_all.tsv.gz"


def test_quick_benchmark_reports_both_models(tmp_path):
    data = [] if REVIEWS.is_file() else ["--data", write_reviews(tmp_path / "reviews.tsv.gz")]
    stdout, report = run_benchmark("tobit_vs_mse.py", *data, cwd=tmp_path)
    assert "mse (clipped)" in stdout and "tobit E[y]" in stdout

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
