"""Every bad input plmkit knows of, end to end through the command line, in one table.

Each case builds its input under ``tmp_path`` and runs ``plmkit`` (in-process through the
``cli`` fixture, or as a subprocess where the real entry point matters), then checks:

- the exit code (2 for a user error);
- the message: the last unindented line of stderr starts with ``error: `` and only its
  indented detail lines follow it (a config or data error lists every problem that way); it
  names the file and line, the column or the config key involved (exact fragments);
- no ``Traceback`` anywhere on stderr;
- for runs that succeed with ``data.on_invalid=drop`` (or the ``drop_empty`` step): every row
  taken out is in ``<run>/rejected.csv`` with its reason, and the rows kept plus the rows
  rejected add up to the rows in the files (nothing is dropped silently).

docs/reliability.md lists these cases with what plmkit does for each.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import make_rows, write_tsv

from plmkit.cli import main

HEADER = ("id", "document", "label")
QUICK = ["training.epochs=1", "training.max_steps=2"]  # the cases are about what surrounds training


# --- the harness ---------------------------------------------------------------------------
@dataclass
class Expect:
    """What one case runs and what must come of it."""

    argv: list[str]
    rc: int = 2
    error: list[str] = field(default_factory=list)  # exact fragments of the error message
    # Runs that succeed: (split, where, column, reason prefix) of every rejected row, and the
    # number of data rows in the input files (kept + rejected must add up to it).
    rejected: list[tuple[str, str, str, str]] | None = None
    rows_in: int | None = None
    after: Callable[[], None] | None = None  # further checks once the command has run
    subprocess: bool = False


class Ctx:
    """A case's workspace: the tiny config (a deep copy) and helpers to write inputs."""

    def __init__(self, tmp_path: Path, config: dict, request: pytest.FixtureRequest):
        self.tmp = tmp_path
        self.config = copy.deepcopy(config)
        self.request = request

    @property
    def data(self) -> dict:
        return self.config["data"]

    @property
    def run_dir(self) -> Path:
        return Path(self.config["output"]["dir"]) / self.config["output"]["name"]

    def tsv(self, name: str, rows, header=HEADER, encoding="utf-8") -> Path:
        return write_tsv(self.tmp / name, rows, header=header, encoding=encoding)

    def text(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return path

    def write_config(self, name: str = "config.yaml") -> Path:
        path = self.tmp / name
        path.write_text(yaml.safe_dump(self.config, allow_unicode=True), encoding="utf-8")
        return path

    def fixture(self, name: str):
        return self.request.getfixturevalue(name)


CASES: dict[str, Callable[[Ctx], Expect]] = {}


def case(fn: Callable[[Ctx], Expect]) -> Callable[[Ctx], Expect]:
    CASES[fn.__name__] = fn
    return fn


def train_rows() -> list[tuple]:
    return list(make_rows(120, seed=1))


def split_test_rows() -> list[tuple]:
    return list(make_rows(40, seed=2, start_id=1000))


def lines_of(rows, header=HEADER) -> list[str]:
    return ["\t".join(header)] + ["\t".join(map(str, r)) for r in rows]


# --- data files ----------------------------------------------------------------------------
@case
def ragged_extra_field(c: Ctx) -> Expect:
    lines = lines_of(train_rows())
    lines[10] += "\textra"  # file line 11
    path = c.text("extra.tsv", "\n".join(lines) + "\n")
    c.data["train"] = str(path)
    return Expect(
        ["run", c.write_config()],
        error=[f"error: {path}: cannot parse as tsv:", "Expected 3 fields in line 11, saw 4"],
    )


@case
def ragged_missing_field(c: Ctx) -> Expect:
    """pandas pads a short row with empty strings: the row's label would become '' (a class of
    its own). read_table counts each row's fields and stops at the short one."""
    rows = train_rows()
    lines = lines_of(rows)
    lines[10] = "\t".join(map(str, rows[9][:2]))  # file line 11: id and text, no label
    path = c.text("short.tsv", "\n".join(lines) + "\n")
    c.data["train"] = str(path)
    return Expect(
        ["run", c.write_config()],
        error=[f"error: {path}: cannot parse as tsv: line 11 has 2 field(s), the header 3"],
    )


@case
def csv_read_as_tsv(c: Ctx) -> Expect:
    lines = [",".join(map(str, r)) for r in [HEADER, *train_rows()]]
    path = c.text("comma.tsv", "\n".join(lines) + "\n")
    c.data["train"] = str(path)
    return Expect(
        ["run", c.write_config()],
        error=[
            f"error: {path}: column 'document' (for text) and 'label' (for label) not found",
            "columns are: id,document,label (wrong delimiter? set data.delimiter)",
        ],
    )


@case
def utf8_bom_works(c: Ctx) -> Expect:
    """A BOM must not end up in the first column's name: ids are read from the file."""
    for split, rows in [("train", train_rows()), ("test", split_test_rows())]:
        path = c.tmp / f"{split}_bom.tsv"
        path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines_of(rows)).encode() + b"\n")
        c.data[split] = str(path)

    def after():
        with (c.run_dir / "predictions" / "test.csv").open(encoding="utf-8") as f:
            ids = [row["id"] for row in csv.DictReader(f)]
        assert ids == [str(r[0]) for r in split_test_rows()]

    return Expect(["run", c.write_config(), *QUICK], rc=0, rejected=[], rows_in=160, after=after)


