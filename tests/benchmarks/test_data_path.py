"""benchmarks/data_path.py --quick: a cold run fills the data cache, a warm run only reloads."""

from __future__ import annotations

from conftest import run_benchmark


def test_quick_data_path_benchmark(nsmc_dir, tmp_path):
    stdout, result = run_benchmark(
        "data_path.py",
        "--rows",
        300,
        "--nsmc-dir",
        nsmc_dir,
        "--tokenizer",
        "scratch",
        "--no-verify",
        cwd=tmp_path,
    )
    cold, warm = result["cold"], result["warm"]
    assert not cold["cached"] and warm["cached"]
    assert cold["rows"] == warm["rows"] and cold["tokens"] == warm["tokens"] > 0
    assert sum(cold["rows"].values()) + cold["rejected"] == result["rows_read"] == 600  # 300 a file
    for stage in ("fetch", "validate", "preprocess", "tokenize"):
        assert cold["stages"][stage] > 0 and stage not in warm["stages"]
    assert "| cold |" in stdout and "Pandera validation" in stdout
