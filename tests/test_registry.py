"""Registries: in-process registration, dotted import paths, and entry-point plugins."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint

import pandas as pd
import pytest

from plmkit import registry
from plmkit.config import load_config
from plmkit.errors import ConfigError, PlmkitError
from plmkit.registry import Registry, RegistryError
from plmkit.stages.fetch import Fetcher, FileFetcher
from plmkit.tasks import TextClassification

MODULE = __name__  # how this module is importable, e.g. "test_registry"


class ListFetcher(Fetcher):
    """A fetcher defined in a test module, named by dotted path in configs."""

    def fetch(self):
        return {"train": pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]})}


class PluginTask(TextClassification):
    name = "plugin_task"
    metrics = {"accuracy": True, "kappa": True}


@pytest.fixture
def clean(monkeypatch):
    """Registrations made in a test disappear afterwards."""
    for reg in (registry.fetchers, registry.tasks, registry.steps):
        monkeypatch.setattr(reg, "_items", dict(reg._items))


@pytest.fixture
def plugins(monkeypatch, clean):
    """Fake installed packages: ``plugins({"plmkit.tasks": [EntryPoint(...)]})``."""
    calls = []

    def install(groups: dict[str, list[EntryPoint]]):
        def fake_entry_points(*, group=None, **kw):
            calls.append(group)
            return list(groups.get(group, []))

        monkeypatch.setattr(registry, "entry_points", fake_entry_points)
        return calls

    return install


# --- registering in-process ------------------------------------------------------------------
def test_register_and_get(clean):
    @registry.fetchers.register("my_list")
    class MyFetcher(ListFetcher):
        pass

    assert MyFetcher.__name__ == "MyFetcher"  # the decorator returns the class itself
    assert registry.fetchers.get("my_list") is MyFetcher
    assert "my_list" in registry.fetchers.names()
    assert registry.fetchers.names() == sorted(registry.fetchers.names())


def test_register_without_decorator_syntax(clean):
    returned = registry.fetchers.register("x")(ListFetcher)
    assert returned is ListFetcher
    assert registry.fetchers.get("x") is ListFetcher


def test_registered_name_is_usable_in_a_config(clean):
    registry.fetchers.register("x")(ListFetcher)
    config = load_config({"data": {"source": "x"}, "model": {"name_or_path": "m"}})
    assert config.data.source == "x"


def test_registered_name_shadows_a_builtin(clean):
    assert registry.fetchers.get("files") is FileFetcher
    registry.fetchers.register("files")(ListFetcher)
    assert registry.fetchers.get("files") is ListFetcher


def test_registration_does_not_leak_between_registries(clean):
    registry.fetchers.register("only_a_fetcher")(ListFetcher)
    with pytest.raises(RegistryError):
        registry.tasks.get("only_a_fetcher")


def test_builtins_are_listed_and_resolve():
    assert {"files", "url", "nsmc", "dataframe"} <= set(registry.fetchers.names())
    assert registry.tasks.get("text_classification") is TextClassification
    assert registry.schedules.names()[:3] == ["constant", "cosine", "linear"]


# --- dotted paths ----------------------------------------------------------------------------
@pytest.mark.parametrize("sep", [".", ":"])
def test_dotted_path_resolves(sep):
    assert MODULE in sys.modules
    assert registry.fetchers.get(f"{MODULE}{sep}ListFetcher") is ListFetcher


def test_dotted_path_in_a_config():
    config = load_config(
        {"data": {"source": f"{MODULE}.ListFetcher"}, "model": {"name_or_path": "m"}}
    )
    assert registry.fetchers.get(config.data.source) is ListFetcher


def test_dotted_task_with_its_own_metrics():
    config = load_config(
        {
            "task": f"{MODULE}.PluginTask",
            "data": {"train": "t.tsv"},
            "model": {"name_or_path": "m"},
            "training": {"best_metric": "kappa"},
        }
    )
    assert config.training.best_metric == "kappa"
    with pytest.raises(ConfigError) as info:
        load_config(
            {
                "task": f"{MODULE}.PluginTask",
                "data": {"train": "t.tsv"},
                "model": {"name_or_path": "m"},
                "training": {"best_metric": "macro_f1"},
            }
        )
    assert info.value.errors == [
        (
            "training.best_metric",
            f"'macro_f1' is not a metric of task {MODULE}.PluginTask; "
            "expected one of: accuracy, kappa",
        )
    ]


def test_dotted_path_to_a_missing_attribute():
    with pytest.raises(RegistryError) as info:
        registry.fetchers.get(f"{MODULE}.NoSuchFetcher")
    assert str(info.value).startswith(f"cannot import fetcher '{MODULE}.NoSuchFetcher': ")
    assert "NoSuchFetcher" in str(info.value)


def test_dotted_path_to_a_missing_module():
    with pytest.raises(RegistryError) as info:
        registry.fetchers.get("no_such_pkg_xyz.Fetcher")
    assert str(info.value) == (
        "cannot import fetcher 'no_such_pkg_xyz.Fetcher': No module named 'no_such_pkg_xyz'"
    )


def test_dotted_path_error_in_a_config():
    with pytest.raises(ConfigError) as info:
        load_config(
            {"data": {"source": "no_such_pkg_xyz.F", "train": "t"}, "model": {"name_or_path": "m"}}
        )
    [(path, message)] = info.value.errors
    assert path == "data.source"
    assert message.startswith("cannot import fetcher 'no_such_pkg_xyz.F'")


# --- unknown names ---------------------------------------------------------------------------
def test_unknown_name_hints_the_closest():
    with pytest.raises(RegistryError) as info:
        registry.fetchers.get("nsm")
    assert str(info.value) == "unknown fetcher 'nsm'; did you mean 'nsmc'?"
    assert isinstance(info.value, PlmkitError)


def test_unknown_name_without_close_match_lists_known():
    with pytest.raises(RegistryError) as info:
        registry.optimizers.get("zzzzzz")
    assert str(info.value) == "unknown optimizer 'zzzzzz'; known: adamw"


def test_check_does_not_import_builtins():
    reg = Registry("things", {"lazy": "no_such_pkg_xyz:Thing"})
    reg.check("lazy")  # named, so fine without importing it
    with pytest.raises(RegistryError, match="cannot import thing 'no_such_pkg_xyz:Thing'"):
        reg.get("lazy")
    with pytest.raises(RegistryError, match="unknown thing 'lazi'; did you mean 'lazy'"):
        reg.check("lazi")


# --- entry points ----------------------------------------------------------------------------
def test_entry_point_task_is_listed_and_loaded(plugins):
    ep = EntryPoint(name="plugin_task", value=f"{MODULE}:PluginTask", group="plmkit.tasks")
    calls = plugins({"plmkit.tasks": [ep]})
    assert "plugin_task" in registry.tasks.names()
    assert set(registry.tasks.names()) >= {"plugin_task", "text_classification"}
    assert registry.tasks.get("plugin_task") is PluginTask
    assert "plmkit.tasks" in calls
    # Loaded once, then cached: the entry points are not scanned again.
    calls.clear()
    assert registry.tasks.get("plugin_task") is PluginTask
    assert calls == []


def test_entry_point_in_another_group_is_not_seen(plugins):
    ep = EntryPoint(name="plugin_task", value=f"{MODULE}:PluginTask", group="plmkit.fetchers")
    plugins({"plmkit.fetchers": [ep]})
    assert "plugin_task" not in registry.tasks.names()
    with pytest.raises(RegistryError, match="unknown task 'plugin_task'"):
        registry.tasks.get("plugin_task")


def test_entry_point_task_usable_from_a_config(plugins):
    ep = EntryPoint(name="plugin_task", value=f"{MODULE}:PluginTask", group="plmkit.tasks")
    plugins({"plmkit.tasks": [ep]})
    config = load_config(
        {
            "task": "plugin_task",
            "data": {"train": "t.tsv"},
            "model": {"name_or_path": "m"},
            "training": {"best_metric": "kappa"},
        }
    )
    assert config.task == "plugin_task"


def test_unknown_name_hints_an_entry_point(plugins):
    ep = EntryPoint(name="plugin_task", value=f"{MODULE}:PluginTask", group="plmkit.tasks")
    plugins({"plmkit.tasks": [ep]})
    with pytest.raises(RegistryError) as info:
        registry.tasks.get("plugin_tsk")
    assert str(info.value) == "unknown task 'plugin_tsk'; did you mean 'plugin_task'?"


def test_broken_entry_point_is_a_registry_error(plugins):
    ep = EntryPoint(name="broken", value="no_such_pkg_xyz.mod:Task", group="plmkit.tasks")
    plugins({"plmkit.tasks": [ep]})
    with pytest.raises(RegistryError) as info:
        registry.tasks.get("broken")
    message = str(info.value)
    assert message.startswith("cannot load task 'broken' (no_such_pkg_xyz.mod:Task): ")
    assert "no_such_pkg_xyz" in message
    with pytest.raises(ConfigError) as info:
        load_config({"task": "broken", "data": {"train": "t"}, "model": {"name_or_path": "m"}})
    assert [p for p, _ in info.value.errors] == ["task"]


def test_entry_point_with_missing_attribute(plugins):
    ep = EntryPoint(name="gone", value=f"{MODULE}:NoSuchTask", group="plmkit.tasks")
    plugins({"plmkit.tasks": [ep]})
    with pytest.raises(RegistryError, match=r"cannot load task 'gone'"):
        registry.tasks.get("gone")