@pytest.fixture
def cp949_files(tmp_path) -> dict[str, Path]:
    return {
        "train": write_tsv(tmp_path / "train_cp949.tsv", train_rows(), encoding="cp949"),
        "test": write_tsv(tmp_path / "test_cp949.tsv", split_test_rows(), encoding="cp949"),
    }


@case
def cp949_read_as_utf8(c: Ctx) -> Expect:
    files = c.fixture("cp949_files")
    c.data.update(train=str(files["train"]), test=str(files["test"]))
    return Expect(
        ["run", c.write_config()],
        error=[f"error: {files['train']}: not valid utf-8 (byte ", "set data.encoding"],
    )


@case
def cp949_with_encoding_works(c: Ctx) -> Expect:
    files = c.fixture("cp949_files")
    c.data.update(train=str(files["train"]), test=str(files["test"]))
    return Expect(
        ["run", c.write_config(), "data.encoding=cp949", *QUICK], rc=0, rejected=[], rows_in=160
    )


@case
def empty_file(c: Ctx) -> Expect:
    path = c.text("empty.tsv", "")
    c.data["test"] = str(path)
    return Expect(["run", c.write_config()], error=[f"error: {path}: file is empty"])


@case
def header_only_file(c: Ctx) -> Expect:
    path = c.tsv("header_only.tsv", [])
    c.data["test"] = str(path)
    return Expect(["run", c.write_config()], error=[f"error: {path}: no data rows (header only?)"])


@case
def missing_label_column(c: Ctx) -> Expect:
    c.data["columns"] = {"text": "document", "label": "sentiment"}
    path = c.data["train"]
    return Expect(
        ["run", c.write_config()],
        error=[
            f"error: {path}: column 'sentiment' (for label) not found; "
            "columns are: id, document, label"
        ],
    )


@case
def duplicate_ids_in_test(c: Ctx) -> Expect:
    rows = split_test_rows()
    rows[5] = (rows[1][0], *rows[5][1:])  # id 1001 again, file line 7
    path = c.tsv("test_dupes.tsv", rows)
    c.data["test"] = str(path)
    return Expect(
        ["run", c.write_config()],
        error=[
            "error: 2 invalid row(s) in split 'test' (fetched)",
            f"{path} line 3: column 'id': duplicate value (must be unique) (value '1001')",
            f"{path} line 7: column 'id': duplicate value (must be unique) (value '1001')",
        ],
    )


@case
def duplicate_ids_dropped(c: Ctx) -> Expect:
    rows = train_rows()
    rows[7] = (rows[2][0], *rows[7][1:])  # id 3 on lines 4 and 9: both go
    path = c.tsv("train_dupes.tsv", rows)
    c.data["train"] = str(path)
    why = "duplicate value (must be unique)"
    return Expect(
        ["run", c.write_config(), "data.on_invalid=drop", *QUICK],
        rc=0,
        rejected=[
            ("train", f"{path} line 4", "id", why),
            ("train", f"{path} line 9", "id", why),
        ],
        rows_in=160,
    )


