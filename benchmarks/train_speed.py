"""Training speed of plmkit against the Hugging Face Trainer and the hand-written seed loop.

    .venv/bin/python benchmarks/train_speed.py                  # both models, 8000 train rows
    .venv/bin/python benchmarks/train_speed.py --model electra --train-rows 1000 \\
        --val-rows 200 --test-rows 500                          # a few minutes on 2 cores
    .venv/bin/python benchmarks/train_speed.py --quick          # a smoke run, well under a minute

One seeded NSMC sample (train rows split into train and validation here, plus test rows) and one
initial model per ``--model`` are prepared once and shared; then each competitor trains that
model in its own child process, one after the other, with the same seed, batch size, learning
rate, epochs and ``--max-length``:

- ``plmkit``: plmkit's own loop through its Python API (``Pipeline.prepare`` and
  ``DefaultTrainer.fit``): length-grouped batches padded per batch, plmkit's AdamW (weight
  decay 0.01 on weight matrices), linear schedule with 10% warmup, gradient clipping at 1.0,
  validation and a checkpoint after each epoch.
- ``hf_trainer``: ``transformers.Trainer`` with the same settings (torch's fused AdamW, its
  default and plmkit's; the same warmup steps, schedule and clipping),
  ``train_sampling_strategy="group_by_length"`` and ``DataCollatorWithPadding``, validating
  after each epoch.
- ``seed_loop``: the loop plmkit replaces: every row padded to ``--max-length`` up front,
  ``DataLoader(shuffle=True)``, ``torch.optim.AdamW`` with its defaults (on CPU its
  one-tensor-at-a-time kernel), no schedule, no clipping, validation accuracy after each epoch.
- ``bare_loop``: the reference for plmkit's own overhead: a plain PyTorch loop over exactly
  plmkit's batches (``plmkit.batching.train_loader``) with plmkit's optimizer, schedule and
  clipping, and nothing else (no Accelerate, checkpoints, progress bar or validation).

What is measured, per competitor:

- ``train_seconds``: wall clock of the training steps only (from each epoch's first batch to its
  last step, summed over epochs), without model loading, tokenisation or in-loop validation.
  ``prep_seconds`` (tokenisation; plmkit also validates and tokenises every split) and
  ``load_seconds`` (model) are reported apart, and ``fit_seconds`` is the whole training call
  (framework setup, per-epoch validation and plmkit's checkpoint included).
- samples/s and tokens/s (real, non-padding tokens) over ``train_seconds``; the non-padding
  fraction: real tokens / processed tokens, where processed tokens are batch rows times padded
  width, summed over the training batches.
- achieved GFLOP/s = 6 * N * processed tokens / train_seconds / 1e9, with N the model's
  parameter count without its embedding tables (6 = forward 2 + backward 4 multiply-adds per
  parameter and token; attention's quadratic term is ignored), and its share of this machine's
  dense fp32 matmul rate (``common.matmul_peak_gflops``, measured once before the runs).
- peak RSS of the worker process, and validation and test accuracy of each final model, all
  scored by the same plain evaluation code (:func:`accuracy`) on the same rows.

On a busy machine, ``--repeats N`` runs all competitors N times in turn and keeps each one's
fastest run (all its train seconds are kept in the JSON). Every process uses torch's default
thread count unless ``--threads`` says otherwise (``--quick`` uses 1: with other work on the
machine, two threads that wait on each other can run ten times slower than one). The matmul
peak is measured with the same thread count.

Both length groupings sort mega-batches of 50 batches, but the Trainer's shrinks to a quarter
of the train rows when those are fewer than 200 batches (``get_length_grouped_indices``), so on
small samples it pads more than plmkit; from 6,400 train rows (batch size 32) on, they match.

plmkit's overhead is its seconds per step over ``bare_loop``'s, minus 1 (same batches, same
steps). The driver prints one Markdown table per model and the targets (plmkit >= 1.15x the
Trainer's and >= 3x the seed loop's samples/s, test accuracy within 0.5 points of the
Trainer's, overhead <= 3%), and writes everything to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from common import (
    ELECTRA_SMALL,
    NSMC_DIR,
    ROOT,
    emit,
    machine,
    matmul_peak_gflops,
    minilm_path,
    nsmc_frames,
    peak_rss_mb,
    run_worker,
    table,
    write_json,
)

SCRIPT = Path(__file__).resolve()
COMPETITORS = ("plmkit", "hf_trainer", "seed_loop", "bare_loop")
MODELS = ("electra", "minilm")
DEFAULT_LR = {"electra": 1e-4, "minilm": 5e-5}
LABELS = ["0", "1"]
WEIGHT_DECAY, WARMUP_RATIO, MAX_GRAD_NORM, EVAL_BATCH = 0.01, 0.1, 1.0, 128


# --- command line ------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nsmc-dir", type=Path, default=NSMC_DIR)
    p.add_argument("--model", choices=[*MODELS, "both"], default=None, help="default: both")
    p.add_argument("--train-rows", type=int, default=8000)
    p.add_argument("--val-rows", type=int, default=1000, help="taken from the NSMC train file")
    p.add_argument("--test-rows", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--learning-rate", type=float, default=None, help="default: by model")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--competitors", default=",".join(COMPETITORS), help="comma-separated")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "benchmarks" / "train_speed.json")
    p.add_argument("--repeats", type=int, default=1, help="rounds; each keeps its fastest run")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--quick", action="store_true", help="tiny data, 2-layer models, 1 thread")
    p.add_argument("--worker", choices=COMPETITORS, help=argparse.SUPPRESS)
    p.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.train_rows, args.val_rows, args.test_rows, args.epochs = 200, 50, 50, 1
        args.max_length = min(args.max_length, 32)
        args.threads = args.threads or 1  # a smoke run: 2 threads crawl on a busy machine
    args.model = args.model or ("electra" if args.quick else "both")
    args.models = list(MODELS) if args.model == "both" else [args.model]
    args.competitors = [c.strip() for c in args.competitors.split(",") if c.strip()]
    unknown = set(args.competitors) - set(COMPETITORS)
    if unknown or not args.competitors:
        p.error(f"--competitors: choose from {', '.join(COMPETITORS)}")
    if args.repeats < 1:
        p.error("--repeats: at least 1")
    return args


# --- driver: what every competitor shares ------------------------------------------------------
def load_frames(args: argparse.Namespace) -> dict[str, pd.DataFrame]:
    """A seeded sample of NSMC train, split here into train and validation, and NSMC test: the
    splits every competitor gets as they are (plmkit holds nothing out itself)."""
    frames = nsmc_frames(args.nsmc_dir, args.train_rows + args.val_rows, args.test_rows, args.seed)
    pool = frames["train"]
    n_val = min(args.val_rows, len(pool) // 5)
    validation = pool.sample(n=n_val, random_state=args.seed).sort_index()
    train = pool.drop(validation.index)
    parts = {"train": train, "validation": validation, "test": frames["test"]}
    return {name: df.reset_index(drop=True) for name, df in parts.items()}


def save_initial_model(name: str, frames, args: argparse.Namespace, folder: Path) -> Path:
    """The initial model and its tokenizer, saved once: every worker loads these same weights
    (and the same vocabulary: tokenizer training is not deterministic across calls)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

    head = {
        "num_labels": len(LABELS),
        "id2label": dict(enumerate(LABELS)),
        "label2id": {label: i for i, label in enumerate(LABELS)},
        "problem_type": "single_label_classification",
    }
    if name == "electra":
        tokenizer, model = _electra(frames["train"]["text"], args, head)
    else:
        tokenizer = AutoTokenizer.from_pretrained(minilm_path())
        layers = {"num_hidden_layers": 2} if args.quick else {}
        set_seed(args.seed)  # the new head's initial weights
        model = AutoModelForSequenceClassification.from_pretrained(minilm_path(), **head, **layers)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _electra(texts: pd.Series, args: argparse.Namespace, head: dict[str, Any]):
    """ELECTRA-small's shape (2 layers with --quick), with a WordPiece tokenizer trained on the
    train texts, built the way plmkit's ``model.from_scratch`` builds it."""
    from transformers import ElectraConfig, ElectraForSequenceClassification, set_seed

    from plmkit.models import train_tokenizer

    shape = ELECTRA_SMALL
    tokenizer = train_tokenizer(texts, shape["vocab_size"])
    config = ElectraConfig(
        vocab_size=len(tokenizer),
        embedding_size=shape["embedding_size"],
        hidden_size=shape["hidden_size"],
        num_hidden_layers=2 if args.quick else shape["num_layers"],
        num_attention_heads=shape["num_heads"],
        intermediate_size=shape["intermediate_size"],
        max_position_embeddings=max(512, args.max_length),
        pad_token_id=tokenizer.pad_token_id,
        **head,
    )
    set_seed(args.seed)
    return tokenizer, ElectraForSequenceClassification(config)


