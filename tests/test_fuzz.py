"""Fuzzing with Hypothesis: whatever a user hands plmkit (a config, a data file), only a
PlmkitError may come out, never a KeyError, TypeError, AttributeError, a Pydantic
ValidationError or a parser's own exception. A successful load or read is fine too."""

from __future__ import annotations

import bz2
import copy
import gzip
import json
import lzma
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from plmkit.config import load_config
from plmkit.config.schema import (
    DataConfig,
    EvaluationConfig,
    ModelConfig,
    OutputConfig,
    PreprocessConfig,
    RunConfig,
    ScratchModelConfig,
    TrainingConfig,
)
from plmkit.errors import PlmkitError
from plmkit.stages.fetch.conll import ConllOptions, read_conll
from plmkit.stages.fetch.read import TableOptions, read_table

# Hypothesis keeps caches and an example database under ./.hypothesis: not in the repository.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "plmkit-hypothesis")
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
COLUMNS = {"id": False, "text": True, "label": False}


def only_plmkit_errors(call, *args, **kwargs):
    """Run ``call``; a PlmkitError (with a message) is an allowed outcome, anything else fails."""
    try:
        return call(*args, **kwargs)
    except PlmkitError as exc:
        assert str(exc).strip(), "a PlmkitError must say what is wrong"
        return None


# --- the config loader ---------------------------------------------------------------------
SECTIONS = {
    "data": DataConfig,
    "preprocess": PreprocessConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
    "evaluation": EvaluationConfig,
    "output": OutputConfig,
}
KNOWN_KEYS = sorted(
    set(RunConfig.model_fields)
    | {k for model in SECTIONS.values() for k in model.model_fields}
    | set(ScratchModelConfig.model_fields)
    | {"train", "validation", "test", "columns", "encoding", "delimiter", "quoting", "format"}
    | {"url", "sha256", "dir", "name", "text", "label", "id", "splits", "max_repeat", "form"}
    | {"cache_dir", "timeout", "retries", "extra_splits", "separator", "token_column"}
)
COMPONENT_NAMES = [
    "files",
    "url",
    "nsmc",
    "conll",
    "dataframe",
    "default",
    "adamw",
    "linear",
    "nfc",
    "drop_empty",
    "dedupe",
    "text_classification",
    "regression",
    "token_classification",
    "os.path.join",
    "no.such.module.Thing",
    "plmkit.errors.PlmkitError",
    "json:loads",
    ":",
    ".",
    "plmkit.stages.fetch.files",
    "builtins.int",
]

keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=8))
odd_keys = st.one_of(keys, st.integers(-3, 3), st.none(), st.booleans(), st.floats(allow_nan=False))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),  # nan and inf included
    st.text(max_size=12),
    st.sampled_from(COMPONENT_NAMES),
    st.dates(),
    st.binary(max_size=4),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(odd_keys, inner, max_size=4),
    ),
    max_leaves=12,
)
sections = st.fixed_dictionaries(
    {},
    optional={
        name: st.one_of(
            values,
            st.dictionaries(
                st.one_of(st.sampled_from(list(model.model_fields)), keys), values, max_size=6
            ),
        )
        for name, model in SECTIONS.items()
    }
    | {
        "task": st.one_of(st.sampled_from(COMPONENT_NAMES), values),
        "task_options": values,
        "seed": values,
        "schema_version": values,
    },
)
VALID = {
    "task": "text_classification",
    "data": {"train": "t.tsv", "columns": {"text": "document"}, "labels": ["a", "b"]},
    "preprocess": {"steps": ["nfc", {"name": "squeeze_repeats", "max_repeat": 2}]},
    "model": {"from_scratch": {"hidden_size": 32, "num_heads": 2}},
    "training": {"best_metric": "accuracy", "epochs": 1},
    "evaluation": {"splits": ["test"]},
    "output": {"name": "x"},
}
PATHS = [
    ("task",),
    ("task_options",),
    ("task_options", "class_weights"),
    ("data",),
    ("data", "source"),
    ("data", "columns"),
    ("data", "columns", "text"),
    ("data", "labels"),
    ("data", "limit"),
    ("data", "train"),
    ("data", "encoding"),
    ("preprocess", "steps"),
    ("preprocess", "steps", 0),
    ("preprocess", "steps", 1),
    ("preprocess", "steps", 1, "name"),
    ("preprocess", "steps", 1, "max_repeat"),
    ("model",),
    ("model", "from_scratch"),
    ("model", "from_scratch", "num_heads"),
    ("model", "name_or_path"),
    ("training",),
    ("training", "best_metric"),
    ("training", "optimizer"),
    ("training", "adam_betas"),
    ("evaluation", "splits"),
    ("output", "resume"),
    ("output", "dir"),
]


