"""Inference throughput: ``plmkit predict`` against a ``transformers`` text-classification pipeline.

    .venv/bin/python benchmarks/inference.py                  # 10,000 NSMC test reviews, MiniLM
    .venv/bin/python benchmarks/inference.py --rows 3000 --threads 1 \
        --run runs/benchmarks/inference_work/run              # reuse the run the first one made
    .venv/bin/python benchmarks/inference.py --quick          # 1,000 reviews, tiny model, smoke run

Both sides run the same fine-tuned model. Unless ``--run DIR`` names an existing plmkit run
directory, one is made first: the packaged MiniLM fine-tuned for one epoch on 2,000 NSMC train
reviews (``--model tiny``: a 2-layer ELECTRA built locally). The test reviews are given the run's
own text steps once (NFC, whitespace, ...); reviews that end up empty, or that a second pass of
the steps would still change, are left out, so both sides see exactly the same strings.

Each competitor then runs in its own child process, one after the other, on those texts:

* plmkit: ``load_run(dir).predict(texts, batch_size=--batch-size)`` (what ``plmkit predict``
  does), timed end to end: validation, text steps, tokenisation, batched inference, the table;
* hf_pipeline: ``pipeline("text-classification", model=dir/model, device="cpu")`` called on the
  list of texts with ``batch_size=b, truncation=True, max_length=<the run's>``, for each b of
  the sweep (a process each); the best is the pipeline's throughput.

Model loading is not timed; each side first warms up on a few rows. Labels are compared row by
row with plmkit's; where they differ, the larger of the two probabilities' distance from 0.5 is
reported (batch padding changes the floating-point sums a little). Results: a Markdown table and
JSON (``--out``), with the load average: on a shared machine, give both sides one thread
(``--threads 1``), as torch's threads slow down many times over when another process holds a core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
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

SWEEP = "1,8,32,64,128"
QUICK_SWEEP = "1,32"
WARMUP_ROWS = 64
TARGET_SPEEDUP = 2.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000, help="NSMC test reviews to predict")
    p.add_argument("--nsmc-dir", type=Path, default=NSMC_DIR)
    p.add_argument("--run", type=Path, default=None, help="an existing plmkit run directory")
    p.add_argument("--model", choices=["minilm", "tiny"], default="minilm", help="without --run")
    p.add_argument("--train-rows", type=int, default=2000, help="without --run")
    p.add_argument("--batch-size", type=int, default=128, help="plmkit's batch size")
    p.add_argument("--sweep", default=SWEEP, help="the pipeline's batch sizes, comma-separated")
    p.add_argument("--repeats", type=int, default=1, help="timed passes per side; the best counts")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "benchmarks" / "inference.json")
    p.add_argument("--quick", action="store_true", help="1,000 rows, tiny model, sweep 1,32")
    p.add_argument("--worker", choices=["plmkit", "hf_pipeline"], help=argparse.SUPPRESS)
    p.add_argument("--texts", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--preds", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.model, args.train_rows = min(args.rows, 1000), "tiny", 400
        args.sweep = QUICK_SWEEP
    return args


# --- the workers (child processes) -----------------------------------------------------------
def plmkit_predictor(args: argparse.Namespace) -> Callable[[list[str]], dict[str, list]]:
    from plmkit.predict import load_run

    loaded = load_run(args.run)

    def predict(texts: list[str]) -> dict[str, list]:
        out = loaded.predict(texts, batch_size=args.batch_size)
        return {"label": out["pred"].astype(str).tolist(), "prob": out["prob"].tolist()}

    return predict


def hf_predictor(args: argparse.Namespace) -> Callable[[list[str]], dict[str, list]]:
    import yaml
    from transformers import pipeline

    config = yaml.safe_load((args.run / "config.yaml").read_text(encoding="utf-8"))
    model = str(args.run / "model")
    pipe = pipeline("text-classification", model=model, tokenizer=model, device="cpu")
    kwargs = dict(
        batch_size=args.batch_size, truncation=True, max_length=config["model"]["max_length"]
    )

    def predict(texts: list[str]) -> dict[str, list]:
        out = pipe(texts, **kwargs)
        return {"label": [str(r["label"]) for r in out], "prob": [r["score"] for r in out]}

    return predict


def worker(args: argparse.Namespace) -> None:
    """Load the model (untimed), warm up, then time ``--repeats`` passes over all the texts."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    texts = json.loads(args.texts.read_text(encoding="utf-8"))
    predict = (plmkit_predictor if args.worker == "plmkit" else hf_predictor)(args)
    predict(texts[:WARMUP_ROWS])
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        out = predict(texts)
        seconds.append(time.perf_counter() - start)
    args.preds.write_text(json.dumps(out))
    emit(
        {
            "competitor": args.worker,
            "batch_size": args.batch_size,
            "rows": len(texts),
            "seconds": min(seconds),
            "all_seconds": seconds,
            "rows_per_s": len(texts) / min(seconds),
            "peak_rss_mb": rss_mb("VmHWM"),
            "torch_threads": torch.get_num_threads(),
        }
    )