def write_spec(name: str, args: argparse.Namespace, work: Path, frames: dict) -> Path:
    """Everything a worker needs, as JSON: the same settings for all competitors."""
    total_steps = math.ceil(len(frames["train"]) / args.batch_size) * args.epochs
    spec = {
        "model": name,
        "model_dir": str(save_initial_model(name, frames, args, work / name)),
        "frames": str(work / "frames.pkl"),
        "work": str(work),
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "learning_rate": args.learning_rate or DEFAULT_LR[name],
        "warmup_steps": int(WARMUP_RATIO * total_steps),  # plmkit's rounding, given to all
        "threads": args.threads,
    }
    path = work / f"{name}.json"
    path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return path


def _frames(path: Path) -> dict[str, pd.DataFrame]:
    return pd.read_pickle(path)


# --- driver: comparison and report -------------------------------------------------------------
def compare(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """plmkit against each target: the measured value, the goal, and whether it is met."""
    if "plmkit" not in results:
        return []
    mine, rows = results["plmkit"], []

    def add(target: str, value: float, goal: str, met: bool) -> None:
        rows.append({"target": target, "value": value, "goal": goal, "met": met})

    if "hf_trainer" in results:
        speed = mine["samples_per_s"] / results["hf_trainer"]["samples_per_s"]
        add("samples/s vs hf_trainer", speed, ">= 1.15x", speed >= 1.15)
        gap = abs(mine["test_acc"] - results["hf_trainer"]["test_acc"]) * 100
        add("test accuracy gap to hf_trainer (points)", gap, "<= 0.5", gap <= 0.5)
    if "seed_loop" in results:
        speed = mine["samples_per_s"] / results["seed_loop"]["samples_per_s"]
        add("samples/s vs seed_loop", speed, ">= 3x", speed >= 3)
    if "bare_loop" in results:
        over = mine["seconds_per_step"] / results["bare_loop"]["seconds_per_step"] - 1
        add("overhead vs bare_loop (%)", over * 100, "<= 3", over <= 0.03)
    return rows


def result_table(results: dict[str, dict[str, Any]]) -> str:
    mine = results.get("plmkit")
    rows = []
    for name, r in results.items():
        ratio = mine["samples_per_s"] / r["samples_per_s"] if mine else None
        rows.append(
            {
                "competitor": name,
                "samples/s": r["samples_per_s"],
                "tokens/s": r["tokens_per_s"],
                "non-pad": r["nonpad_fraction"],
                "GFLOP/s": r["gflops"],
                "% peak": r["peak_share"] * 100,
                "RSS MB": r["peak_rss_mb"],
                "prep s": r["prep_seconds"],
                "train s": r["train_seconds"],
                "val acc": r["val_acc"],
                "test acc": r["test_acc"],
                "plmkit ÷": ratio,
            }
        )
    return table(rows, list(rows[0]))


def target_table(rows: list[dict[str, Any]]) -> str:
    shown = [{**r, "met": "met" if r["met"] else "NOT met"} for r in rows]
    return table(shown, ["target", "value", "goal", "met"])


def run_model(name: str, args, work: Path, frames: dict, peak: float) -> dict[str, dict]:
    """Every competitor on one model, each in its own process, one after the other; with
    ``--repeats N``, N rounds of that, keeping each competitor's fastest run."""
    spec = write_spec(name, args, work, frames)
    results: dict[str, dict] = {}
    for _ in range(args.repeats):
        for competitor in args.competitors:
            row = run_one(name, competitor, spec, peak)
            best = results.get(competitor)
            runs = [*(best["train_seconds_runs"] if best else []), row["train_seconds"]]
            if best is None or row["train_seconds"] < best["train_seconds"]:
                results[competitor] = row
            results[competitor]["train_seconds_runs"] = runs
    return results


def run_one(name: str, competitor: str, spec: Path, peak: float) -> dict[str, Any]:
    print(f"[{name}] {competitor} ...", end=" ", file=sys.stderr, flush=True)
    start = time.perf_counter()
    row = run_worker(SCRIPT, ["--worker", competitor, "--spec", spec])
    row["worker_seconds"] = time.perf_counter() - start  # the whole child process
    print(f"{row['worker_seconds']:.1f} s", file=sys.stderr, flush=True)
    row["peak_share"] = row["gflops"] / peak
    return row


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    frames = load_frames(args)
    if args.threads:
        torch.set_num_threads(args.threads)  # the peak with the workers' thread count
    peak = matmul_peak_gflops(n=1024 if args.quick else 2048, seconds=0.5 if args.quick else 2)
    report: dict[str, Any] = {
        "command": shlex.join([sys.executable, str(SCRIPT), *(argv or sys.argv[1:])]),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine(),
        "matmul_peak_gflops": peak,
        "rows": {split: len(df) for split, df in frames.items()},
        "results": {},
        "targets": {},
    }
    with tempfile.TemporaryDirectory(prefix="train-speed-") as tmp:
        work = Path(tmp)
        pd.to_pickle(frames, work / "frames.pkl")
        for name in args.models:
            results = run_model(name, args, work, frames, peak)
            report["results"][name] = results
            report["targets"][name] = compare(results)
            print_model(name, results, report)
    write_json(args.out, report)
    print(f"written: {args.out}")
    return 0


def print_model(name: str, results: dict[str, dict[str, Any]], report: dict[str, Any]) -> None:
    any_row = next(iter(results.values()))
    rows = report["rows"]
    print(
        f"\n## {name}: {any_row['non_embedding_params'] / 1e6:.1f}M non-embedding parameters, "
        f"{rows['train']}/{rows['validation']}/{rows['test']} train/val/test rows, "
        f"matmul peak {report['matmul_peak_gflops']:.0f} GFLOP/s\n"
    )
    print(result_table(results))
    if report["targets"][name]:
        print()
        print(target_table(report["targets"][name]))
    print()


# --- workers: shared measurement ---------------------------------------------------------------
@dataclass
class Counts:
    """What the training batches held: optimizer steps, rows, real and processed tokens."""

    steps: int = 0
    samples: int = 0
    real_tokens: int = 0
    processed_tokens: int = 0

    def add(self, rows: int, width: int, real: int) -> None:
        self.steps += 1
        self.samples += rows
        self.processed_tokens += rows * width
        self.real_tokens += real


@dataclass
class Timing:
    prep: float = 0.0  # tokenisation (and plmkit's validation of the rows)
    load: float = 0.0  # loading the model
    train: float = 0.0  # the training steps only
    fit: float = 0.0  # the whole training call


def non_embedding_params(model: torch.nn.Module) -> int:
    """Parameters outside embedding tables: those that take part in the matmuls."""
    tables = {
        id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()
    }
    return sum(p.numel() for p in model.parameters() if id(p) not in tables)


def accuracy(model, tokenizer, frame: pd.DataFrame, max_length: int) -> float:
    """The one evaluation every competitor's final model gets: eval mode, rows sorted by
    length, padded per batch, argmax against the label."""
    ids = tokenizer(frame["text"].tolist(), truncation=True, max_length=max_length)["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    labels = torch.tensor(frame["label"].to_numpy())
    correct = 0
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), EVAL_BATCH):
            rows = order[start : start + EVAL_BATCH]
            batch = tokenizer.pad({"input_ids": [ids[i] for i in rows]}, return_tensors="pt")
            pred = model(**batch).logits.argmax(-1)
            correct += int((pred == labels[rows]).sum())
    return correct / max(len(order), 1)