def mutate(base: dict, changes: list[tuple[tuple, object]]) -> dict:
    """``base`` with a value set at each path (the last change at a path wins)."""
    config = copy.deepcopy(base)
    for path, value in changes:
        node = config
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):  # an earlier change replaced a parent
            continue
    return config


mutated = st.builds(
    mutate, st.just(VALID), st.lists(st.tuples(st.sampled_from(PATHS), values), max_size=3)
)
configs = st.one_of(sections, mutated, st.dictionaries(odd_keys, values, max_size=5))
overrides = st.lists(
    st.one_of(
        st.builds(
            lambda k, v: f"{k}={v}",
            st.lists(st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=4)), max_size=4).map(
                ".".join
            ),
            st.one_of(st.text(max_size=10), st.sampled_from(["[1, 2]", "{a: 1}", "null", "-1"])),
        ),
        st.text(max_size=10),
    ),
    max_size=3,
)


@FUZZ
@given(config=configs, extra=overrides)
@example(config={"preprocess": {"steps": [{"name": None}]}}, extra=[])
@example(config={"data": {"columns": {1: "a"}}, "model": {"name_or_path": "m"}}, extra=[])
@example(config={"training": {"best_metric": 3}, "model": {"name_or_path": "m"}}, extra=[])
@example(config={"data": {"source": "url", "train": "x"}}, extra=["data.train.0=1"])
@example(config={}, extra=["a.0.b=1", "=x", "data=1", "data.x.y=2"])
def test_load_config_from_dicts(config, extra):
    only_plmkit_errors(load_config, config, extra)


yaml_texts = st.one_of(
    st.text(max_size=200),
    configs.map(lambda c: yaml.safe_dump(c, allow_unicode=True, default_flow_style=None)),
    st.lists(
        st.sampled_from(
            [
                "data:",
                "  train: a.tsv",
                "model:",
                "  name_or_path: x",
                "training:",
                "  epochs: 2",
                "   batch_size: 8",
                "- a",
                "? [a, b]",
                ": c",
                "&a x",
                "*a",
                "*b",
                "!!python/name:os",
                "!!binary 'zz'",
                "key: [1, 2",
                "'unterminated",
                "\t",
                "{a: 1}",
                "task: 3",
                "...",
                "---",
                "%YAML 1.1",
                "x: !!float abc",
                "2020-01-01: d",
                "<<: *a",
                "",
                "\x00",
            ]
        ),
        max_size=8,
    ).map("\n".join),
)


@FUZZ
@given(text=yaml_texts)
@example(text="? [a, b]\n: c\n")
@example(text="!!python/object/apply:os.system ['echo hi']\n")
@example(text="model: &a {x: *a}\n")
@example(text="\ufeffmodel: {name_or_path: m}\n")
def test_load_config_from_yaml_text(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        only_plmkit_errors(load_config, path)


# --- the file readers ----------------------------------------------------------------------
HEADERS = ["id", "document", "label", "text", "review", "a.b", ""]
cells = st.one_of(
    st.sampled_from(["1", "0", "NA", "", " ", "재밌다", '"q"', '"a,b"', "x\ty", "null", "1.5"]),
    st.text(max_size=6),
)


@st.composite
def delimited(draw, sep: str) -> str:
    header = draw(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=4))
    rows = draw(
        st.lists(
            st.lists(cells, min_size=max(0, len(header) - 1), max_size=len(header) + 1),
            max_size=6,
        )
    )
    lines = [sep.join(header)] + [sep.join(r) for r in rows]
    ending = draw(st.sampled_from(["\n", "\r\n", ""]))
    return ending.join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), cells),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(HEADERS), inner, max_size=3)
    ),
    max_leaves=8,
)
records = st.lists(st.dictionaries(st.sampled_from(HEADERS), json_values, max_size=4), max_size=5)


def jsonl_text(rows) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