def null_text_jsonl(c: Ctx) -> Path:
    """Train rows as JSONL; ids 3 and 7 (file lines 3 and 7) have a null text."""
    path = c.tmp / "null_text.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i, text, label in train_rows():
            record = {"id": i, "document": None if i in (3, 7) else text, "label": label}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    c.data["train"] = str(path)
    return path


@case
def null_text(c: Ctx) -> Expect:
    path = null_text_jsonl(c)
    return Expect(
        ["run", c.write_config()],
        error=[
            "error: 2 invalid row(s) in split 'train' (fetched)",
            f"{path} line 3: column 'text': missing value",
            f"{path} line 7: column 'text': missing value",
        ],
    )


@case
def null_text_dropped(c: Ctx) -> Expect:
    path = null_text_jsonl(c)
    return Expect(
        ["run", c.write_config(), "data.on_invalid=drop", *QUICK],
        rc=0,
        rejected=[
            ("train", f"{path} line 3", "text", "missing value"),
            ("train", f"{path} line 7", "text", "missing value"),
        ],
        rows_in=160,
    )


@case
def empty_texts_train_dropped_test_kept(c: Ctx) -> Expect:
    rows, test = train_rows(), split_test_rows()
    rows[4] = (rows[4][0], "", rows[4][2])  # line 6
    rows[8] = (rows[8][0], "  <b></b> ", rows[8][2])  # line 10: empty once cleaned
    test[1] = (test[1][0], "", test[1][2])
    train_path, test_path = c.tsv("train_empty.tsv", rows), c.tsv("test_empty.tsv", test)
    c.data.update(train=str(train_path), test=str(test_path))

    def after():
        with (c.run_dir / "predictions" / "test.csv").open(encoding="utf-8") as f:
            ids = [row["id"] for row in csv.DictReader(f)]
        assert len(ids) == 40 and "1001" in ids  # the empty test text still gets a prediction

    return Expect(
        ["run", c.write_config(), *QUICK],
        rc=0,
        rejected=[
            ("train", f"{train_path} line 6", "text", "empty text"),
            ("train", f"{train_path} line 10", "text", "empty text"),
        ],
        rows_in=160,
        after=after,
    )


@case
def empty_label_cell(c: Ctx) -> Expect:
    """An empty label cell (all fields there) is not a label; today it becomes a class ''."""
    rows = train_rows()
    rows[4] = (rows[4][0], rows[4][1], "")  # line 6
    path = c.tsv("empty_label.tsv", rows)
    c.data["train"] = str(path)
    return Expect(
        ["run", c.write_config(), *QUICK],
        error=[f"{path} line 6: column 'label'"],
    )


# --- labels --------------------------------------------------------------------------------
@case
def label_outside_configured_set(c: Ctx) -> Expect:
    names = {0: "negative", 1: "positive"}
    named = [(i, t, names[y]) for i, t, y in train_rows()]
    validation = [(i + 500, t, names[y]) for i, t, y in make_rows(20, seed=3)]
    validation[2] = (validation[2][0], validation[2][1], "neutral")  # line 4
    val = c.tsv("validation.tsv", validation)
    c.data.update(
        train=str(c.tsv("named.tsv", named)), validation=str(val), labels=["negative", "positive"]
    )
    c.data.pop("test")
    return Expect(
        ["run", c.write_config()],
        error=[
            "error: 1 invalid row(s) in split 'validation' (fetched)",
            f"{val} line 4: column 'label': not in the label set",
            "(value 'neutral')",
        ],
    )


def unseen_test_labels(c: Ctx) -> Path:
    rows = split_test_rows()
    rows[5] = (rows[5][0], rows[5][1], 2)  # line 7
    rows[6] = (rows[6][0], rows[6][1], "neutral")  # line 8
    path = c.tsv("test_unseen.tsv", rows)
    c.data["test"] = str(path)
    return path


@case
def unseen_test_label(c: Ctx) -> Expect:
    path = unseen_test_labels(c)
    return Expect(
        ["run", c.write_config()],
        error=[
            "error: 2 invalid row(s) in split 'test' (fetched)",
            f"{path} line 7: column 'label': not in the label set ['0', '1'] (value '2')",
            f"{path} line 8: column 'label': not in the label set ['0', '1'] (value 'neutral')",
        ],
    )


