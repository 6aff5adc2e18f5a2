"""Evaluation and prediction memory as rows grow: peak RSS of a reloaded run at two sizes.

    .venv/bin/python benchmarks/memory.py                     # 10,000 and 200,000 rows, tiny model
    .venv/bin/python benchmarks/memory.py --model minilm --rows 10000,50000
    .venv/bin/python benchmarks/memory.py --quick             # 2,000 and 20,000 rows

Unless ``--run DIR`` names an existing plmkit run directory, one is made first: by default a
2-layer ELECTRA built locally (``--model tiny``; speed is not measured here, and 200,000 rows
through MiniLM would take an hour on a small CPU), trained for one epoch on NSMC train reviews.

For each size N, N labelled reviews are drawn from NSMC test (with replacement when N is larger
than it; ids 1..N) and written as a TSV in NSMC's format. Then, each in its own child process:

* evaluate: ``load_run(dir)``, ``read_input(tsv, labelled=True)``, ``evaluate(df)`` (what
  ``plmkit evaluate DIR --data tsv`` does);
* predict: ``load_run(dir)``, the texts of ``read_input(tsv, labelled=False)``, ``predict(texts)``.

Each reports its RSS once the model is loaded and its peak (VmHWM) at the end. What grows with N
by design is what the operation holds for all rows at once, each measured in the child: the
input (the table read, or the list of texts), the texts after the run's text steps (new strings
next to the input's), the tokens (4 bytes a token plus 8 bytes of offsets a row, in memory:
nothing here is memory-mapped) and the predictions table. Everything else (a batch's padded
inputs and activations, the metrics) is per batch. The report gives, per operation, the peak's
growth per added row next to those parts' growth per row; the rest ("other") is transient
buffers (the CSV parser's, a tokenised chunk's Python lists) and the allocator's heap.
``--mmap-threshold 131072`` pins glibc's mmap threshold in the workers, so that freed batch
tensors go back to the system: the rest then mostly disappears. Results: Markdown tables and
JSON (``--out``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    NSMC_DIR,
    ROOT,
    emit,
    machine,
    nsmc_frames,
    rss_mb,
    run_for,
    run_worker,
    settings,
    table,
    write_json,
)

MB = 1024 * 1024
OPERATIONS = ("evaluate", "predict")
PARTS = ("input", "text_steps", "tokens", "predictions")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default="10000,200000", help="the sizes, comma-separated")
    p.add_argument("--nsmc-dir", type=Path, default=NSMC_DIR)
    p.add_argument("--run", type=Path, default=None, help="an existing plmkit run directory")
    p.add_argument("--model", choices=["tiny", "minilm"], default="tiny", help="without --run")
    p.add_argument("--train-rows", type=int, default=2000, help="without --run")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument(
        "--mmap-threshold",
        type=int,
        default=None,
        help="MALLOC_MMAP_THRESHOLD_ (bytes) for the workers, e.g. 131072: glibc then stops "
        "raising it, and freed batch tensors go back to the system instead of into the heap",
    )
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "benchmarks" / "memory.json")
    p.add_argument("--quick", action="store_true", help="2,000 and 20,000 rows, tiny model")
    p.add_argument("--worker", choices=OPERATIONS, help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.model, args.train_rows = "2000,20000", "tiny", 400
    args.sizes = sorted(int(n) for n in args.rows.split(","))
    return args


# --- the workers (child processes) -----------------------------------------------------------
def record_sizes(sink: dict[str, int]) -> None:
    """Wrap ``plmkit.predict.encode`` and ``LoadedRun.prepare`` so that what they return is
    measured into ``sink``: the tokens (count, bytes) and the texts after the text steps."""
    import plmkit.predict

    encode, prepare = plmkit.predict.encode, plmkit.predict.LoadedRun.prepare

    def encoded(*args, **kwargs):
        data = encode(*args, **kwargs)
        sink["tokens"] = int(data.lengths.sum())
        sink["token_bytes"] = sum(r.flat.nbytes + r.offsets.nbytes for r in data.inputs.values())
        return data

    def prepared(self, df):
        out = prepare(self, df)
        sink["prepared_bytes"] = int(out["text"].memory_usage(index=False, deep=True))
        return out

    plmkit.predict.encode = encoded
    plmkit.predict.LoadedRun.prepare = prepared


def evaluate_rows(loaded, args: argparse.Namespace) -> tuple[Any, int, dict[str, Any]]:
    df = loaded.read_input(args.data, labelled=True)
    input_bytes = int(df.memory_usage(deep=True).sum())
    out = loaded.evaluate(df, batch_size=args.batch_size)
    return out.predictions, input_bytes, {"accuracy": out.metrics["accuracy"]}


def predict_rows(loaded, args: argparse.Namespace) -> tuple[Any, int, dict[str, Any]]:
    texts = loaded.read_input(args.data, labelled=False)["text"].tolist()
    input_bytes = sys.getsizeof(texts) + sum(sys.getsizeof(t) for t in texts)
    return loaded.predict(texts, batch_size=args.batch_size), input_bytes, {}


def worker(args: argparse.Namespace) -> None:
    import torch

    from plmkit.predict import load_run

    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_run(args.run)
    sizes: dict[str, int] = {}
    record_sizes(sizes)
    loaded_mb = rss_mb("VmRSS")
    start = time.perf_counter()
    run = evaluate_rows if args.worker == "evaluate" else predict_rows
    predictions, input_bytes, extra = run(loaded, args)
    seconds = time.perf_counter() - start
    peak = rss_mb("VmHWM")
    parts = {
        "input": input_bytes,
        "text_steps": sizes["prepared_bytes"],
        "tokens": sizes["token_bytes"],
        # Object columns hold pointers: the label strings are shared, the texts are the input's.
        "predictions": int(predictions.memory_usage(index=True, deep=False).sum()),
    }
    emit(
        {
            "operation": args.worker,
            "rows": len(predictions),
            "tokens": sizes["tokens"],
            "seconds": seconds,
            "loaded_rss_mb": loaded_mb,
            "peak_rss_mb": peak,
            "parts_mb": {k: v / MB for k, v in parts.items()},
            **extra,
        }
    )


# --- the driver ------------------------------------------------------------------------------
def write_reviews(pool, n: int, path: Path, seed: int) -> Path:
    """``n`` labelled reviews drawn from ``pool`` (with replacement when it is smaller), ids
    1..n, as a TSV in NSMC's format (id, document, label; no quoting)."""
    rows = pool.sample(n=n, replace=n > len(pool), random_state=seed)
    lines = ["id\tdocument\tlabel"] + [
        f"{i}\t{text}\t{label}"
        for i, (text, label) in enumerate(zip(rows["text"], rows["label"], strict=True), 1)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def measure(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    pool = nsmc_frames(args.nsmc_dir, 0, None)["test"]
    results = []
    for n in args.sizes:
        data = write_reviews(pool, n, work / f"reviews_{n}.tsv", args.seed)
        for op in OPERATIONS:
            flags = ["--worker", op, "--run", args.run, "--data", data]
            flags += ["--batch-size", args.batch_size, "--threads", args.threads or 0]
            result = run_worker(Path(__file__), flags)
            print(
                f"  {op} {n:,} rows: peak {result['peak_rss_mb']:,.1f} MB "
                f"({result['seconds']:.1f} s)",
                flush=True,
            )
            results.append(result)
        data.unlink()
    return results


def sizes_mb(result: dict[str, Any]) -> dict[str, float]:
    """A worker's peak, its peak over the loaded model, and its O(rows) parts, in MB."""
    working = result["peak_rss_mb"] - result["loaded_rss_mb"]
    return {"peak": result["peak_rss_mb"], "working": working, **result["parts_mb"]}


def growth(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per operation, from the smallest size to the largest: bytes per added row of the peak,
    of the peak over the loaded model, of each O(rows) part, and of the rest."""
    out = {}
    for op in OPERATIONS:
        runs = sorted((r for r in results if r["operation"] == op), key=lambda r: r["rows"])
        small, big = sizes_mb(runs[0]), sizes_mb(runs[-1])
        added = runs[-1]["rows"] - runs[0]["rows"]
        slope = {k: (big[k] - small[k]) * MB / added if added else math.nan for k in small}
        parts = {k: slope[k] for k in PARTS}
        out[op] = {
            "from_rows": runs[0]["rows"],
            "to_rows": runs[-1]["rows"],
            "peak_bytes_per_row": slope["peak"],
            "working_bytes_per_row": slope["working"],
            "o_rows_parts_bytes_per_row": parts,
            "o_rows_bytes_per_row": sum(parts.values()),
            "other_bytes_per_row": slope["peak"] - sum(parts.values()),
        }
    return out


def print_report(results: list[dict[str, Any]], slopes: dict[str, dict], out: Path) -> None:
    rows = [
        {
            "operation": r["operation"],
            "rows": f"{r['rows']:,}",
            "tokens": f"{r['tokens']:,}",
            "model loaded MB": r["loaded_rss_mb"],
            "peak RSS MB": r["peak_rss_mb"],
            "peak - loaded MB": r["peak_rss_mb"] - r["loaded_rss_mb"],
            **{f"{k} MB": r["parts_mb"][k] for k in PARTS},
        }
        for r in results
    ]
    print()
    print(table(rows, list(rows[0])))
    growth_rows = [
        {
            "operation": op,
            "rows": f"{s['from_rows']:,} -> {s['to_rows']:,}",
            "peak B/row": s["peak_bytes_per_row"],
            "O(rows) parts B/row": s["o_rows_bytes_per_row"],
            **{f"{k} B/row": s["o_rows_parts_bytes_per_row"][k] for k in PARTS},
            "other B/row": s["other_bytes_per_row"],
        }
        for op, s in slopes.items()
    ]
    print()
    print(table(growth_rows, list(growth_rows[0])))
    print(f"\nwritten: {out}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    load_start = os.getloadavg()
    work = args.out.parent / f"{args.out.stem}_work"
    work.mkdir(parents=True, exist_ok=True)
    args.run = run_for(args, work)
    if args.mmap_threshold:
        os.environ["MALLOC_MMAP_THRESHOLD_"] = str(args.mmap_threshold)  # the workers inherit it
    results = measure(args, work)
    slopes = growth(results)
    command = [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
    write_json(
        args.out,
        {
            "command": " ".join(map(str, command)),
            "settings": settings(args, skip=("worker", "data")),
            "machine": machine(),
            "load_average": {"start": load_start, "end": os.getloadavg()},  # others' work
            "results": results,
            "growth": slopes,
        },
    )
    print_report(results, slopes, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
