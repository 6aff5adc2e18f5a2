"""User mistakes on the command line end as one message on stderr and exit status 2."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_rows, write_tsv

PLMKIT = Path(sys.executable).parent / "plmkit"
# Successful runs train as little as possible: these tests are about what surrounds training.
QUICK = ["training.epochs=1", "training.max_steps=2"]


def assert_user_error(rc: int, err: str, *fragments: str) -> str:
    assert rc == 2, err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in:\n{err}"
    return err


def assert_success(rc: int, out: str, err: str, run_dir: Path) -> None:
    assert rc == 0, err
    assert f"run directory: {run_dir}" in out
    assert (run_dir / "model" / "plmkit.json").is_file()
    assert (run_dir / "metrics.json").is_file()


def read_rejected(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "rejected.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# --- config ----------------------------------------------------------------------------------
def test_bad_config(cli, tiny_config, write_config):
    tiny_config["training"]["epoch"] = 2
    tiny_config["training"]["batch_size"] = "eight"
    path = write_config(tiny_config)
    rc, out, err = cli("run", path)
    assert_user_error(
        rc,
        err,
        f"config {path}: 2 errors",
        "training.epoch: unknown key; did you mean 'epochs'?",
        "training.batch_size: ",
        "(got 'eight')",
    )
    assert out == ""
    assert not (Path(tiny_config["output"]["dir"]) / "tiny").exists()


def test_bad_override(cli, tiny_config, write_config):
    rc, _, err = cli("run", write_config(tiny_config), "training.epochz=1")
    assert_user_error(rc, err, "training.epochz: unknown key; did you mean 'epochs'?")


def test_override_without_equals(cli, tiny_config, write_config):
    rc, _, err = cli("validate", write_config(tiny_config), "training.epochs")
    assert_user_error(rc, err, "config overrides: 1 error", "training.epochs: override must")


def test_run_missing_config_file(cli, tmp_path):
    path = tmp_path / "nowhere.yaml"
    rc, out, err = cli("run", path)
    assert_user_error(rc, err, f"config {path}: 1 error", "file not found")
    assert out == ""


def test_yaml_syntax_error(cli, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("model: {name_or_path: m\n", encoding="utf-8")
    rc, _, err = cli("run", path)
    assert_user_error(rc, err, str(path), "YAML syntax error at line 2")


# --- data ------------------------------------------------------------------------------------
def test_missing_data_file(cli, tiny_config, write_config, tmp_path):
    missing = tmp_path / "missing" / "train.tsv"
    tiny_config["data"]["train"] = str(missing)
    rc, _, err = cli("run", write_config(tiny_config))
    assert_user_error(rc, err, f"{missing}: file not found")


def test_missing_text_column(cli, tiny_config, write_config, tiny_files):
    tiny_config["data"]["columns"] = {"text": "review"}
    rc, _, err = cli("run", write_config(tiny_config))
    assert_user_error(
        rc,
        err,
        f"{tiny_files['train']}: column 'review' (for text) not found",
        "columns are: id, document, label",
    )


def test_wrong_delimiter_hint(cli, tiny_config, write_config, tiny_files):
    tiny_config["data"]["delimiter"] = ","
    rc, _, err = cli("run", write_config(tiny_config))
    assert_user_error(rc, err, str(tiny_files["train"]), "set data.delimiter")


@pytest.fixture
def cp949_config(tiny_config, tmp_path):
    """The tiny config with its files re-encoded as CP949 (Korean Windows)."""
    for split, seed, start in [("train", 1, 1), ("test", 2, 1000)]:
        rows = make_rows(120 if split == "train" else 40, seed=seed, start_id=start)
        path = write_tsv(tmp_path / f"{split}_cp949.tsv", rows, encoding="cp949")
        with pytest.raises(UnicodeDecodeError):
            path.read_text(encoding="utf-8")
        tiny_config["data"][split] = str(path)
    return tiny_config


def test_cp949_file_read_as_utf8(cli, cp949_config, write_config):
    rc, _, err = cli("run", write_config(cp949_config))
    assert_user_error(
        rc,
        err,
        f"{cp949_config['data']['train']}: not valid utf-8",
        "set data.encoding",
        "cp949",
    )


def test_cp949_file_with_encoding_override(cli, cp949_config, write_config):
    rc, out, err = cli("run", write_config(cp949_config), "data.encoding=cp949", *QUICK)
    run_dir = Path(cp949_config["output"]["dir"]) / "tiny"
    assert_success(rc, out, err, run_dir)
    # Every row was read and kept (nothing rejected as undecodable or empty).
    summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))["summary"]
    assert summary["rejected"] == 0
    assert summary["rows"]["train"] + summary["rows"]["validation"] == 120
    assert summary["rows"]["test"] == 40


@pytest.fixture
def bad_labels_config(tiny_config, tmp_path):
    """Train rows 4 and 10 (file lines 5 and 11) carry labels outside ``data.labels``."""
    rows = make_rows(120, seed=1)
    rows[3] = (rows[3][0], rows[3][1], 2)
    rows[9] = (rows[9][0], rows[9][1], "positive")
    path = write_tsv(tmp_path / "bad_labels.tsv", rows)
    tiny_config["data"]["train"] = str(path)
    tiny_config["data"]["labels"] = ["0", "1"]
    return tiny_config


def test_labels_outside_the_label_set(cli, bad_labels_config, write_config):
    path = bad_labels_config["data"]["train"]
    rc, _, err = cli("run", write_config(bad_labels_config))
    assert_user_error(
        rc,
        err,
        "2 invalid row(s) in split 'train'",
        "data.on_invalid: drop",
        f"{path} line 5: column 'label': not in the label set",
        "(value '2')",
        f"{path} line 11: column 'label': not in the label set",
        "(value 'positive')",
    )
    assert not (Path(bad_labels_config["output"]["dir"]) / "tiny" / "model").exists()


def test_labels_outside_the_label_set_dropped(cli, bad_labels_config, write_config):
    path = bad_labels_config["data"]["train"]
    rc, out, err = cli("run", write_config(bad_labels_config), "data.on_invalid=drop", *QUICK)
    run_dir = Path(bad_labels_config["output"]["dir"]) / "tiny"
    assert_success(rc, out, err, run_dir)
    assert "rejected rows: 2" in out
    rejected = read_rejected(run_dir)
    assert [(r["where"], r["column"], r["value"], r["split"]) for r in rejected] == [
        (f"{path} line 5", "label", "2", "train"),
        (f"{path} line 11", "label", "positive", "train"),
    ]
    assert all(r["reason"].startswith("not in the label set") for r in rejected)
    assert [r["id"] for r in rejected] == ["4", "10"]
    summary = json.loads((run_dir / "metrics.json").read_text())["summary"]
    assert summary["rejected"] == 2


def test_duplicate_ids(cli, tiny_config, write_config, tmp_path):
    rows = make_rows(120, seed=1)
    rows[7] = (rows[2][0], rows[7][1], rows[7][2])  # id 3 again, on line 9
    path = write_tsv(tmp_path / "dupes.tsv", rows)
    tiny_config["data"]["train"] = str(path)
    rc, _, err = cli("run", write_config(tiny_config))
    assert_user_error(
        rc, err, f"{path} line", "column 'id'", "duplicate value (must be unique)", "(value '3')"
    )
    assert f"{path} line 9: column 'id'" in err


# --- run directories -------------------------------------------------------------------------
def test_existing_run_directory(cli, tiny_config, write_config):
    path = write_config(tiny_config)
    run_dir = Path(tiny_config["output"]["dir"]) / "tiny"
    rc, out, err = cli("run", path, *QUICK)
    assert_success(rc, out, err, run_dir)
    first = (run_dir / "metrics.json").stat().st_mtime_ns

    rc, _, err = cli("run", path, *QUICK)
    assert_user_error(rc, err, f"{run_dir}: run directory already exists", "output.overwrite")
    assert (run_dir / "metrics.json").stat().st_mtime_ns == first

    rc, out, err = cli("run", path, *QUICK, "output.overwrite=true")
    assert_success(rc, out, err, run_dir)


def test_predict_on_a_directory_that_is_not_a_run(cli, tmp_path):
    folder = tmp_path / "not_a_run"
    folder.mkdir()
    rc, out, err = cli("predict", folder, "--text", "재밌다")
    assert_user_error(rc, err, str(folder), "no trained model in it (missing model/plmkit.json)")
    assert out == ""


def test_predict_on_a_missing_directory(cli, tmp_path):
    rc, _, err = cli("predict", tmp_path / "gone", "--text", "x")
    assert_user_error(rc, err, f"{tmp_path / 'gone'}: run directory not found")


# --- other commands --------------------------------------------------------------------------
def test_config_schema(cli):
    rc, out, err = cli("config", "schema")
    assert rc == 0, err
    schema = json.loads(out)
    assert "training" in schema["properties"]
    assert {"data", "model", "preprocess", "evaluation", "output"} <= set(schema["properties"])
    assert "model" in schema["required"]


def test_misspelt_config_fails_fast_in_a_subprocess(tiny_config, write_config, tmp_path):
    """The installed ``plmkit`` reports config errors without waiting for torch."""
    tiny_config["training"]["epoch"] = 2
    tiny_config["training"]["batch_size"] = "eight"
    path = write_config(tiny_config)
    started = time.perf_counter()
    proc = subprocess.run(
        [str(PLMKIT), "run", str(path)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    seconds = time.perf_counter() - started
    print(f"plmkit run with a bad config: {seconds:.2f} s")
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert_user_error(
        proc.returncode,
        proc.stderr,
        "training.epoch: unknown key; did you mean 'epochs'?",
        "training.batch_size: ",
    )
