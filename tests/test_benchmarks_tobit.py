"""benchmarks/tobit_vs_mse.py --quick: both runs finish and report finite numbers.

On the real reviews when ../shared holds them, else on synthetic reviews in the same format."""

from __future__ import annotations

import gzip
import json
import math
import random
import subprocess
import sys
from pathlib import Path

from conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]
REVIEWS = SHARED / "nsmc_reviews" / "reviews_all.tsv.gz"
WORDS = "최악 형편없다 지루하다 별로다 아쉽다 그저그렇다 무난하다 괜찮다 좋았다 재밌다 훌륭하다"
WORDS += " 최고다"
FILLER = ["영화", "배우", "연기", "스토리", "음악", "결말", "정말", "너무"]


def write_reviews(path: Path, n: int = 1200, seed: int = 0) -> Path:
    """Reviews whose words give away a latent level 0..11; the rating is it clipped to 1..10."""
    rng = random.Random(seed)
    words = WORDS.split()
    lines = ["id\tmovie_id\trating\tdate\tdocument"]
    for i in range(n):
        k = rng.choices(range(12), weights=[3, 3, 1, 1, 1, 1, 1, 1, 1, 2, 4, 6])[0]
        text = " ".join(rng.sample(FILLER, 3) + [words[k]])
        lines.append(f"{i + 1}\t{i % 17}\t{min(max(k, 1), 10)}\t15.08.25\t{text}")
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


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
