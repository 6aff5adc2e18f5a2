"""The Pipeline: FetchData -> Preprocessing -> Train -> Evaluation for one task.

Each stage is built from the config (a registered name or a dotted path) unless the caller
passes its own instance, so any stage can be replaced from YAML or from Python.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from accelerate import PartialState
from accelerate.utils import broadcast_object_list, set_seed

from plmkit import registry
from plmkit.batching import Encoded, encode
from plmkit.config.schema import RunConfig
from plmkit.datacache import DataCache, digest, tokenizer_digest, write_split
from plmkit.errors import DataError
from plmkit.models import load_model, load_tokenizer
from plmkit.rundir import RunDir
from plmkit.stages.evaluate import Evaluator
from plmkit.stages.fetch import Fetcher
from plmkit.stages.preprocess import Preprocessor
from plmkit.stages.train import Trainer
from plmkit.stages.train.precision import resolve_device
from plmkit.tasks.base import TaskAdapter
from plmkit.validation import check, empty_rejected

log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    """What training needs from the data: tokenised splits, the tokenizer, the rejected rows."""

    splits: dict[str, Encoded]
    tokenizer: Any
    rejected: pd.DataFrame
    summary: dict[str, Any]
    cache: Path | None = None  # the data cache entry used or written
    cached: bool = False  # True when loaded from the cache without preparing anything


@dataclass
class RunResult:
    run: RunDir | None
    metrics: dict[str, dict[str, Any]]  # split -> metrics
    summary: dict[str, Any] = field(default_factory=dict)
    model: Any = None
    tokenizer: Any = None
    task: Any = None


def build_task(config: RunConfig) -> TaskAdapter:
    return registry.tasks.get(config.task)(config.task_options, labels=config.data.labels)


def build_fetcher(config: RunConfig, task: TaskAdapter) -> Fetcher:
    cls = registry.fetchers.get(config.data.source)
    return cls(config.data.params, columns=task.columns, targets=task.target_columns)


def build_preprocessor(config: RunConfig, task: TaskAdapter) -> Preprocessor:
    steps = [registry.steps.get(s.name)(s.params) for s in config.preprocess.steps]
    cls = registry.preprocessors.get(config.preprocess.preprocessor)
    return cls(
        steps,
        text_columns=task.text_columns,
        validation_size=config.preprocess.validation_size,
        test_size=config.preprocess.test_size,
        stratify_by=task.stratify_by if config.preprocess.stratify else None,
        seed=config.seed,
    )


def build_evaluator(config: RunConfig, task: TaskAdapter) -> Evaluator:
    return registry.evaluators.get(config.evaluation.evaluator)(
        task, batch_size=config.evaluation.batch_size
    )


def build_trainer(config: RunConfig, task: TaskAdapter, evaluator: Evaluator) -> Trainer:
    return registry.trainers.get(config.training.trainer)(
        config.training, task, evaluator, seed=config.seed
    )


class Pipeline:
    def __init__(
        self,
        config: RunConfig,
        *,
        task: TaskAdapter | None = None,
        fetcher: Fetcher | None = None,
        preprocessor: Preprocessor | None = None,
        trainer: Trainer | None = None,
        evaluator: Evaluator | None = None,
    ):
        self.config = config
        self.task = task or build_task(config)
        self.fetcher = fetcher or build_fetcher(config, self.task)
        self.preprocessor = preprocessor or build_preprocessor(config, self.task)
        self.evaluator = evaluator or build_evaluator(config, self.task)
        self.trainer = trainer or build_trainer(config, self.task, self.evaluator)
        self.timings: dict[str, float] = {}  # seconds per data stage, from the last run

    @contextmanager
    def _timed(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start

    # --- the stages, each usable alone -----------------------------------------------------
    def load_data(self) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
        """Fetch, validate, preprocess and validate again. Returns splits and rejected rows."""
        cfg = self.config
        with self._timed("fetch"):
            splits = self.fetcher.fetch()
        if "train" not in splits:
            raise DataError("the data has no train split (data.train)")
        splits = {
            name: self.task.prepare(add_ids(limit_rows(df, cfg.data.limit, name, cfg.seed)))
            for name, df in splits.items()
        }
        self.task.fit(splits["train"])
        rejected = [empty_rejected()]
        splits = self._check(splits, "fetched", self.task.raw_schema, rejected)
        splits = {name: self.task.encode_targets(df) for name, df in splits.items()}
        with self._timed("preprocess"):
            processed = self.preprocessor.run(splits)
        rejected.append(processed.rejected)
        splits = self._check(processed.splits, "preprocessed", self.task.processed_schema, rejected)
        for name, df in splits.items():
            if len(df) == 0:
                raise DataError(
                    f"split '{name}' has no rows left after validation and "
                    "preprocessing (see rejected rows)"
                )
        kept = [r for r in rejected if len(r)]
        return splits, (pd.concat(kept, ignore_index=True) if kept else empty_rejected())

    def _check(self, splits, stage, schema_for, rejected) -> dict[str, pd.DataFrame]:
        out = {}
        for name, df in splits.items():
            schema = schema_for(has_labels=self.task.has_targets(df))
            with self._timed("validate"):
                df_ok, bad = check(
                    df, schema, split=name, stage=stage, on_invalid=self.config.data.on_invalid
                )
            df_ok.attrs = dict(df.attrs)
            out[name] = df_ok
            rejected.append(bad)
        return out

    def prepare(self) -> PreparedData:
        """Data and tokenizer for training: from the data cache when nothing that decides them
        has changed, else fetched, validated, preprocessed and tokenised (and cached)."""
        cfg = self.config
        self.timings = {}
        scratch = cfg.model.from_scratch is not None
        with self._timed("tokenizer"):
            tokenizer = None if scratch else load_tokenizer(cfg.model)
        with self._timed("cache_lookup"):
            key = self.cache_key(tokenizer)
            cache = DataCache(cfg.data.cache.dir) if key else None
            hit = cache.load(key) if cache is not None else None
        if hit is not None:
            log.info("data: from the cache %s", hit.path)
            self.task.load_state(hit.task_state)
            tokenizer = hit.tokenizer or tokenizer
            return PreparedData(
                hit.splits, tokenizer, hit.rejected, hit.summary, hit.path, cached=True
            )

        splits, rejected = self.load_data()
        if scratch:
            with self._timed("tokenizer"):
                texts = self.task.tokenizer_texts(splits["train"])
                tokenizer = load_tokenizer(cfg.model, texts)
        summary = data_summary(splits, rejected)
        if cache is None:
            with self._timed("tokenize"):
                encoded = {
                    name: encode(df, self.task, tokenizer, cfg.model.max_length, name)
                    for name, df in splits.items()
                }
            return PreparedData(encoded, tokenizer, rejected, summary)

        def write(folder: Path) -> dict[str, Any]:
            meta = {}
            for name, df in splits.items():
                data = encode(df, self.task, tokenizer, cfg.model.max_length, name, into=folder)
                meta[name] = write_split(folder, name, data)
            rejected.to_csv(folder / "rejected.csv", index=False)
            if scratch:
                tokenizer.save_pretrained(folder / "tokenizer")
            return {"splits": meta, "summary": summary, "task_state": self.task.state()}

        with self._timed("tokenize"):
            entry = cache.save(key, write)
        log.info("data: cached in %s", entry.path)
        tokenizer = entry.tokenizer or tokenizer
        return PreparedData(entry.splits, tokenizer, rejected, summary, entry.path)

    def cache_key(self, tokenizer: Any) -> str | None:
        """The data cache key, or None when this data cannot be cached (caching is off, the
        fetcher cannot fingerprint its input, or the task keeps state outside the cache)."""
        cfg = self.config
        if not cfg.data.cache.enabled or not self.task.cacheable:
            return None
        source = self.fetcher.fingerprint()
        if source is None:
            return None
        data = cfg.data.model_dump(mode="json", exclude={"cache"})
        model = cfg.model.from_scratch.model_dump(mode="json") if tokenizer is None else None
        return digest(
            {
                "source": source,
                "data": data,
                "seed": cfg.seed,
                "preprocess": cfg.preprocess.model_dump(mode="json"),
                "task": [self.task.name, type(self.task).__qualname__, cfg.task_options],
                "max_length": cfg.model.max_length,
                "tokenizer": tokenizer_digest(tokenizer) if tokenizer is not None else model,
            }
        )

    # --- the whole run ---------------------------------------------------------------------
    def run(self, run: RunDir | None = None) -> RunResult:
        cfg = self.config
        started = time.perf_counter()
        # Under `accelerate launch` every process runs this; only the main one writes files.
        # (cpu=True here lets torchrun/accelerate launch on CPUs use gloo across processes.)
        state = PartialState(cpu=resolve_device(cfg.training.device) == "cpu")
        main = state.is_main_process
        if run is None:  # checked now, created once data and model have loaded
            run = self._plan_run_dir(state)

        # The main process prepares (and caches) the data first; the others then load it from
        # the cache, so every process gets the same rows and the same tokenizer.
        with state.main_process_first():
            data = self.prepare()
        tokenizer, encoded = data.tokenizer, data.splits
        set_seed(cfg.seed)  # a new head's (or a scratch model's) initial weights follow the seed
        model = load_model(cfg.model, self.task, tokenizer)

        if main:
            run.create(overwrite=cfg.output.overwrite)
            run.write_config(cfg.model_dump(mode="json"))
            run.write_versions()
            run.write_rejected(data.rejected)
        state.wait_for_everyone()
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

        result = self.trainer.fit(
            model, encoded["train"], encoded.get("validation"), pad_id=pad_id, run=run
        )
        model = result.model
        if main:
            save_model(run, model, tokenizer, self.task)

        metrics: dict[str, dict[str, Any]] = {}
        if result.best_metrics:
            metrics["validation"] = result.best_metrics
        for name in cfg.evaluation.splits:
            if name not in encoded:
                log.warning("evaluation split '%s' is not in the data; skipped", name)
                continue
            metrics[name] = self.evaluate_split(
                model, encoded[name], name, pad_id, run, result.accelerator
            )

        summary = dict(data.summary)
        summary.update(
            data_cache=str(data.cache) if data.cache else None,
            best_epoch=result.best_epoch,
            seconds=round(time.perf_counter() - started, 1),
        )
        if main:
            run.write_json("metrics.json", {**metrics, "summary": summary})
        return RunResult(
            run=run,
            metrics=metrics,
            summary=summary,
            model=model,
            tokenizer=tokenizer,
            task=self.task,
        )

    def _plan_run_dir(self, state: PartialState) -> RunDir:
        """The main process checks and names the run directory; the others learn its path."""
        out = self.config.output
        path = [None]
        if state.is_main_process:
            run = RunDir.plan(out.dir, out.name, self.config.task, out.overwrite, out.resume)
            path = [str(run.path)]
        if state.num_processes > 1:
            broadcast_object_list(path)
        return RunDir(path[0])

    def evaluate_split(
        self, model, data: Encoded, name: str, pad_id: int, run: RunDir, accelerator: Any = None
    ) -> dict[str, Any]:
        wanted = self.config.evaluation.write_predictions
        out = self.evaluator.evaluate(
            model, data, pad_id=pad_id, accelerator=accelerator, with_predictions=wanted
        )
        if out.predictions is not None and PartialState().is_main_process:
            path = run.predictions_path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            out.predictions.to_csv(path, index=False)
        return out.metrics


def save_model(run: RunDir, model, tokenizer, task: TaskAdapter) -> None:
    """Best weights + tokenizer (safetensors) and the task's state, for ``predict``."""
    import json

    model.save_pretrained(run.model_dir)
    tokenizer.save_pretrained(run.model_dir)
    state = {"task": task.name, "state": task.state()}
    (run.model_dir / "plmkit.json").write_text(
        json.dumps(state, ensure_ascii=False, indent=2), encoding="utf-8"
    )


def limit_rows(
    df: pd.DataFrame, limit: int | dict[str, int] | None, split: str, seed: int
) -> pd.DataFrame:
    """A seeded sample of at most ``limit`` rows, in the file's order."""
    n = limit.get(split) if isinstance(limit, dict) else limit
    if n is None or len(df) <= n:
        return df
    out = df.sample(n=n, random_state=seed).sort_index()
    out.attrs = dict(df.attrs)
    return out


def add_ids(df: pd.DataFrame) -> pd.DataFrame:
    """Rows without an id column get their position in the source as id."""
    if "id" in df.columns:
        return df
    out = df.copy()
    out.insert(0, "id", df.index)
    out.attrs = dict(df.attrs)
    return out


def data_summary(splits: dict[str, pd.DataFrame], rejected: pd.DataFrame) -> dict[str, Any]:
    reasons = rejected.groupby(["split", "reason"]).size() if len(rejected) else []
    return {
        "rows": {name: len(df) for name, df in splits.items()},
        "rejected": int(len(rejected)),
        "rejected_by_reason": {f"{s}: {r}": int(n) for (s, r), n in dict(reasons).items()},
    }