@case
def unseen_test_label_dropped(c: Ctx) -> Expect:
    path = unseen_test_labels(c)
    why = "not in the label set ['0', '1']"
    return Expect(
        ["run", c.write_config(), "data.on_invalid=drop", *QUICK],
        rc=0,
        rejected=[
            ("test", f"{path} line 7", "label", why),
            ("test", f"{path} line 8", "label", why),
        ],
        rows_in=160,
    )


def regression_file(c: Ctx) -> Path:
    pytest.importorskip("plmkit.tasks.regression")
    rows = [(i, t, f"{y * 2.5}") for i, t, y in train_rows()]
    rows[3] = (rows[3][0], rows[3][1], "abc")  # line 5
    rows[20] = (rows[20][0], rows[20][1], "")  # line 22
    path = c.tsv("scores.tsv", rows)
    c.config["task"] = "regression"
    c.data["train"] = str(path)
    c.data.pop("test")
    return path


@case
def regression_target_not_a_number(c: Ctx) -> Expect:
    path = regression_file(c)
    return Expect(
        ["run", c.write_config()],
        error=[
            "error: 2 invalid row(s) in split 'train' (fetched)",
            f"{path} line 5: column 'label': wrong type (expected number) (value 'abc')",
            f"{path} line 22: column 'label': wrong type (expected number) (value '')",
        ],
    )


@case
def regression_target_not_a_number_dropped(c: Ctx) -> Expect:
    path = regression_file(c)
    why = "wrong type (expected number)"
    return Expect(
        ["run", c.write_config(), "data.on_invalid=drop", *QUICK],
        rc=0,
        rejected=[
            ("train", f"{path} line 5", "label", why),
            ("train", f"{path} line 22", "label", why),
        ],
        rows_in=120,
    )


# --- the config ----------------------------------------------------------------------------
@case
def yaml_syntax_error(c: Ctx) -> Expect:
    path = c.text("broken.yaml", "task: text_classification\ntraining:\n  epochs: 3\n   batch: 8\n")
    return Expect(
        ["run", path],
        error=[
            f"error: config {path}: 1 error",
            "<root>: YAML syntax error at line 4, column 9: mapping values are not allowed here",
        ],
    )


@case
def yaml_value_error_in_a_subprocess(c: Ctx) -> Expect:
    """A tag PyYAML cannot convert ('!!float fast') raised ValueError before; the installed
    entry point reports it like any YAML error, without loading torch."""
    path = c.text("tagged.yaml", "training:\n  learning_rate: !!float fast\n")
    return Expect(
        ["run", path],
        error=[f"error: config {path}: 1 error", "<root>: YAML value error: ValueError:"],
        subprocess=True,
    )


@case
def wrong_types_and_negative_learning_rate(c: Ctx) -> Expect:
    c.config["seed"] = "x"
    c.config["training"].update(learning_rate=-0.1, epochs="three", batch_size=[8])
    path = c.write_config()
    return Expect(
        ["run", path],
        error=[
            f"error: config {path}: 4 errors",
            "  seed: Input should be a valid integer, unable to parse string as an integer "
            "(got 'x')",
            "  training.epochs: Input should be a valid integer, unable to parse string as an "
            "integer (got 'three')",
            "  training.batch_size: Input should be a valid integer",
            "  training.learning_rate: Input should be greater than 0 (got -0.1)",
        ],
    )


@case
def unknown_task(c: Ctx) -> Expect:
    c.config["task"] = "text_clasification"
    return Expect(
        ["run", c.write_config()],
        error=["task: unknown task 'text_clasification'; did you mean 'text_classification'?"],
    )


@case
def unknown_optimizer(c: Ctx) -> Expect:
    c.config["training"]["optimizer"] = "adamx"
    return Expect(
        ["run", c.write_config()],
        error=["training.optimizer: unknown optimizer 'adamx'; did you mean 'adamw'?"],
    )


