"""load_config: YAML or dict, dotted overrides, and every problem reported at once with its path."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from plmkit.config import RunConfig, load_config
from plmkit.errors import ConfigError


def minimal(**sections) -> dict:
    """The smallest valid config (a files source and a hub model), plus ``sections``."""
    config = {"data": {"train": "train.tsv"}, "model": {"name_or_path": "some/model"}}
    config.update(sections)
    return config


def errors_of(source, overrides=None) -> dict[str, str]:
    """``{path: message}`` of the ConfigError that loading ``source`` must raise."""
    with pytest.raises(ConfigError) as info:
        load_config(source, overrides)
    errors = info.value.errors
    assert isinstance(errors, list)
    assert all(isinstance(e, tuple) and len(e) == 2 for e in errors)
    return dict(errors)


# --- valid configs ---------------------------------------------------------------------------
def test_tiny_config_loads_and_fills_defaults(tiny_config, tiny_files):
    config = load_config(tiny_config)
    assert isinstance(config, RunConfig)
    assert config.schema_version == 1
    assert config.training.epochs == 3
    assert config.training.optimizer == "adamw"
    assert config.training.schedule == "linear"
    assert config.training.best_metric is None  # the task decides: accuracy for this one
    assert config.evaluation.splits == ["test"]
    assert [s.name for s in config.preprocess.steps] == [
        "nfc",
        "strip_html",
        "strip_urls",
        "squeeze_repeats",
        "whitespace",
        "drop_empty",
    ]
    assert config.model.from_scratch.hidden_size == 32
    assert config.model.from_scratch.intermediate_size is None
    assert config.data.source == "files"
    assert config.data.on_invalid == "error"
    assert config.data.params == {
        "train": str(tiny_files["train"]),
        "test": str(tiny_files["test"]),
        "quoting": "none",
        "columns": {"text": "document"},
    }


def test_loading_a_dict_does_not_change_it(tiny_config):
    before = copy.deepcopy(tiny_config)
    load_config(tiny_config, ["training.epochs=1", "data.labels=[a, b]"])
    assert tiny_config == before


def test_yaml_file_loads_like_the_dict(tiny_config, write_config):
    path = write_config(tiny_config)
    assert load_config(path) == load_config(tiny_config)
    assert load_config(str(path)).output.name == "tiny"


def test_step_names_and_mappings_mix(tmp_path):
    steps = ["nfc", {"name": "squeeze_repeats", "max_repeat": 3}]
    config = load_config(minimal(preprocess={"steps": steps}))
    assert [s.name for s in config.preprocess.steps] == ["nfc", "squeeze_repeats"]
    assert config.preprocess.steps[0].params == {}
    assert config.preprocess.steps[1].params == {"max_repeat": 3}


# --- several errors in one go ----------------------------------------------------------------
def test_misspelt_key_and_wrong_type_are_both_reported(write_config, tiny_config):
    tiny_config["training"] = {"epoch": 3, "batch_size": "big"}
    path = write_config(tiny_config)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert sorted(p for p, _ in err.errors) == ["training.batch_size", "training.epoch"]
    found = dict(err.errors)
    assert found["training.epoch"] == "unknown key; did you mean 'epochs'?"
    assert "valid integer" in found["training.batch_size"]
    assert "(got 'big')" in found["training.batch_size"]
    text = str(err)
    assert text.splitlines()[0] == f"config {path}: 2 errors"
    assert "  training.epoch: unknown key; did you mean 'epochs'?" in text.splitlines()
    assert err.source == str(path)


def test_name_errors_are_reported_with_field_errors():
    found = errors_of(
        minimal(training={"batch_size": 0, "optimizer": "adam"}, task="text_clasification")
    )
    assert set(found) == {"training.batch_size", "training.optimizer", "task"}
    assert "did you mean 'adamw'?" in found["training.optimizer"]
    assert "did you mean 'text_classification'?" in found["task"]


# --- unknown keys at every level -------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "path", "hint"),
    [
        (minimal(trainig={"epochs": 1}), "trainig", "training"),
        (minimal(training={"learnig_rate": 0.1}), "training.learnig_rate", "learning_rate"),
        (minimal(output={"nmae": "x"}), "output.nmae", "name"),
        (
            {"data": {"train": "t.tsv"}, "model": {"from_scratch": {"hiden_size": 64}}},
            "model.from_scratch.hiden_size",
            "hidden_size",
        ),
        (
            {"data": {"source": "nsmc", "dri": "x"}, "model": {"name_or_path": "m"}},
            "data.dri",
            "dir",
        ),
        (minimal(data={"train": "t.tsv", "enconding": "cp949"}), "data.enconding", "encoding"),
        (
            minimal(preprocess={"steps": [{"name": "squeeze_repeats", "max_repat": 3}]}),
            "preprocess.steps.0.max_repat",
            "max_repeat",
        ),
    ],
)
def test_unknown_key_with_hint(config, path, hint):
    found = errors_of(config)
    assert found == {path: f"unknown key; did you mean '{hint}'?"}


def test_unknown_key_without_close_match_lists_the_keys():
    found = errors_of(minimal(output={"zzzz": 1}))
    assert found == {"output.zzzz": "unknown key; expected one of: dir, name, overwrite, resume"}


def test_param_of_a_step_that_takes_none():
    found = errors_of(minimal(preprocess={"steps": [{"name": "whitespace", "width": 2}]}))
    assert found == {"preprocess.steps.0.width": "unknown key; this component takes no parameters"}


def test_unknown_step_name():
    found = errors_of(minimal(preprocess={"steps": ["nfc", "strip_url"]}))
    assert list(found) == ["preprocess.steps.1.name"]
    assert (
        "unknown step 'strip_url'; did you mean 'strip_urls'?" in found["preprocess.steps.1.name"]
    )


def test_step_param_checked_even_when_another_section_fails():
    found = errors_of(
        minimal(
            training={"epoch": 1},
            preprocess={"steps": [{"name": "squeeze_repeats", "max_repat": 3}]},
        )
    )
    assert found == {
        "training.epoch": "unknown key; did you mean 'epochs'?",
        "preprocess.steps.0.max_repat": "unknown key; did you mean 'max_repeat'?",
    }


def test_fetcher_param_checked_even_when_another_section_fails():
    found = errors_of(
        {"data": {"source": "nsmc", "dri": "x"}, "model": {"name_or_path": "m"}, "seed": "x"}
    )
    assert set(found) == {"seed", "data.dri"}
    assert found["data.dri"] == "unknown key; did you mean 'dir'?"


def test_fetcher_without_any_split():
    found = errors_of({"model": {"name_or_path": "m"}})
    assert found == {"data": "name at least one split file: train, validation or test"}


# --- cross-field checks ----------------------------------------------------------------------
def test_model_with_both_sources():
    found = errors_of(minimal(model={"name_or_path": "m", "from_scratch": {}}))
    assert found == {"model": "set exactly one of model.name_or_path and model.from_scratch"}


def test_model_with_neither_source():
    found = errors_of(minimal(model={"max_length": 64}))
    assert found == {"model": "set exactly one of model.name_or_path and model.from_scratch"}


def test_model_section_missing():
    found = errors_of({"data": {"train": "t.tsv"}})
    assert found == {"model": "required key is missing"}


def test_hidden_size_must_divide_by_heads():
    found = errors_of(minimal(model={"from_scratch": {"hidden_size": 30, "num_heads": 4}}))
    assert found == {"model.from_scratch": "hidden_size 30 is not a multiple of num_heads 4"}


def test_best_metric_must_be_a_metric_of_the_task():
    found = errors_of(minimal(training={"best_metric": "acuracy"}))
    assert found == {
        "training.best_metric": "'acuracy' is not a metric of task text_classification; "
        "did you mean 'accuracy'?"
    }


def test_best_metric_without_close_match_lists_the_metrics():
    found = errors_of(minimal(training={"best_metric": "bleu"}))
    assert found["training.best_metric"].endswith("expected one of: accuracy, macro_f1, loss")


def test_negative_learning_rate():
    found = errors_of(minimal(training={"learning_rate": -0.001}))
    assert found == {"training.learning_rate": "Input should be greater than 0 (got -0.001)"}


@pytest.mark.parametrize(
    ("section", "path", "message"),
    [
        ({"task": "text_clasification"}, "task", "unknown task 'text_clasification'"),
        (
            {"training": {"optimizer": "adamm"}},
            "training.optimizer",
            "unknown optimizer 'adamm'",
        ),
        ({"training": {"schedule": "cosin"}}, "training.schedule", "unknown schedule 'cosin'"),
        ({"data": {"source": "file", "train": "t.tsv"}}, "data.source", "unknown fetcher 'file'"),
        ({"training": {"trainer": "defualt"}}, "training.trainer", "unknown trainer 'defualt'"),
        (
            {"evaluation": {"evaluator": "defaul"}},
            "evaluation.evaluator",
            "unknown evaluator 'defaul'",
        ),
    ],
)
def test_unknown_component_names(section, path, message):
    found = errors_of(minimal(**section))
    assert list(found) == [path]
    assert found[path].startswith(message + "; did you mean '")
    expected = {
        "task": "text_classification",
        "training.optimizer": "adamw",
        "training.schedule": "cosine",
        "data.source": "files",
        "training.trainer": "default",
        "evaluation.evaluator": "default",
    }[path]
    assert found[path].endswith(f"did you mean '{expected}'?")


def test_unknown_name_without_close_match_lists_the_known_names():
    found = errors_of(minimal(training={"schedule": "zzz"}))
    assert found == {"training.schedule": "unknown schedule 'zzz'; known: constant, cosine, linear"}


def test_invalid_encoding_name():
    found = errors_of(minimal(data={"train": "t.tsv", "encoding": "utf-99"}))
    assert found == {"data.encoding": "unknown encoding 'utf-99'"}


def test_valid_encoding_name():
    config = load_config(minimal(data={"train": "t.tsv", "encoding": "cp949"}))
    assert config.data.params["encoding"] == "cp949"


def test_schema_version_2_is_rejected():
    found = errors_of(minimal(schema_version=2))
    assert found == {"schema_version": "Input should be 1 (got 2)"}


def test_invalid_on_invalid_value():
    found = errors_of(minimal(data={"train": "t.tsv", "on_invalid": "skip"}))
    assert list(found) == ["data.on_invalid"]
    assert "'error' or 'drop'" in found["data.on_invalid"]


# --- overrides -------------------------------------------------------------------------------
def test_overrides_are_parsed_as_yaml(tiny_config):
    config = load_config(
        tiny_config,
        [
            "training.epochs=1",
            "training.group_by_length=false",
            "evaluation.splits=[validation, test]",
            "data.labels=[neg, pos]",
            "training.learning_rate=0.5",
            "output.name=other",
        ],
    )
    assert config.training.epochs == 1
    assert config.training.group_by_length is False
    assert config.evaluation.splits == ["validation", "test"]
    assert config.data.labels == ["neg", "pos"]
    assert config.training.learning_rate == 0.5
    assert config.output.name == "other"


def test_override_creates_nested_sections():
    config = load_config(
        {"model": {"name_or_path": "m"}},
        ["data.train=t.tsv", "data.columns.text=document", "model.from_scratch=null"],
    )
    assert config.data.params == {"train": "t.tsv", "columns": {"text": "document"}}
    assert config.model.from_scratch is None


def test_override_with_value_containing_equals_sign():
    config = load_config(minimal(), ["output.name=a=b"])
    assert config.output.name == "a=b"


def test_override_replaces_a_model_source():
    config = load_config(
        minimal(model={"from_scratch": {"hidden_size": 32, "num_heads": 2}}),
        ["model.name_or_path=some/model", "model.from_scratch=null"],
    )
    assert config.model.name_or_path == "some/model"
    assert config.model.from_scratch is None


def test_override_into_a_list_element():
    steps = [{"name": "nfc"}, {"name": "squeeze_repeats", "max_repeat": 3}]
    config = load_config(minimal(preprocess={"steps": steps}), ["preprocess.steps.1.max_repeat=5"])
    assert config.preprocess.steps[1].params == {"max_repeat": 5}
    assert config.preprocess.steps[0].name == "nfc"


def test_override_into_a_list_out_of_range():
    found = errors_of(minimal(preprocess={"steps": ["nfc"]}), ["preprocess.steps.3.form=NFKC"])
    assert list(found) == ["preprocess.steps.3.form=NFKC"]
    assert "index 3" in found["preprocess.steps.3.form=NFKC"]


def test_override_typo_is_reported_like_a_file_typo(tiny_config):
    found = errors_of(tiny_config, ["training.epoch=1", "training.batch_size=big"])
    assert found["training.epoch"] == "unknown key; did you mean 'epochs'?"
    assert "(got 'big')" in found["training.batch_size"]
    assert len(found) == 2


def test_override_without_equals_sign(tiny_config):
    with pytest.raises(ConfigError) as info:
        load_config(tiny_config, ["training.epochs", "training.epochs=1"])
    assert info.value.errors == [("training.epochs", "override must look like key.path=value")]
    assert info.value.source == "overrides"


def test_override_without_key(tiny_config):
    found = errors_of(tiny_config, ["=3"])
    assert found == {"=3": "override must look like key.path=value"}


# --- reading the file ------------------------------------------------------------------------
def test_yaml_syntax_error_names_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("model:\n  name_or_path: m\ntraining: {epochs: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [(where, message)] = info.value.errors
    assert where == ""
    assert message.startswith("YAML syntax error at line 4, column 1: ")
    assert str(path) in str(info.value)


def test_yaml_bad_indentation_names_its_line(tmp_path):
    path = tmp_path / "indent.yaml"
    path.write_text("model:\n  name_or_path: m\n   max_length: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [(_, message)] = info.value.errors
    assert message.startswith("YAML syntax error at line 3, column 14: ")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == [("", "file not found")]
    assert str(info.value) == f"config {path}: 1 error\n  <root>: file not found"


def test_top_level_list(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- model\n- data\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == [("", "expected a mapping of sections, got list")]


def test_empty_file_is_an_empty_config(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n", encoding="utf-8")
    found = errors_of(path)
    assert found == {
        "model": "required key is missing",
        "data": "name at least one split file: train, validation or test",
    }
    config = load_config(path, ["model.name_or_path=m", "data.train=t.tsv"])
    assert config.model.name_or_path == "m"


def test_config_errors_come_before_reading_data(tmp_path, tiny_config):
    missing = tmp_path / "does-not-exist.tsv"
    tiny_config["data"]["train"] = str(missing)
    tiny_config["training"]["epoch"] = 1
    with pytest.raises(ConfigError) as info:
        load_config(tiny_config)
    assert dict(info.value.errors) == {"training.epoch": "unknown key; did you mean 'epochs'?"}
    assert not missing.exists()
    # A valid config names a missing file without complaint: data is read by the pipeline.
    del tiny_config["training"]["epoch"]
    assert load_config(tiny_config).data.params["train"] == str(missing)


def test_relative_paths_are_kept(tmp_path):
    config = load_config(minimal(output={"dir": "out/runs"}))
    assert config.output.dir == Path("out/runs")