def finish(name: str, spec: dict, model, tokenizer, frames, counts: Counts, t: Timing) -> dict:
    """A worker's result row."""
    n = non_embedding_params(model)
    train_s = max(t.train, 1e-9)
    return {
        "competitor": name,
        "model": spec["model"],
        **asdict(counts),
        **{f"{k}_seconds": v for k, v in asdict(t).items()},
        "samples_per_s": counts.samples / train_s,
        "tokens_per_s": counts.real_tokens / train_s,
        "seconds_per_step": train_s / max(counts.steps, 1),
        "nonpad_fraction": counts.real_tokens / max(counts.processed_tokens, 1),
        "non_embedding_params": n,
        "gflops": 6 * n * counts.processed_tokens / train_s / 1e9,
        "peak_rss_mb": peak_rss_mb(),
        "val_acc": accuracy(model, tokenizer, frames["validation"], spec["max_length"]),
        "test_acc": accuracy(model, tokenizer, frames["test"], spec["max_length"]),
    }


def load_model(spec: dict):
    from transformers import AutoModelForSequenceClassification, set_seed

    set_seed(spec["seed"])
    return AutoModelForSequenceClassification.from_pretrained(spec["model_dir"])


def plmkit_batch_counts(data, spec: dict) -> Counts:
    """The batches plmkit's loader yields (batch order depends on seed and epoch only),
    replayed outside the timed loop: rows, padded width and real tokens per batch."""
    from plmkit.batching import train_loader

    sampler = train_loader(
        data, spec["batch_size"], 0, seed=spec["seed"], group_by_length=True
    ).batch_sampler
    counts = Counts()
    for epoch in range(spec["epochs"]):
        sampler.set_epoch(epoch)
        for rows in sampler:
            lengths = data.lengths[rows]
            counts.add(len(rows), int(lengths.max()), int(lengths.sum()))
    return counts