# --- the driver ------------------------------------------------------------------------------
def input_texts(run_dir: Path, nsmc_dir: Path, rows: int) -> tuple[list[str], dict[str, int]]:
    """NSMC test reviews after the run's text steps; empty ones and those a second pass would
    change again are dropped, so plmkit (which applies the steps itself) and the pipeline see
    the same strings."""
    import pandas as pd

    from plmkit.predict import load_run

    raw = nsmc_frames(nsmc_dir, 0, rows)["test"]["text"]
    loaded = load_run(run_dir)
    once = loaded.prepare(pd.DataFrame({"text": raw}))["text"]
    twice = loaded.prepare(pd.DataFrame({"text": once}))["text"]
    empty, unstable = once.str.strip().eq(""), once.ne(twice)
    kept = once[~empty & ~unstable].tolist()
    counts = {"sampled": len(raw), "empty_after_steps": int(empty.sum())}
    counts.update(not_fixed_by_steps=int((unstable & ~empty).sum()), used=len(kept))
    return kept, counts


def run_competitor(args, name: str, batch_size: int, work: Path) -> dict[str, Any]:
    preds = work / f"{name}_{batch_size}.json"
    flags = {
        "--worker": name,
        "--run": args.run,
        "--batch-size": batch_size,
        "--repeats": args.repeats,
        "--texts": work / "texts.json",
        "--preds": preds,
    }
    if args.threads:
        flags["--threads"] = args.threads
    result = run_worker(Path(__file__), [x for flag in flags.items() for x in flag])
    print(f"  {name} batch {batch_size}: {result['rows_per_s']:,.1f} rows/s", flush=True)
    return {**result, "preds": json.loads(preds.read_text())}


def agreement(ours: dict[str, list], theirs: dict[str, list]) -> dict[str, Any]:
    """Rows with the same label, and how close to 0.5 the rows that differ were."""
    differ = [
        i for i, (a, b) in enumerate(zip(ours["label"], theirs["label"], strict=True)) if a != b
    ]
    margins = [max(abs(ours["prob"][i] - 0.5), abs(theirs["prob"][i] - 0.5)) for i in differ]
    gaps = [abs(a - b) for a, b in zip(ours["prob"], theirs["prob"], strict=True)]
    return {
        "same": len(ours["label"]) - len(differ),
        "differ": len(differ),
        "max_abs_p_minus_half": max(margins) if margins else None,
        "max_abs_prob_diff": max(gaps, default=0.0),  # where labels agree: the same class
    }


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    ours = results[0]
    hf = results[1:]
    best = max(hf, key=lambda r: r["rows_per_s"])
    for r in results:
        r["ratio"] = r["rows_per_s"] / best["rows_per_s"]
        r["agreement"] = agreement(ours["preds"], r["preds"])
    speedup = ours["rows_per_s"] / best["rows_per_s"]
    return {
        "best_pipeline_batch_size": best["batch_size"],
        "speedup": speedup,
        "agreement_with_best": best["agreement"],
        "targets": {"speedup": TARGET_SPEEDUP, "identical_labels": True},
        "met": {
            "speedup": speedup >= TARGET_SPEEDUP,
            "identical_labels": best["agreement"]["differ"] == 0,
        },
    }


def print_report(results: list[dict[str, Any]], summary: dict[str, Any], counts, out) -> None:
    rows = [
        {
            "competitor": r["competitor"],
            "batch size": r["batch_size"],
            "rows/s": r["rows_per_s"],
            "peak RSS MB": r["peak_rss_mb"],
            "ratio": r["ratio"],
            "labels = plmkit": f"{r['agreement']['same']}/{r['rows']}",
        }
        for r in results
    ]
    print()
    print(table(rows, list(rows[0])))
    same = summary["agreement_with_best"]
    print(
        f"\n{counts['used']} texts; plmkit is {summary['speedup']:.2f}x the pipeline's best "
        f"(batch {summary['best_pipeline_batch_size']}); labels differ on {same['differ']} rows"
        + (f" (max |p-0.5| {same['max_abs_p_minus_half']:.4f})" if same["differ"] else "")
    )
    print(f"written: {out}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    load_start = os.getloadavg()
    work = args.out.parent / f"{args.out.stem}_work"
    work.mkdir(parents=True, exist_ok=True)
    args.run = run_for(args, work)
    texts, counts = input_texts(args.run, args.nsmc_dir, args.rows)
    (work / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    print(f"{counts['used']} texts; run {args.run}", flush=True)

    sweep = [int(b) for b in args.sweep.split(",")]
    results = [run_competitor(args, "plmkit", args.batch_size, work)]
    results += [run_competitor(args, "hf_pipeline", b, work) for b in sweep]
    summary = summarise(results)
    command = [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
    write_json(
        args.out,
        {
            "command": " ".join(map(str, command)),
            "settings": settings(args, skip=("worker", "texts", "preds")),
            "machine": machine(),
            "load_average": {"start": load_start, "end": os.getloadavg()},  # others' work
            "texts": counts,
            "results": [{k: v for k, v in r.items() if k != "preds"} for r in results],
            **summary,
        },
    )
    print_report(results, summary, counts, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
