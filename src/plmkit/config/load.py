"""Read a run config from YAML or a dict, apply dotted overrides, and validate it in full.

Every problem is collected, with its dotted path, before anything is loaded: first the
sections' own fields (Pydantic), then the named components (fetcher, steps, task, trainer,
optimizer, schedule, evaluator) and their parameters.
"""

from __future__ import annotations

import copy
import difflib
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from plmkit import registry
from plmkit.config.schema import RunConfig
from plmkit.errors import ConfigError, PlmkitError

Errors = list[tuple[str, str]]


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([("", "file not found")], source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([("", f"cannot read: {exc}")], source=str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([("", f"YAML syntax error at {where}{problem}")], str(path)) from None
    except Exception as exc:  # PyYAML's constructors on '!!int x', '!!bool x', '!!timestamp x'
        # raise ValueError, KeyError, AttributeError; very deep nesting RecursionError
        detail = f"{type(exc).__name__}: {exc}"
        raise ConfigError([("", f"YAML value error: {detail}")], str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            [("", f"expected a mapping of sections, got {type(data).__name__}")], source=str(path)
        )
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides; values are parsed as YAML (``3``, ``true``, ``[a, b]``)."""
    errors: Errors = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            errors.append((item, "override must look like key.path=value"))
            continue
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except Exception:  # YAMLError, or PyYAML's constructors (see read_yaml): a plain string
            value = raw
        problem = _set_path(data, key.strip().split("."), value)
        if problem:
            errors.append((item, problem))
    if errors:
        raise ConfigError(errors, source="overrides")
    return data


def _set_path(data: dict[str, Any], parts: list[str], value: Any) -> str | None:
    """Set ``value`` at ``parts``, creating mappings on the way; digits index into lists."""
    node: Any = data
    for depth, part in enumerate(parts):
        key: Any = part
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                where = ".".join(parts[:depth])
                return f"no index {part}: {where} is a list of {len(node)} item(s)"
            key = int(part)
        if depth == len(parts) - 1:
            node[key] = value
        elif not isinstance(node[key] if isinstance(node, list) else node.get(key), (dict, list)):
            node[key] = {}
        node = node[key]
    return None


def load_config(
    source: str | Path | dict[str, Any], overrides: list[str] | None = None
) -> RunConfig:
    """Load and fully validate a run config; raises ConfigError listing every problem."""
    if isinstance(source, dict):
        data, name = copy.deepcopy(source), None
    else:
        data, name = read_yaml(source), str(source)
    apply_overrides(data, overrides or [])
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        errors = _pydantic_errors(exc, RunConfig)
        # Components named in sections that did parse are still worth checking now.
        errors += _check_components_raw(data)
        raise ConfigError(_dedupe(errors), source=name) from None
    errors = check_components(config)
    if errors:
        raise ConfigError(errors, source=name)
    return config


def check_components(config: RunConfig) -> Errors:
    """Resolve every named component and validate its parameters."""
    from plmkit.stages.fetch.base import Fetcher
    from plmkit.stages.preprocess.base import Step
    from plmkit.tasks.base import TaskAdapter

    errors: Errors = []
    fetcher = _resolve(registry.fetchers, config.data.source, "data.source", errors)
    if _is_a(fetcher, Fetcher, "data.source", errors):
        errors += validate_params(fetcher, config.data.params, "data")
    _resolve(
        registry.preprocessors, config.preprocess.preprocessor, "preprocess.preprocessor", errors
    )
    for i, step in enumerate(config.preprocess.steps):
        step_cls = _resolve(registry.steps, step.name, f"preprocess.steps.{i}.name", errors)
        if _is_a(step_cls, Step, f"preprocess.steps.{i}.name", errors):
            errors += validate_params(step_cls, step.params, f"preprocess.steps.{i}")
    task = _resolve(registry.tasks, config.task, "task", errors)
    # Named only: checking these must not import torch (config errors come back in a second).
    _resolve(registry.trainers, config.training.trainer, "training.trainer", errors, True)
    _resolve(registry.optimizers, config.training.optimizer, "training.optimizer", errors, True)
    _resolve(registry.schedules, config.training.schedule, "training.schedule", errors, True)
    _resolve(registry.evaluators, config.evaluation.evaluator, "evaluation.evaluator", errors, True)
    if _is_a(task, TaskAdapter, "task", errors):
        errors += validate_params(task, config.task_options, "task_options")
        columns = config.data.params.get("columns")
        for key in columns if isinstance(columns, dict) else []:
            if key not in task.columns:
                hint = difflib.get_close_matches(str(key), list(task.columns), n=1)
                errors.append(
                    (
                        f"data.columns.{key}",
                        f"not a column of task {config.task}" + _hint(hint, list(task.columns)),
                    )
                )
        metrics = task.metric_names()
        if config.training.best_metric not in [None, *metrics]:
            hint = difflib.get_close_matches(config.training.best_metric, metrics, n=1)
            errors.append(
                (
                    "training.best_metric",
                    f"'{config.training.best_metric}' is not a "
                    f"metric of task {config.task}" + _hint(hint, metrics),
                )
            )
    return errors


def validate_params(component: Any, params: dict[str, Any], path: str) -> Errors:
    """Check a component's parameters against its ``Params`` model (if it declares one)."""
    params_model = getattr(component, "Params", None)
    if params_model is None:
        if params:
            return [
                (f"{path}.{k}", "unknown key; this component takes no parameters") for k in params
            ]
        return []
    try:
        params_model.model_validate(params)
    except ValidationError as exc:
        return [(f"{path}.{p}" if p else path, m) for p, m in _pydantic_errors(exc, params_model)]
    return []


def _check_components_raw(data: dict[str, Any]) -> Errors:
    """Best-effort name and parameter checks (fetcher, steps) when the sections failed."""
    from plmkit.config.schema import DataConfig

    errors: Errors = []
    checks = [
        (registry.tasks, ("task",)),
        (registry.fetchers, ("data", "source")),
        (registry.optimizers, ("training", "optimizer")),
        (registry.schedules, ("training", "schedule")),
        (registry.preprocessors, ("preprocess", "preprocessor")),
        (registry.trainers, ("training", "trainer")),
        (registry.evaluators, ("evaluation", "evaluator")),
    ]
    for reg, keys in checks:
        node: Any = data
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        if isinstance(node, str):
            _resolve(reg, node, ".".join(keys), errors, name_only=True)
    preprocess = data.get("preprocess")
    steps = preprocess.get("steps") if isinstance(preprocess, dict) else None
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        step = {"name": step} if isinstance(step, str) else step
        if isinstance(step, dict) and isinstance(step.get("name"), str):
            step_cls = _resolve(registry.steps, step["name"], f"preprocess.steps.{i}.name", errors)
            if step_cls is not None:
                params = {k: v for k, v in step.items() if k != "name"}
                errors += validate_params(step_cls, params, f"preprocess.steps.{i}")
    section = data.get("data")
    section = section if isinstance(section, dict) else {}
    source = section.get("source", DataConfig.model_fields["source"].default)
    if isinstance(source, str):
        fetcher = _resolve(registry.fetchers, source, "data.source", [])
        extras = {k: v for k, v in section.items() if k not in DataConfig.model_fields}
        if fetcher is not None:
            errors += validate_params(fetcher, extras, "data")
    return errors


def _is_a(obj: Any, base: type, path: str, errors: Errors) -> bool:
    """A resolved component must subclass its stage's ABC (None: already reported)."""
    if obj is None:
        return False
    if isinstance(obj, type) and issubclass(obj, base):
        return True
    errors.append((path, f"{obj!r} is not a {base.__name__} subclass"))
    return False


def _resolve(
    reg: registry.Registry, name: str, path: str, errors: Errors, name_only: bool = False
) -> Any:
    try:
        return reg.check(name) if name_only else reg.get(name)
    except PlmkitError as exc:
        errors.append((path, str(exc)))
        return None
    except Exception as exc:  # a dotted path runs the user's import: ':' or '.x' end here too
        errors.append((path, f"cannot import '{name}': {type(exc).__name__}: {exc}"))
        return None


def _pydantic_errors(exc: ValidationError, root: type[BaseModel]) -> Errors:
    errors: Errors = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if not str(p).startswith("function-")]
        path = ".".join(loc)
        if err["type"] == "extra_forbidden":
            fields = _fields_at(root, err["loc"][:-1])
            hint = difflib.get_close_matches(str(err["loc"][-1]), fields, n=1)
            errors.append((path, "unknown key" + _hint(hint, fields)))
        elif err["type"] == "missing":
            errors.append((path, "required key is missing"))
        else:
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] not in ("value_error", "assertion_error") and _short(err.get("input")):
                msg += f" (got {err['input']!r})"
            errors.append((path, msg))
    return errors


def _fields_at(model: Any, loc: tuple) -> list[str]:
    """Field names of the (sub)model found by walking ``loc`` from ``model``."""
    for part in loc:
        if isinstance(part, int) or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        model = _model_in(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _hint(close: list[str], known: list[str]) -> str:
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; expected one of: {', '.join(known)}" if known else ""


def _short(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) and len(repr(value)) < 60


def _dedupe(errors: Errors) -> Errors:
    return list(dict.fromkeys(errors))