# --- workers: the competitors ------------------------------------------------------------------
def plmkit_config(spec: dict):
    from plmkit.config import RunConfig

    return RunConfig.model_validate(
        {
            "task": "text_classification",
            "seed": spec["seed"],
            "data": {"source": "dataframe", "labels": LABELS, "cache": False},
            "preprocess": {"steps": []},  # validation is given: nothing is held out
            "model": {"name_or_path": spec["model_dir"], "max_length": spec["max_length"]},
            "training": {
                "epochs": spec["epochs"],
                "batch_size": spec["batch_size"],
                "learning_rate": spec["learning_rate"],
                "weight_decay": WEIGHT_DECAY,
                "warmup_ratio": WARMUP_RATIO,
                "max_grad_norm": MAX_GRAD_NORM,
                "mixed_precision": "auto",
                "device": "cpu",
                "group_by_length": True,
            },
            "output": {"dir": str(Path(spec["work"]) / "runs"), "name": "plmkit"},
        }
    )


def run_plmkit(spec: dict, frames: dict[str, pd.DataFrame]) -> dict:
    from transformers import set_seed

    from plmkit.models import load_model as plmkit_load_model
    from plmkit.pipeline import Pipeline, build_task
    from plmkit.stages.fetch.frame import DataFrameFetcher

    t = Timing()
    config = plmkit_config(spec)
    task = build_task(config)
    pipeline = Pipeline(config, task=task, fetcher=DataFrameFetcher(frames, columns=task.columns))
    start = time.perf_counter()
    data = pipeline.prepare()
    t.prep = time.perf_counter() - start
    start = time.perf_counter()
    set_seed(spec["seed"])
    model = plmkit_load_model(config.model, task, data.tokenizer)
    t.load = time.perf_counter() - start
    pad_id = data.tokenizer.pad_token_id or 0
    start = time.perf_counter()
    fit = pipeline.trainer.fit(
        model, data.splits["train"], data.splits.get("validation"), pad_id=pad_id, run=None
    )
    t.fit = time.perf_counter() - start
    t.train = sum(epoch["train_seconds"] for epoch in fit.history)
    counts = plmkit_batch_counts(data.splits["train"], spec)
    return finish("plmkit", spec, fit.model, data.tokenizer, frames, counts, t)


