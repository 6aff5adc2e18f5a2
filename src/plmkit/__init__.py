"""plmkit: config-driven fine-tuning of pretrained language models.

FetchData -> Preprocessing -> Train -> Evaluation, each stage an ABC with a default, chained
by :class:`Pipeline` for one task adapter. Import everything from here; names are imported on
first use, so ``plmkit validate`` and config errors do not wait for torch to load.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "plmkit.config": ["RunConfig", "load_config"],
    "plmkit.errors": [
        "ConfigError",
        "DataError",
        "ModelError",
        "PlmkitError",
        "RunDirError",
        "TrainingStopped",
    ],
    "plmkit.pipeline": ["Pipeline", "RunResult"],
    "plmkit.predict": ["LoadedRun", "load_run"],
    "plmkit.rundir": ["RunDir"],
    "plmkit.stages.evaluate": ["DefaultEvaluator", "EvalResult", "Evaluator"],
    "plmkit.stages.fetch": [
        "DataFrameFetcher",
        "Fetcher",
        "FileFetcher",
        "NsmcFetcher",
        "TableOptions",
        "UrlFetcher",
        "read_table",
    ],
    "plmkit.stages.preprocess": [
        "FilterStep",
        "Preprocessed",
        "Preprocessor",
        "Step",
        "StepPreprocessor",
        "TextStep",
    ],
    "plmkit.stages.train": ["DefaultTrainer", "TrainResult", "Trainer"],
    "plmkit.tasks": ["Metrics", "TaskAdapter", "TextClassification"],
    "plmkit.tasks.pair": ["PairClassification"],
    "plmkit.tasks.multilabel": ["MultiLabelClassification"],
    "plmkit.tasks.regression": ["Regression"],
    "plmkit.tasks.tobit": ["TobitRegression"],
    "plmkit.tasks.token_classification": ["TokenClassification"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted([*_WHERE, "registry"])


def __getattr__(name: str) -> Any:
    if name == "registry":
        return importlib.import_module("plmkit.registry")
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'plmkit' has no attribute '{name}'")


if TYPE_CHECKING:  # for editors and type checkers
    from plmkit import registry
    from plmkit.config import RunConfig, load_config
    from plmkit.errors import (
        ConfigError,
        DataError,
        ModelError,
        PlmkitError,
        RunDirError,
        TrainingStopped,
    )
    from plmkit.pipeline import Pipeline, RunResult
    from plmkit.predict import LoadedRun, load_run
    from plmkit.rundir import RunDir
    from plmkit.stages.evaluate import DefaultEvaluator, EvalResult, Evaluator
    from plmkit.stages.fetch import (
        DataFrameFetcher,
        Fetcher,
        FileFetcher,
        NsmcFetcher,
        TableOptions,
        UrlFetcher,
        read_table,
    )
    from plmkit.stages.preprocess import (
        FilterStep,
        Preprocessed,
        Preprocessor,
        Step,
        StepPreprocessor,
        TextStep,
    )
    from plmkit.stages.train import DefaultTrainer, Trainer, TrainResult
    from plmkit.tasks import Metrics, TaskAdapter, TextClassification
    from plmkit.tasks.multilabel import MultiLabelClassification
    from plmkit.tasks.pair import PairClassification
    from plmkit.tasks.regression import Regression
    from plmkit.tasks.tobit import TobitRegression
    from plmkit.tasks.token_classification import TokenClassification
