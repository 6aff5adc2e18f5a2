"""Registries: named components, open to other packages through entry points.

A name resolves, in order, to: a component registered in this process, a component a package
advertises under the registry's entry-point group (e.g. ``plmkit.tasks``), or a dotted import
path (``my_pkg.module.MyFetcher`` or ``my_pkg.module:MyFetcher``).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from plmkit.errors import PlmkitError

T = TypeVar("T")


class RegistryError(PlmkitError):
    pass


class Registry(Generic[T]):
    def __init__(self, kind: str, builtins: dict[str, str]):
        self.kind = kind
        self.group = f"plmkit.{kind}"
        # Built-ins are named here and imported on first use, so that checking a config does
        # not pay for importing torch.
        self._builtins = builtins
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            self._items[name] = obj
            return obj

        return add

    def names(self) -> list[str]:
        entry = {ep.name for ep in entry_points(group=self.group)}
        return sorted(set(self._items) | set(self._builtins) | entry)

    def check(self, name: str) -> None:
        """Raise RegistryError unless ``name`` resolves; built-ins are not imported for this."""
        if name not in self._items and name not in self._builtins:
            self.get(name)

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        if name in self._builtins:
            self._items[name] = _import_dotted(self._builtins[name], self.kind)
            return self._items[name]
        for ep in entry_points(group=self.group):
            if ep.name == name:
                try:
                    self._items[name] = ep.load()
                except (ImportError, AttributeError) as exc:
                    raise RegistryError(
                        f"cannot load {self.kind[:-1]} '{name}' ({ep.value}): {exc}"
                    ) from None
                return self._items[name]
        if "." in name or ":" in name:
            return _import_dotted(name, self.kind)
        hint = difflib.get_close_matches(name, self.names(), n=1)
        extra = f"; did you mean '{hint[0]}'?" if hint else f"; known: {', '.join(self.names())}"
        raise RegistryError(f"unknown {self.kind[:-1]} '{name}'{extra}")


def _import_dotted(path: str, kind: str) -> Any:
    module_name, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise RegistryError(f"cannot import {kind[:-1]} '{path}': {exc}") from None


fetchers: Registry[Any] = Registry(
    "fetchers",
    {
        "files": "plmkit.stages.fetch.files:FileFetcher",
        "url": "plmkit.stages.fetch.url:UrlFetcher",
        "nsmc": "plmkit.stages.fetch.nsmc:NsmcFetcher",
        "dataframe": "plmkit.stages.fetch.frame:DataFrameFetcher",
        "conll": "plmkit.stages.fetch.conll:ConllFetcher",
    },
)
steps: Registry[Any] = Registry(
    "steps",
    {
        name: f"plmkit.stages.preprocess.steps:{cls}"
        for name, cls in [
            ("nfc", "UnicodeNormalize"),
            ("whitespace", "NormalizeWhitespace"),
            ("strip_urls", "StripUrls"),
            ("strip_html", "StripHtml"),
            ("squeeze_repeats", "SqueezeRepeats"),
            ("drop_empty", "DropEmpty"),
            ("dedupe", "Deduplicate"),
        ]
    },
)
preprocessors: Registry[Any] = Registry(
    "preprocessors",
    {
        "default": "plmkit.stages.preprocess.default:StepPreprocessor",
    },
)
trainers: Registry[Any] = Registry(
    "trainers",
    {
        "default": "plmkit.stages.train.default:DefaultTrainer",
    },
)
optimizers: Registry[Any] = Registry(
    "optimizers",
    {
        "adamw": "plmkit.stages.train.optim:adamw",
    },
)
schedules: Registry[Any] = Registry(
    "schedules",
    {name: f"plmkit.stages.train.optim:{name}" for name in ("linear", "cosine", "constant")},
)
evaluators: Registry[Any] = Registry(
    "evaluators",
    {
        "default": "plmkit.stages.evaluate.default:DefaultEvaluator",
    },
)
tasks: Registry[Any] = Registry(
    "tasks",
    {
        "text_classification": "plmkit.tasks.classification:TextClassification",
        "pair_classification": "plmkit.tasks.pair:PairClassification",
        "multi_label": "plmkit.tasks.multilabel:MultiLabelClassification",
        "regression": "plmkit.tasks.regression:Regression",
        "tobit_regression": "plmkit.tasks.tobit:TobitRegression",
        "token_classification": "plmkit.tasks.token_classification:TokenClassification",
    },
)
