"""Large data: train and evaluate on all 712,404 NSMC reviews with memory bounded by the batch.

    .venv/bin/python benchmarks/large_data.py                   # 10,000 rows vs all 712,404
    .venv/bin/python benchmarks/large_data.py --quick           # 2,000 vs 20,000 rows

For each size, two child processes run the same config (10-class star rating, a small model
built locally, a fixed number of training steps, then evaluation of a held-out test split with
predictions written):
- **cold**: an empty data cache: read, validate, preprocess, train the tokenizer, tokenise in
  chunks straight to disk, then train and evaluate;
- **warm**: the same config again: the tokenised splits are memory-mapped from the cache.

A thread samples the process's resident memory every 50 ms: anonymous memory (the heap:
tensors, arrays, DataFrames) and file-backed pages (the memory-mapped tokens, which the kernel
can drop at any time). Bounded by the batch means the warm run's anonymous peak barely moves
from 10k rows to 712k rows; what does grow is listed per row (ids, offsets, targets and the
predictions table).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, emit, machine, run_worker, table, write_json  # noqa: E402

REVIEWS = ROOT.parent / "shared" / "datasets" / "nsmc_reviews" / "reviews_all.tsv.gz"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REVIEWS, help="reviews TSV (gzip ok)")
    p.add_argument("--rows", default=None, help="sizes, comma-separated; 'all' = every row")
    p.add_argument("--steps", type=int, default=None, help="training steps per run (200)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "benchmarks" / "large_data.json")
    p.add_argument("--quick", action="store_true", help="2,000 vs 20,000 rows, 20 steps")
    p.add_argument("--worker", choices=["cold", "warm"], help=argparse.SUPPRESS)
    p.add_argument("--size", default=None, help=argparse.SUPPRESS)
    p.add_argument("--cache-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.rows = args.rows or ("2000,20000" if args.quick else "10000,all")
    args.steps = args.steps or (20 if args.quick else 200)
    return args


class MemorySampler(threading.Thread):
    """Peak RssAnon and RssFile of this process (kB in /proc/self/status), every 50 ms."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = {"RssAnon": 0, "RssFile": 0}
        self.running = True

    def run(self) -> None:
        while self.running:
            self.sample()
            time.sleep(0.05)

    def sample(self) -> None:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in self.peak:
                self.peak[key] = max(self.peak[key], int(value.split()[0]))

    def stop(self) -> dict[str, float]:
        self.running = False
        self.sample()
        return {k: v / 1024 for k, v in self.peak.items()}


def config(args: argparse.Namespace, out_dir: str) -> dict:
    data = {
        "source": "files",
        "train": str(args.data),
        "quoting": "none",
        "columns": {"text": "document", "label": "rating"},
        "cache": {"dir": str(args.cache_dir)},
    }
    if args.size != "all":
        data["limit"] = int(args.size)
    return {
        "task": "text_classification",
        "seed": 42,
        "data": data,
        "preprocess": {"validation_size": 0.02, "test_size": 0.02},
        "model": {
            "from_scratch": {
                "architecture": "bert",
                "vocab_size": 8000,
                "hidden_size": 64,
                "num_layers": 2,
                "num_heads": 2,
            },
            "max_length": 64,
        },
        "training": {
            "epochs": 1,
            "max_steps": args.steps,
            "batch_size": 32,
            "learning_rate": 1e-3,
            "device": "cpu",
        },
        "evaluation": {"batch_size": 256, "splits": ["test"]},
        "output": {"dir": out_dir, "name": args.worker},
    }


def worker(args: argparse.Namespace) -> None:
    import logging

    logging.disable(logging.WARNING)
    sampler = MemorySampler()
    sampler.start()
    from plmkit.config import load_config
    from plmkit.pipeline import Pipeline

    started = time.perf_counter()
    pipe = Pipeline(load_config(config(args, tempfile.mkdtemp(prefix="plmkit-large-"))))
    result = pipe.run()
    seconds = time.perf_counter() - started
    emit(
        {
            "size": args.size,
            "run": args.worker,
            "rows": result.summary["rows"],
            "rejected": result.summary["rejected"],
            "seconds": seconds,
            "data_seconds": pipe.timings,
            "test_accuracy": result.metrics["test"]["accuracy"],
            "peak_mb": sampler.stop(),
        }
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    if not args.data.is_file():
        raise SystemExit(f"error: {args.data}: not found (pass --data)")
    results = []
    for size in args.rows.split(","):
        cache = Path(tempfile.mkdtemp(prefix="plmkit-large-cache-"))
        for run in ("cold", "warm"):
            flags = ["--data", args.data, "--steps", args.steps, "--cache-dir", cache]
            results.append(run_worker(Path(__file__), [*flags, "--worker", run, "--size", size]))
    lines = [
        {
            "rows": sum(r["rows"].values()) + r["rejected"],
            "run": r["run"],
            "anon peak MB": r["peak_mb"]["RssAnon"],
            "file-backed peak MB": r["peak_mb"]["RssFile"],
            "seconds": r["seconds"],
            "test rows": r["rows"]["test"],
            "test acc": r["test_accuracy"],
        }
        for r in results
    ]
    print(table(lines, list(lines[0])))
    warm = [line for line in lines if line["run"] == "warm"]
    if len(warm) >= 2 and warm[-1]["rows"] > warm[0]["rows"]:
        small, large = warm[0], warm[-1]
        per_row = (
            (large["anon peak MB"] - small["anon peak MB"])
            * 2**20
            / (large["rows"] - small["rows"])
        )
        print(
            f"\nwarm runs: anonymous peak {small['anon peak MB']:.0f} MB at {small['rows']:,} "
            f"rows, {large['anon peak MB']:.0f} MB at {large['rows']:,} rows "
            f"({per_row:.0f} bytes per extra row)"
        )
    write_json(
        args.out,
        {
            "command": " ".join(["benchmarks/large_data.py", *sys.argv[1:]]),
            "machine": machine(),
            "results": results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