def run_bare_loop(spec: dict, frames: dict[str, pd.DataFrame]) -> dict:
    from transformers import AutoTokenizer, set_seed

    from plmkit.batching import encode, train_loader
    from plmkit.config import TrainingConfig
    from plmkit.stages.train.optim import adamw, linear
    from plmkit.tasks.classification import TextClassification

    t = Timing()
    tokenizer = AutoTokenizer.from_pretrained(spec["model_dir"])
    start = time.perf_counter()
    task = TextClassification(labels=LABELS)
    data = encode(frames["train"], task, tokenizer, spec["max_length"], "train")
    t.prep = time.perf_counter() - start
    start = time.perf_counter()
    model = load_model(spec)
    t.load = time.perf_counter() - start

    start = time.perf_counter()
    cfg = TrainingConfig(learning_rate=spec["learning_rate"], weight_decay=WEIGHT_DECAY)
    pad_id = tokenizer.pad_token_id or 0
    loader = train_loader(data, spec["batch_size"], pad_id, seed=spec["seed"], group_by_length=True)
    optimizer = adamw(model, cfg)
    scheduler = linear(optimizer, spec["warmup_steps"], len(loader) * spec["epochs"])
    set_seed(spec["seed"])  # as plmkit does right before its loop: the same dropout masks
    for epoch in range(spec["epochs"]):
        model.train()
        loader.batch_sampler.set_epoch(epoch)
        epoch_start = time.perf_counter()
        for batch in loader:
            batch.pop("row")
            model(**batch).loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        t.train += time.perf_counter() - epoch_start
    t.fit = time.perf_counter() - start
    counts = plmkit_batch_counts(data, spec)
    return finish("bare_loop", spec, model, tokenizer, frames, counts, t)


