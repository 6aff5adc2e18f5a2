"""benchmarks/large_data.py --quick on synthetic reviews: cold and warm runs per size, with
the warm run loading the cache and scoring exactly like the cold one."""

from __future__ import annotations

from conftest import run_benchmark, write_reviews


def test_quick_large_data_benchmark(tmp_path):
    data = write_reviews(tmp_path / "reviews.tsv.gz", n=2000)
    stdout, report = run_benchmark(
        "large_data.py", "--data", data, "--rows", "500,all", "--steps", 5, cwd=tmp_path
    )
    results = report["results"]
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
    assert "anonymous peak" in stdout