texts_and_suffixes = st.one_of(
    st.tuples(delimited("\t"), st.sampled_from([".tsv", ".txt", ".csv", ".tsv.gz"])),
    st.tuples(delimited(","), st.sampled_from([".csv", ".tsv", ".csv.bz2"])),
    st.tuples(records.map(jsonl_text), st.sampled_from([".jsonl", ".ndjson", ".jsonl.xz"])),
    st.tuples(
        st.one_of(records, json_values).map(lambda v: json.dumps(v, ensure_ascii=False)),
        st.just(".json"),
    ),
    st.tuples(st.text(max_size=60), st.sampled_from([".tsv", ".csv", ".jsonl", ".json"])),
)
SUFFIXES = [
    ".tsv",
    ".csv",
    ".txt",
    ".jsonl",
    ".json",
    ".parquet",
    ".tsv.gz",
    ".csv.xz",
    ".jsonl.bz2",
    ".zip",
    ".zst",
    ".gz",
    ".dat",
    "",
]
table_options = st.builds(
    TableOptions,
    format=st.sampled_from(["auto", "auto", "csv", "tsv", "jsonl", "json", "parquet"]),
    encoding=st.sampled_from(["utf-8", "utf-8", "cp949", "euc-kr", "UTF-8", "utf_16"]),
    delimiter=st.sampled_from([None, None, ",", "\t", ";", "|", "ab", " "]),
    quoting=st.sampled_from(["minimal", "none"]),
    columns=st.sampled_from(
        [
            {},
            {"text": "document"},
            {"text": "a.b"},
            {"text": "document", "label": "review"},
            {"id": "text", "text": "id"},
            {"text": ""},
        ]
    ),
)
COMPRESS = {".gz": gzip.compress, ".xz": lzma.compress, ".bz2": bz2.compress}


def write_file(directory: str, data: bytes, suffix: str, compress: bool) -> Path:
    path = Path(directory) / f"data{suffix}"
    if compress and path.suffix in COMPRESS:
        data = COMPRESS[path.suffix](data)
    path.write_bytes(data)
    return path


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from(SUFFIXES), options=table_options)
@example(data=b"", suffix=".json", options=TableOptions())
@example(data=b"\x00\x01", suffix=".parquet", options=TableOptions())
@example(data=b"id\ttext\n\x80\n", suffix=".tsv", options=TableOptions())
@example(data=b"PK\x03\x04", suffix=".zip", options=TableOptions())
def test_read_table_random_bytes(data, suffix, options):
    with tempfile.TemporaryDirectory() as tmp:
        only_plmkit_errors(read_table, write_file(tmp, data, suffix, False), options, COLUMNS)


@FUZZ
@given(
    text_suffix=texts_and_suffixes,
    options=table_options,
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp949"]),
)
@example(text_suffix=("1\n", ".json"), options=TableOptions(), encoding="utf-8")
@example(text_suffix=('"x"', ".json"), options=TableOptions(), encoding="utf-8")
@example(text_suffix=("[1, 2]", ".json"), options=TableOptions(), encoding="utf-8")
@example(text_suffix=("[[1, 2]]", ".json"), options=TableOptions(), encoding="utf-8")
@example(text_suffix=("1\n[]\n", ".jsonl"), options=TableOptions(), encoding="utf-8")
@example(text_suffix=('{"text": {"b": 1}}\n', ".jsonl"), options=TableOptions(), encoding="utf-8")
@example(text_suffix=("text\n\n\n", ".tsv"), options=TableOptions(), encoding="utf-8")
@example(
    text_suffix=('{"a": {"b": 1}}\n{"a": 2}\n', ".jsonl"),
    options=TableOptions(columns={"text": "a.b"}),
    encoding="utf-8",
)
def test_read_table_mostly_valid_text(text_suffix, options, encoding):
    text, suffix = text_suffix
    data = text.encode(encoding, "replace")
    with tempfile.TemporaryDirectory() as tmp:
        path = write_file(tmp, data, suffix, compress=True)
        df = only_plmkit_errors(read_table, path, options, COLUMNS)
    if df is not None:  # a successful read returns the task's columns, and at least one row
        assert "text" in df.columns and len(df) > 0
        assert set(df.columns) <= set(COLUMNS)


conll_lines = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "",
                " ",
                "-DOCSTART- -X- O",
                "## comment",
                "Mina NNP B-PER",
                "Park\tI-PER",
                "x",
                "a b c d",
                "\t",
                "토 B-PER",
                "  O",
                "a  ",
                "a\t\tO",
            ]
        ),
        st.text(max_size=12),
    ),
    max_size=10,
)
conll_options = st.builds(
    ConllOptions,
    encoding=st.sampled_from(["utf-8", "cp949", "euc-kr"]),
    separator=st.sampled_from([None, None, "\t", " ", "##"]),
    token_column=st.integers(0, 3),
    comment_prefix=st.sampled_from([None, "## ", "#"]),
)


@FUZZ
@given(
    content=st.one_of(st.binary(max_size=200), conll_lines.map(lambda ls: "\n".join(ls).encode())),
    suffix=st.sampled_from([".conll", ".txt", ".gz", ".xz", ".bz2", ".conll.gz"]),
    compress=st.booleans(),
    options=conll_options,
)
def test_read_conll(content, suffix, compress, options):
    with tempfile.TemporaryDirectory() as tmp:
        df = only_plmkit_errors(read_conll, write_file(tmp, content, suffix, compress), options)
    if df is not None:
        assert len(df) > 0
        assert all(len(t) == len(g) > 0 for t, g in zip(df["tokens"], df["tags"], strict=True))
