"""Reload a run directory and predict: sorted by length, batched, under inference_mode."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from plmkit import registry
from plmkit.batching import encode
from plmkit.errors import DataError, ModelError
from plmkit.pipeline import add_ids
from plmkit.rundir import RunDir
from plmkit.stages.evaluate import DefaultEvaluator, EvalResult
from plmkit.stages.fetch import TableOptions, read_table
from plmkit.stages.fetch.conll import ConllOptions, read_conll
from plmkit.stages.fetch.nsmc import READ_OPTIONS as NSMC_READ_OPTIONS
from plmkit.stages.preprocess import Step
from plmkit.tasks.base import TaskAdapter
from plmkit.validation import check


@dataclass
class LoadedRun:
    run: RunDir
    config: dict[str, Any]
    task: TaskAdapter
    model: Any
    tokenizer: Any
    steps: list[Step]

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    @property
    def max_length(self) -> int:
        return int(self.config["model"]["max_length"])

    def prepare(self, df: pd.DataFrame) -> pd.DataFrame:
        """The run's text steps (not its filters: every input row gets a prediction)."""
        from plmkit.stages.preprocess import TextStep

        for step in self.steps:
            if isinstance(step, TextStep):
                df, _ = step.apply(df, "predict", self.task.text_columns)
        return df

    def evaluate(
        self, df: pd.DataFrame, batch_size: int = 128, with_predictions: bool = True
    ) -> EvalResult:
        """Predict every row; score them too when they carry targets. Rows are validated with
        the task's schema first (every bad row reported), then given the run's text steps."""
        df = self.task.prepare(df)
        df, _ = check(
            df,
            self.task.raw_schema(has_labels=self.task.has_targets(df)),
            split="input",
            stage="fetched",
        )
        df = self.task.encode_targets(self.prepare(df))
        data = encode(df, self.task, self.tokenizer, self.max_length, "predict")
        evaluator = DefaultEvaluator(self.task, batch_size=batch_size)
        return evaluator.evaluate(
            self.model, data, pad_id=self.pad_id, with_predictions=with_predictions
        )

    def input_options(self, **overrides: Any) -> TableOptions:
        """How to read a new file: like the run's training data (columns, encoding, quoting),
        with ``overrides`` on top (``columns`` merged key by key)."""
        data = self.config["data"]
        if data.get("source") == "nsmc":
            base = NSMC_READ_OPTIONS.model_dump()
        else:
            base = {k: data[k] for k in TableOptions.model_fields if k in data}
        columns = {**base.get("columns", {}), **overrides.pop("columns", {})}
        try:
            return TableOptions.model_validate({**base, **overrides, "columns": columns})
        except ValidationError as exc:
            raise DataError(f"input options: {exc.errors()[0]['msg']}") from None

    def read_input(self, path, *, labelled: bool, **overrides: Any) -> pd.DataFrame:
        """Read a file of new rows with the task's columns; ``labelled`` demands targets."""
        data = self.config["data"]
        fmt = overrides.get("format")
        table_suffix = Path(path).suffix.lower() in (
            ".jsonl",
            ".ndjson",
            ".json",
            ".csv",
            ".parquet",
        )
        if fmt == "conll" or (fmt is None and data.get("source") == "conll" and not table_suffix):
            overrides.pop("format", None)
            overrides.pop("columns", None)
            base = {k: data[k] for k in ConllOptions.model_fields if k in data}
            try:
                options = ConllOptions.model_validate({**base, **overrides})
            except ValidationError as exc:
                raise DataError(f"input options: {exc.errors()[0]['msg']}") from None
            return add_ids(read_conll(path, options))
        wanted = dict(self.task.columns)
        for col in self.task.target_columns:
            wanted[col] = labelled
        return add_ids(read_table(path, self.input_options(**overrides), wanted))

    def predict(self, texts: list[str], batch_size: int = 128) -> pd.DataFrame:
        needed = [c for c, required in self.task.columns.items() if required and c != "text"]
        if needed and "text" in self.task.columns:
            raise DataError(
                f"task {self.task.name} also needs column(s) {', '.join(needed)}: "
                "predict from a file with --input"
            )
        df = pd.DataFrame({"id": range(len(texts)), "text": texts})
        return self.evaluate(df, batch_size).predictions.assign(text=texts)


def load_run(path) -> LoadedRun:
    from transformers import AutoTokenizer

    run = RunDir.open(path)
    config = run.read_config()
    state = json.loads((run.model_dir / "plmkit.json").read_text(encoding="utf-8"))
    task = registry.tasks.get(state["task"]).from_state(state["state"])
    try:
        tokenizer = AutoTokenizer.from_pretrained(run.model_dir)
        model = task.model_class().from_pretrained(run.model_dir)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{run.model_dir}: cannot load the saved model: {exc}") from None
    model.eval()
    steps = [
        registry.steps.get(s["name"])({k: v for k, v in s.items() if k != "name"})
        for s in config["preprocess"]["steps"]
    ]
    return LoadedRun(run, config, task, model, tokenizer, steps)