@case
def unimportable_component_path(c: Ctx) -> Expect:
    """A dotted path with an empty module name raised ValueError from importlib before."""
    c.config["task"] = ":"
    c.config["training"]["schedule"] = ".relative:Schedule"
    return Expect(
        ["run", c.write_config()],
        error=[
            "config",
            "2 errors",
            "  task: cannot import ':': ValueError: Empty module name",
            "  training.schedule: cannot import '.relative:Schedule': TypeError:",
        ],
    )


@case
def missing_model_directory(c: Ctx) -> Expect:
    c.config["model"] = {"name_or_path": "./nope", "max_length": 32}
    c.fixture("monkeypatch").chdir(c.tmp)

    def after():
        assert not c.run_dir.exists()  # nothing is created before data and model load

    return Expect(
        ["run", c.write_config()],
        error=["error: model.name_or_path './nope': directory not found"],
        after=after,
    )


@case
def override_without_equals(c: Ctx) -> Expect:
    return Expect(
        ["run", c.write_config(), "training.epochs=1", "training.batch_size"],
        error=[
            "error: config overrides: 1 error",
            "  training.batch_size: override must look like key.path=value",
        ],
    )


@case
def unknown_top_level_key(c: Ctx) -> Expect:
    c.config["trainig"] = {"epochs": 1}
    path = c.write_config()
    return Expect(
        ["run", path],
        error=[
            f"error: config {path}: 1 error",
            "  trainig: unknown key; did you mean 'training'?",
        ],
    )


@case
def data_columns_names_no_task_column(c: Ctx) -> Expect:
    c.data["columns"] = {"text": "document", "txt": "review"}
    return Expect(
        ["run", c.write_config()],
        error=[
            "  data.columns.txt: not a column of task text_classification; did you mean 'text'?"
        ],
    )


@case
def resume_with_overwrite(c: Ctx) -> Expect:
    """Also: overrides may follow --resume (argparse rejected them as unrecognized before)."""
    return Expect(
        ["run", c.write_config(), "--resume", "output.overwrite=true"],
        error=["  output: output.resume and output.overwrite exclude each other"],
    )


