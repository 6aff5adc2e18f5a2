"""Shared fixtures: small data the tests write themselves, and a tiny model config."""

from __future__ import annotations

import gzip
import random
import threading
from collections import Counter
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from plmkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"

POSITIVE = ["재밌다", "최고다", "감동적", "훌륭하다", "좋았다", "추천"]
NEGATIVE = ["지루하다", "최악이다", "별로다", "실망", "아깝다", "엉망"]
NEUTRAL = ["영화", "배우", "연기", "스토리", "음악", "결말", "오늘", "정말", "너무"]


def make_rows(n: int, seed: int, start_id: int = 1) -> list[tuple[int, str, int]]:
    """``n`` (id, text, label) rows whose label follows from their sentiment words."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = rng.sample(NEUTRAL, 3) + rng.sample(POSITIVE if label else NEGATIVE, 2)
        rng.shuffle(words)
        rows.append((start_id + i, " ".join(words), label))
    return rows


def write_tsv(path: Path, rows, header=("id", "document", "label"), encoding="utf-8") -> Path:
    lines = ["\t".join(header)] + ["\t".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


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


def write_fake_nsmc(folder: Path, train: int = 400, test: int = 300) -> Path:
    """Gzipped ratings_train.txt / ratings_test.txt in NSMC's format (id, document, label),
    from :func:`make_rows`: what benchmark tests use where ../shared is absent."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed, start in (("train", train, 11, 1), ("test", test, 12, 100_000)):
        lines = ["id\tdocument\tlabel"] + [
            "\t".join(map(str, r)) for r in make_rows(n, seed=seed, start_id=start)
        ]
        with gzip.open(folder / f"ratings_{split}.txt.gz", "wt", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def nsmc_dir(tmp_path) -> Path:
    """The real NSMC folder when ../shared has it, else a small fake one."""
    real = SHARED / "nsmc"
    if (real / "ratings_train.txt.gz").is_file():
        return real
    return write_fake_nsmc(tmp_path / "nsmc")


def run_benchmark(script: str, *args, cwd: Path) -> tuple[str, dict]:
    """Run ``benchmarks/<script> --quick ARGS --out cwd/<stem>.json`` in a child process;
    asserts it succeeded; returns its stdout and the JSON it wrote."""
    import json
    import subprocess
    import sys

    out = cwd / f"{Path(script).stem}.json"
    cmd = [sys.executable, ROOT / "benchmarks" / script, "--quick", *args, "--out", out]
    done = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=300, cwd=cwd
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout, json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def data_cache_dir(tmp_path_factory, monkeypatch) -> Path:
    """Each test gets its own data cache (never the user's ~/.cache, never another test's)."""
    path = tmp_path_factory.mktemp("data-cache")
    monkeypatch.setenv("PLMKIT_CACHE_DIR", str(path))
    return path


@pytest.fixture
def tiny_files(tmp_path) -> dict[str, Path]:
    """NSMC-format train/test TSV files (120 + 40 rows)."""
    return {
        "train": write_tsv(tmp_path / "train.tsv", make_rows(120, seed=1)),
        "test": write_tsv(tmp_path / "test.tsv", make_rows(40, seed=2, start_id=1000)),
    }


@pytest.fixture
def tiny_config(tmp_path, tiny_files) -> dict:
    """A complete run config: the tiny files and a 1-layer ELECTRA built locally."""
    return {
        "task": "text_classification",
        "seed": 7,
        "data": {
            "source": "files",
            "train": str(tiny_files["train"]),
            "test": str(tiny_files["test"]),
            "quoting": "none",
            "columns": {"text": "document"},
        },
        "model": {
            "from_scratch": {
                "architecture": "electra",
                "vocab_size": 200,
                "hidden_size": 32,
                "num_layers": 1,
                "num_heads": 2,
                "embedding_size": 16,
            },
            "max_length": 32,
        },
        "training": {"epochs": 3, "batch_size": 8, "learning_rate": 3e-3, "log_every": 5},
        "output": {"dir": str(tmp_path / "runs"), "name": "tiny"},
    }


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: ``rc, out, err = cli("run", path)``."""

    def run(*args: str) -> tuple[int, str, str]:
        rc = main([str(a) for a in args])
        captured = capsys.readouterr()
        return rc, captured.out, captured.err

    return run


@pytest.fixture
def write_config(tmp_path):
    """Write a config dict as YAML and return its path."""
    import yaml

    def write(config: dict, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        return path

    return write


class CountingHandler(SimpleHTTPRequestHandler):
    counts: Counter  # set per server

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.counts[self.path] += 1
        if self.path.startswith("/fail500"):
            self.send_error(500, "boom")
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(tmp_path):
    """Serve ``tmp_path / 'www'``; yields (base_url, root dir, request counts by path)."""
    root = tmp_path / "www"
    root.mkdir()
    counts: Counter = Counter()
    handler = type("Handler", (CountingHandler,), {"counts": counts})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root, counts
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