class PaddedRows(torch.utils.data.Dataset):
    """The seed script's dataset: rows tokenised and padded to max_length up front."""

    def __init__(self, encoded: dict[str, torch.Tensor], labels):
        self.encoded = encoded
        self.labels = torch.tensor(labels)  # a copy: pickled arrays are read-only

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {key: column[i] for key, column in self.encoded.items()}
        item["labels"] = self.labels[i]
        return item


def padded_rows(tokenizer, frame: pd.DataFrame, max_length: int) -> PaddedRows:
    encoded = tokenizer(
        frame["text"].tolist(),
        padding="max_length",
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    return PaddedRows(dict(encoded), frame["label"].to_numpy())


def run_seed_loop(spec: dict, frames: dict[str, pd.DataFrame]) -> dict:
    from torch.utils.data import DataLoader
    from transformers import AutoTokenizer

    t = Timing()
    tokenizer = AutoTokenizer.from_pretrained(spec["model_dir"])
    start = time.perf_counter()
    train = padded_rows(tokenizer, frames["train"], spec["max_length"])
    validation = padded_rows(tokenizer, frames["validation"], spec["max_length"])
    t.prep = time.perf_counter() - start
    start = time.perf_counter()
    model = load_model(spec)
    t.load = time.perf_counter() - start

    start = time.perf_counter()
    loader = DataLoader(train, batch_size=spec["batch_size"], shuffle=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec["learning_rate"])
    for _ in range(spec["epochs"]):
        model.train()
        epoch_start = time.perf_counter()
        for batch in loader:
            optimizer.zero_grad()
            out = model(**batch)
            out.loss.backward()
            optimizer.step()
        t.train += time.perf_counter() - epoch_start
        seed_validate(model, validation, spec["batch_size"])
    t.fit = time.perf_counter() - start

    n, epochs = len(train), spec["epochs"]
    real = int(train.encoded["attention_mask"].sum()) * epochs
    counts = Counts(len(loader) * epochs, n * epochs, real, n * spec["max_length"] * epochs)
    return finish("seed_loop", spec, model, tokenizer, frames, counts, t)


def seed_validate(model, data: PaddedRows, batch_size: int) -> float:
    """The seed script's own per-epoch check: accuracy on the padded validation rows."""
    from torch.utils.data import DataLoader

    model.eval()
    correct = 0
    with torch.no_grad():
        for batch in DataLoader(data, batch_size=batch_size):
            labels = batch.pop("labels")
            correct += int((model(**batch).logits.argmax(-1) == labels).sum())
    return correct / max(len(data), 1)


class TokenRows(torch.utils.data.Dataset):
    """Tokenised rows, unpadded, as dicts with ``labels``: what ``DataCollatorWithPadding``
    pads per batch, and what the Trainer's length grouping measures (``len(input_ids)``)."""

    def __init__(self, tokenizer, frame: pd.DataFrame, max_length: int):
        encoded = tokenizer(frame["text"].tolist(), truncation=True, max_length=max_length)
        labels = frame["label"].tolist()
        self.rows = [
            {**{key: column[i] for key, column in encoded.items()}, "labels": labels[i]}
            for i in range(len(labels))
        ]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


def hf_arguments(spec: dict, has_validation: bool):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(Path(spec["work"]) / "hf_trainer"),
        num_train_epochs=spec["epochs"],
        per_device_train_batch_size=spec["batch_size"],
        per_device_eval_batch_size=EVAL_BATCH,
        learning_rate=spec["learning_rate"],
        weight_decay=WEIGHT_DECAY,
        lr_scheduler_type="linear",
        warmup_steps=spec["warmup_steps"],  # an int: exactly plmkit's warmup
        max_grad_norm=MAX_GRAD_NORM,
        optim="adamw_torch_fused",  # torch's fused AdamW, as plmkit's (and the Trainer's default)
        seed=spec["seed"],
        data_seed=spec["seed"],
        train_sampling_strategy="group_by_length",
        eval_strategy="epoch" if has_validation else "no",
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def hf_trainer_class():
    """A Trainer that counts its training batches' rows and tokens, and a callback that times
    each epoch's steps (``on_epoch_end`` comes before the epoch's evaluation)."""
    from transformers import Trainer, TrainerCallback

    class CountingTrainer(Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.counts = Counts()

        def training_step(self, model, inputs, num_items_in_batch=None):
            mask = inputs["attention_mask"]
            self.counts.add(mask.shape[0], mask.shape[1], int(mask.sum()))
            return super().training_step(model, inputs, num_items_in_batch)

    class EpochTimer(TrainerCallback):
        seconds, started = 0.0, 0.0

        def on_epoch_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_epoch_end(self, args, state, control, **kwargs):
            self.seconds += time.perf_counter() - self.started

    return CountingTrainer, EpochTimer


def run_hf_trainer(spec: dict, frames: dict[str, pd.DataFrame]) -> dict:
    from transformers import AutoTokenizer, DataCollatorWithPadding

    t = Timing()
    tokenizer = AutoTokenizer.from_pretrained(spec["model_dir"])
    start = time.perf_counter()
    train = TokenRows(tokenizer, frames["train"], spec["max_length"])
    validation = TokenRows(tokenizer, frames["validation"], spec["max_length"])
    t.prep = time.perf_counter() - start
    start = time.perf_counter()
    model = load_model(spec)
    t.load = time.perf_counter() - start

    trainer_cls, timer_cls = hf_trainer_class()
    timer = timer_cls()
    start = time.perf_counter()
    trainer = trainer_cls(
        model=model,
        args=hf_arguments(spec, has_validation=len(validation) > 0),
        data_collator=DataCollatorWithPadding(tokenizer),
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        callbacks=[timer],
    )
    trainer.train()
    t.fit = time.perf_counter() - start
    t.train = timer.seconds
    return finish("hf_trainer", spec, trainer.model, tokenizer, frames, trainer.counts, t)


WORKERS = {
    "plmkit": run_plmkit,
    "hf_trainer": run_hf_trainer,
    "seed_loop": run_seed_loop,
    "bare_loop": run_bare_loop,
}


def worker_main(args: argparse.Namespace) -> int:
    spec = json.loads(args.spec.read_text(encoding="utf-8"))
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    emit(WORKERS[args.worker](spec, _frames(Path(spec["frames"]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