# --- run directories and checkpoints -------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    """One finished run (1 epoch, a checkpoint at its end) and its config, shared read-only."""
    root = tmp_path_factory.mktemp("trained")
    config = {
        "seed": 7,
        "data": {
            "train": str(write_tsv(root / "train.tsv", train_rows())),
            "test": str(write_tsv(root / "test.tsv", split_test_rows())),
            "quoting": "none",
            "columns": {"text": "document"},
        },
        "model": {
            "from_scratch": {
                "vocab_size": 200,
                "hidden_size": 32,
                "num_layers": 1,
                "num_heads": 2,
                "embedding_size": 16,
            },
            "max_length": 32,
        },
        "training": {"epochs": 1, "batch_size": 8, "learning_rate": 3e-3},
        "output": {"dir": str(root / "runs"), "name": "done"},
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    assert main(["run", str(path)]) == 0
    return root / "runs" / "done", config


def finished_run(c: Ctx) -> Path:
    """A private copy of the finished run; c.config now points at it."""
    source, config = c.fixture("trained")
    c.fixture("capsys").readouterr()  # the summary the module's training run printed
    c.config = copy.deepcopy(config)
    c.config["output"]["dir"] = str(c.tmp / "runs")
    return Path(shutil.copytree(source, c.tmp / "runs" / "done"))


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@case
def run_directory_exists(c: Ctx) -> Expect:
    run = finished_run(c)
    before = snapshot(run)

    def after():
        assert snapshot(run) == before  # every file, byte for byte, mtime too

    return Expect(
        ["run", c.write_config(), *QUICK],
        error=[
            f"error: {run}: run directory already exists; choose another output.name or "
            "set output.overwrite=true"
        ],
        after=after,
    )


def checkpoint_of(run: Path) -> Path:
    (found,) = run.glob("checkpoints/step-*")
    return found


@case
def resume_ignores_an_unfinished_checkpoint(c: Ctx) -> Expect:
    run = finished_run(c)
    first_epoch = json.loads((run / "history.jsonl").read_text().splitlines()[0])
    junk = run / "checkpoints" / "step-00000099"  # a newer step, but no COMPLETE marker
    junk.mkdir()
    (junk / "model.safetensors").write_bytes(b"not weights")

    def after():
        history = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
        # Continued from step 14: epoch 1's record is the original one, verbatim.
        assert history[0] == first_epoch
        assert [h["step"] for h in history] == [14, 28]

    return Expect(["run", c.write_config(), "training.epochs=2", "--resume"], rc=0, after=after)


@case
def resume_from_a_truncated_checkpoint(c: Ctx) -> Expect:
    """A COMPLETE checkpoint whose model.safetensors was cut short (disk full, copied badly)."""
    weights = checkpoint_of(finished_run(c)) / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    return Expect(
        ["run", c.write_config(), "training.epochs=2", "--resume"],
        error=[f"error: {weights.parent}: damaged checkpoint (", "delete this folder"],
    )


@case
def resume_with_a_truncated_rng_state(c: Ctx) -> Expect:
    """Accelerate alone would skip an unreadable RNG state (an INFO line) and resume inexactly."""
    states = checkpoint_of(finished_run(c)) / "random_states_0.pkl"
    states.write_bytes(states.read_bytes()[:100])
    return Expect(
        ["run", c.write_config(), "training.epochs=2", "--resume"],
        error=[
            f"error: {states.parent}: damaged checkpoint (random_states_0.pkl has 100 bytes, "
            "expected",
            "delete this folder",
        ],
    )


@case
def predict_on_an_unfinished_run(c: Ctx) -> Expect:
    folder = c.tmp / "killed"
    (folder / "checkpoints" / "step-00000004").mkdir(parents=True)
    return Expect(
        ["predict", folder, "--text", "재밌다"],
        error=[f"error: {folder}: no trained model in it (missing model/plmkit.json)"],
    )


@case
def predict_column_flag_without_equals(c: Ctx) -> Expect:
    return Expect(
        ["predict", c.tmp, "--input", c.data["test"], "--column", "badflag"],
        error=["error: --column 'badflag': expected TASK=FILE, e.g. text=document"],
    )


@case
def predict_column_flag_names_no_task_column(c: Ctx) -> Expect:
    """Silently ignored before: the typo'd mapping did nothing."""
    run = finished_run(c)
    return Expect(
        ["predict", run, "--input", c.data["test"], "--column", "txt=document"],
        error=[
            "error: --column txt=document: 'txt' is not a column of task "
            "text_classification; did you mean 'text'?"
        ],
    )


@case
def evaluate_a_file_without_labels(c: Ctx) -> Expect:
    run = finished_run(c)
    path = c.tsv("unlabelled.tsv", [r[:2] for r in split_test_rows()], header=("id", "document"))

    def after():
        assert not (run / "evaluations").exists()

    return Expect(
        ["evaluate", run, "--data", path],
        error=[f"error: {path}: column 'label' (for label) not found; columns are: id, document"],
        after=after,
    )


# --- downloads -----------------------------------------------------------------------------


def url_config(c: Ctx, remote: dict) -> Path:
    c.config["data"] = {
        "source": "url",
        "train": remote,
        "cache_dir": str(c.tmp / "cache"),
        "timeout": 5,
        "retries": 3,
        "quoting": "none",
        "columns": {"text": "document"},
    }
    return c.write_config()


@case
def download_checksum_mismatch(c: Ctx) -> Expect:
    base, www, counts = c.fixture("http_server")
    data = "\n".join(lines_of(train_rows())).encode() + b"\n"
    (www / "train.tsv").write_bytes(data)
    wrong = hashlib.sha256(b"another file").hexdigest()
    url = f"{base}/train.tsv"

    def after():
        assert list((c.tmp / "cache").iterdir()) == []  # the bad download is deleted
        assert counts["/train.tsv"] == 1  # and not retried

    return Expect(
        ["run", url_config(c, {"url": url, "sha256": wrong})],
        error=[
            f"error: {url}: sha256 mismatch: expected {wrong}, "
            f"got {hashlib.sha256(data).hexdigest()}"
        ],
        after=after,
    )


@case
def download_404(c: Ctx) -> Expect:
    base, _www, counts = c.fixture("http_server")
    url = f"{base}/missing.tsv"

    def after():
        assert counts["/missing.tsv"] == 1  # a 4xx is not retried

    return Expect(
        ["run", url_config(c, {"url": url})],
        error=[f"error: {url}: download failed: HTTP Error 404"],
        after=after,
    )


# --- the test ------------------------------------------------------------------------------
PARAMS = list(CASES)


@pytest.fixture
def invoke(cli, capsys):
    """``cli``, but an exception escaping ``main`` is shown as the console script shows it: a
    traceback on stderr and exit status 1 (so that the checks below can say what happened)."""

    def run(argv: list) -> tuple[int, str, str]:
        try:
            return cli(*argv)
        except Exception:
            traceback.print_exc()
            captured = capsys.readouterr()
            return 1, captured.out, captured.err

    return run


def run_subprocess(argv: list, cwd: Path) -> tuple[int, str, str]:
    plmkit = Path(sys.executable).parent / "plmkit"
    proc = subprocess.run(
        [str(plmkit), *map(str, argv)], capture_output=True, text=True, cwd=cwd, timeout=300
    )
    return proc.returncode, proc.stdout, proc.stderr


def error_message(err: str) -> str:
    """The error at the end of stderr: its ``error: `` line and the indented lines after it."""
    assert "Traceback" not in err, err
    lines = err.rstrip("\n").splitlines()
    assert lines, "nothing on stderr"
    head = max(i for i, line in enumerate(lines) if not line.startswith("  "))
    assert lines[head].startswith("error: "), err
    return "\n".join(lines[head:])


def read_rejected(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "rejected.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name", PARAMS)
def test_bad_input(name, tmp_path, tiny_config, request, invoke):
    c = Ctx(tmp_path, tiny_config, request)
    expect = CASES[name](c)
    if expect.subprocess:
        rc, out, err = run_subprocess(expect.argv, tmp_path)
    else:
        rc, out, err = invoke(expect.argv)

    if expect.rc == 0:
        assert rc == 0, err
        assert "Traceback" not in err
        assert f"run directory: {c.run_dir}" in out
    else:
        assert rc == expect.rc, err
        message = error_message(err)
        for fragment in expect.error:
            assert fragment in message, f"{fragment!r} not in:\n{message}"
        assert out == ""
    if expect.rejected is not None:
        rejected = read_rejected(c.run_dir)
        found = [(r["split"], r["where"], r["column"], r["reason"]) for r in rejected]
        assert len(found) == len(expect.rejected), found
        for want, got in zip(sorted(expect.rejected), sorted(found), strict=True):
            assert got[:3] == want[:3] and got[3].startswith(want[3]), (want, got)
        summary = json.loads((c.run_dir / "metrics.json").read_text(encoding="utf-8"))["summary"]
        assert summary["rejected"] == len(rejected)
        assert f"rejected rows: {len(rejected)}" in out
        # Nothing silently dropped: the rows kept and the rows rejected are the rows read.
        assert sum(summary["rows"].values()) + summary["rejected"] == expect.rows_in
    if expect.after is not None:
        expect.after()


def test_every_case_is_in_the_reliability_doc():
    doc = (Path(__file__).parents[1] / "docs" / "reliability.md").read_text(encoding="utf-8")
    missing = [name for name in CASES if f"test_bad_input[{name}]" not in doc]
    assert not missing, f"docs/reliability.md does not list: {missing}"


# --- interrupts ----------------------------------------------------------------------------
def test_sigint_checkpoints_and_says_how_to_resume(tiny_config, write_config, tmp_path):
    """Ctrl-C while training: the step finishes, a checkpoint is written, one error line says
    how to continue, exit status 130 (SIGTERM: tests/stages/train/test_resume.py)."""
    tiny_config["training"].update(epochs=50, checkpoint_every=1)
    config = write_config(tiny_config)
    run = Path(tiny_config["output"]["dir"]) / "tiny"
    proc = subprocess.Popen(
        [sys.executable, "-m", "plmkit", "run", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(run.glob("checkpoints/step-*/COMPLETE")):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGINT, err
    message = error_message(err)
    assert message.startswith("error: SIGINT received: stopped after step ")
    assert "checkpoint " + str(run / "checkpoints" / "step-") in message
    assert "Continue with: plmkit run CONFIG --resume (same output.name)" in message
    assert not (run / "metrics.json").exists()
