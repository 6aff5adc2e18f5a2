"""End to end: `plmkit run`, then predict / evaluate / validate on its run directory, and the
same pipeline from Python with a custom fetcher and a custom step named by dotted path."""

from __future__ import annotations

import contextlib
import io
import json
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest
import yaml
from accelerate.state import AcceleratorState
from conftest import make_rows, write_tsv

from plmkit.cli import demo_config_path, demo_overrides, main
from plmkit.config import load_config
from plmkit.pipeline import Pipeline
from plmkit.predict import load_run
from plmkit.stages.fetch import Fetcher
from plmkit.stages.preprocess import FilterStep
from plmkit.stages.preprocess.steps import FilterParams

MODULE = __name__  # how this module is importable (tests/ is on sys.path): "test_pipeline"
EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.y*ml"))
OVERRIDES = ["training.epochs=4", "model.from_scratch.architecture=bert", "training.device=cpu"]
STEPS = ["nfc", "strip_html", "strip_urls", "squeeze_repeats", "whitespace", "drop_empty", "dedupe"]


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Accelerate keeps one process-wide state; every run here builds its own Accelerator."""
    AcceleratorState._reset_state(reset_partial_state=True)
    yield


def tiny_run_config(root: Path, train: Path, test: Path) -> dict:
    """The conftest ``tiny_config``, with every default step plus dedupe."""
    return {
        "task": "text_classification",
        "seed": 7,
        "data": {
            "source": "files",
            "train": str(train),
            "test": str(test),
            "quoting": "none",
            "columns": {"text": "document"},
        },
        "preprocess": {"steps": STEPS},
        "model": {
            "from_scratch": {
                "architecture": "electra",
                "vocab_size": 200,
                "hidden_size": 32,
                "num_layers": 1,
                "num_heads": 2,
                "embedding_size": 16,
            },
            "max_length": 32,
        },
        "training": {"epochs": 3, "batch_size": 8, "learning_rate": 3e-3, "log_every": 5},
        "output": {"dir": str(root / "runs"), "name": "tiny"},
    }


class Trained:
    def __init__(self, root: Path):
        self.root = root
        train_rows = make_rows(120, seed=1)
        # An empty review and an exact duplicate: both leave train, each with its reason.
        train_rows += [(900, "", 0), (901, train_rows[4][1], train_rows[4][2])]
        self.test_rows = make_rows(40, seed=2, start_id=1000) + [(1040, "   ", 1)]
        self.train = write_tsv(root / "train.tsv", train_rows)
        self.test = write_tsv(root / "test.tsv", self.test_rows)
        self.config = root / "config.yaml"
        raw = tiny_run_config(root, self.train, self.test)
        self.config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        AcceleratorState._reset_state(reset_partial_state=True)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.rc = main(["run", str(self.config), *OVERRIDES])
        self.stdout = out.getvalue()
        self.run = root / "runs" / "tiny"

    def read_test_file(self) -> pd.DataFrame:
        return pd.read_csv(self.test, sep="\t", dtype=str, keep_default_na=False)

    def predictions(self) -> pd.DataFrame:
        return pd.read_csv(
            self.run / "predictions" / "test.csv", dtype={"id": str, "label": str, "pred": str}
        )

    def metrics(self) -> dict:
        return json.loads((self.run / "metrics.json").read_text(encoding="utf-8"))

    def history(self) -> list[dict]:
        lines = (self.run / "history.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Trained:
    """One `plmkit run` (a 1-layer BERT, 4 epochs, CPU) shared by the tests below."""
    return Trained(tmp_path_factory.mktemp("e2e"))


def read_csv_output(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype={"id": str, "pred": str, "label": str})


# --- plmkit run ------------------------------------------------------------------------------
def test_run_succeeds_and_prints_a_summary(trained):
    assert trained.rc == 0
    assert f"run directory: {trained.run}" in trained.stdout
    lines = trained.stdout.splitlines()
    assert any(line.split()[:2] == ["test", "41"] for line in lines if line.strip())
    assert "best epoch:" in trained.stdout


def test_run_writes_the_resolved_config(trained):
    saved = load_config(trained.run / "config.yaml")
    used = load_config(trained.config, OVERRIDES)
    assert saved.model_dump() == used.model_dump()
    assert saved.training.epochs == 4  # the command line override, not the file's 3
    assert saved.model.from_scratch.architecture == "bert"
    assert [s.name for s in saved.preprocess.steps] == STEPS
    text = (trained.run / "config.yaml").read_text(encoding="utf-8")
    assert "validation_size" in text and "warmup_ratio" in text  # every default written out


def test_run_records_versions(trained):
    versions = json.loads((trained.run / "versions.json").read_text(encoding="utf-8"))
    assert versions["plmkit"] == version("plmkit")
    assert versions["torch"] == version("torch")
    assert versions["transformers"] == version("transformers")
    assert versions["python"].count(".") == 2


def test_history_has_one_line_per_epoch(trained):
    history = trained.history()
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    steps = [r["step"] for r in history]
    assert steps == sorted(steps) and len(set(steps)) == 4
    assert all(0 <= r["validation"]["accuracy"] <= 1 for r in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_metrics_match_the_written_predictions(trained):
    metrics, preds = trained.metrics(), trained.predictions()
    test = metrics["test"]
    assert test["accuracy"] == pytest.approx((preds["pred"] == preds["label"]).mean())
    assert test["num_examples"] == len(trained.test_rows)
    assert test["accuracy"] >= 0.8  # the tiny data is learnable: the model did learn it
    summary = metrics["summary"]
    history = trained.history()
    best = summary["best_epoch"]
    scores = [r["validation"]["accuracy"] for r in history]
    assert best == scores.index(max(scores)) + 1
    assert metrics["validation"] == history[best - 1]["validation"]
    assert summary["rows"]["test"] == len(trained.test_rows)
    assert summary["rows"]["train"] + summary["rows"]["validation"] == 120
    rejected = pd.read_csv(trained.run / "rejected.csv")
    assert summary["rejected"] == len(rejected)


def test_predictions_have_one_row_per_test_row_in_file_order(trained):
    preds, test = trained.predictions(), trained.read_test_file()
    assert len(preds) == len(test)
    assert preds["id"].tolist() == test["id"].tolist()
    assert preds["label"].tolist() == test["label"].tolist()
    assert set(preds["pred"]) <= {"0", "1"}
    assert preds["prob"].between(0.5, 1.0).all()  # the top class of two


def test_rejected_rows_are_listed_with_their_reasons(trained):
    rejected = pd.read_csv(trained.run / "rejected.csv", dtype={"id": str})
    by_id = rejected.set_index("id")
    assert set(by_id.index) == {"900", "901"}
    assert by_id.loc["900", "reason"] == "empty text"
    assert by_id.loc["901", "reason"] == "duplicate text"
    assert by_id.loc["901", "value"] == f"first at {trained.train} line 6"  # its row 5
    assert set(rejected["split"]) == {"train"}


def test_model_directory_holds_weights_tokenizer_and_task_state(trained):
    model_dir = trained.run / "model"
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"):
        assert (model_dir / name).is_file(), name
    state = json.loads((model_dir / "plmkit.json").read_text(encoding="utf-8"))
    assert state == {"task": "text_classification", "state": {"labels": ["0", "1"], "params": None}}
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {"0": "0", "1": "1"}


# --- plmkit predict / evaluate ---------------------------------------------------------------
def test_predict_texts_prints_a_csv(trained, cli):
    test = trained.read_test_file()
    texts = test["document"].tolist()[:3]
    rc, out, _ = cli("predict", trained.run, *[a for t in texts for a in ("--text", t)])
    assert rc == 0
    table = read_csv_output(out)
    assert list(table.columns) == ["id", "pred", "prob", "text"]
    assert table["text"].tolist() == texts
    assert table["prob"].between(0.5, 1.0).all()
    expected = trained.predictions().iloc[:3]
    assert table["pred"].tolist() == expected["pred"].tolist()
    assert table["prob"].to_numpy() == pytest.approx(expected["prob"].to_numpy(), abs=1e-5)


def test_predict_file_matches_the_runs_test_predictions(trained, cli, tmp_path):
    out_csv = tmp_path / "out.csv"
    rc, _, err = cli(
        "predict",
        trained.run,
        "--input",
        trained.test,
        "--output",
        out_csv,
    )
    assert rc == 0, err
    assert f"{out_csv} ({len(trained.test_rows)} rows)" in err
    got = pd.read_csv(out_csv, dtype={"id": str, "pred": str})
    expected = trained.predictions()
    assert got["id"].tolist() == expected["id"].tolist()
    assert got["pred"].tolist() == expected["pred"].tolist()
    assert got["prob"].to_numpy() == pytest.approx(expected["prob"].to_numpy(), abs=1e-5)


def test_evaluate_reproduces_the_test_metrics(trained, cli):
    # No column flags: the file is read like the run's training data (text <- document).
    rc, out, err = cli("evaluate", trained.run, "--data", trained.test)
    assert rc == 0, err
    test = trained.metrics()["test"]
    written = trained.run / "evaluations" / Path(trained.test).name
    metrics = json.loads((written / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["accuracy"] == pytest.approx(test["accuracy"], abs=1e-6)
    assert metrics["macro_f1"] == pytest.approx(test["macro_f1"], abs=1e-6)
    assert metrics["confusion_matrix"] == test["confusion_matrix"]
    assert f"accuracy {test['accuracy']:.4f}" in out
    preds = pd.read_csv(written / "predictions.csv", dtype={"id": str, "pred": str})
    assert preds["pred"].tolist() == trained.predictions()["pred"].tolist()


# --- plmkit validate -------------------------------------------------------------------------
def test_validate_checks_everything_and_trains_nothing(tiny_config, write_config, cli):
    path = write_config(tiny_config)
    runs = Path(tiny_config["output"]["dir"])
    rc, out, err = cli("validate", path)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == f"config {path}: ok"
    assert lines[1].startswith("data: ok (train ") and "test 40" in lines[1]
    assert lines[2] == "model: ok (from_scratch)"
    assert not runs.exists()


def test_validate_reports_a_bad_config_without_a_run(tiny_config, write_config, cli):
    tiny_config["training"]["best_metric"] = "acuracy"
    rc, out, err = cli("validate", write_config(tiny_config))
    assert rc == 2
    assert "training.best_metric" in err and "accuracy" in err
    assert out == ""  # stopped at the config: no "ok" line for anything
    assert not Path(tiny_config["output"]["dir"]).exists()


# --- from Python: a custom fetcher and a custom step named by dotted path ---------------------
class MemoryFetcher(Fetcher):
    """Frames held in memory (a user's own source)."""

    def __init__(self, frames: dict[str, pd.DataFrame] | None = None, **kwargs):
        super().__init__(None, **kwargs)
        self.frames = frames or {}

    def fetch(self):
        out = {}
        for split, df in self.frames.items():
            out[split] = df.copy()
            out[split].attrs = {"source": f"memory {split}", "line_offset": None}
        return out


class MarkedParams(FilterParams):
    marker: str


class DropMarked(FilterStep):
    """Drop rows that contain a marker word (a user's own filter)."""

    Params = MarkedParams

    def reasons(self, df, text_columns):
        marker = self.params.marker
        hit = df["text"].str.contains(marker, regex=False)
        return pd.Series(
            [("marked", marker) if h else None for h in hit], index=df.index, dtype=object
        )


def frames() -> dict[str, pd.DataFrame]:
    train = make_rows(80, seed=3) + [
        (500 + i, f"광고 클릭 영화 {w}", i % 2) for i, w in enumerate(["재밌다", "실망", "추천"])
    ]
    test = make_rows(20, seed=4, start_id=2000) + [(2020, "광고 영화 최고다", 1)]
    cols = ["id", "text", "label"]
    return {"train": pd.DataFrame(train, columns=cols), "test": pd.DataFrame(test, columns=cols)}


def api_config(tiny_config, name: str) -> dict:
    cfg = dict(tiny_config)
    cfg["data"] = {"source": f"{MODULE}.MemoryFetcher"}
    cfg["preprocess"] = {
        "steps": ["nfc", "whitespace", {"name": f"{MODULE}.DropMarked", "marker": "광고"}],
        "validation_size": 0.2,
    }
    cfg["training"] = {**cfg["training"], "epochs": 2, "device": "cpu"}
    cfg["output"] = {**cfg["output"], "name": name}
    return cfg


def test_pipeline_from_python_with_a_custom_fetcher_and_step(tiny_config):
    config = load_config(api_config(tiny_config, "api"))
    assert config.preprocess.steps[2].params == {"marker": "광고"}
    data = frames()
    result = Pipeline(config, fetcher=MemoryFetcher(data)).run()
    run = result.run.path
    assert run == Path(tiny_config["output"]["dir"]) / "api"

    rejected = pd.read_csv(run / "rejected.csv")
    assert sorted(rejected["id"]) == [500, 501, 502]
    assert set(rejected["reason"]) == {"marked"} and set(rejected["value"]) == {"광고"}
    assert result.summary["rows"]["train"] + result.summary["rows"]["validation"] == 80
    # Filters leave test alone: every test row, marked or not, gets a prediction.
    preds = pd.read_csv(run / "predictions" / "test.csv")
    assert preds["id"].tolist() == data["test"]["id"].tolist()
    assert result.metrics["test"]["num_examples"] == len(data["test"])
    assert set(preds["label"].astype(str)) == {"0", "1"}

    # The saved run rebuilds the custom step from its dotted name.
    loaded = load_run(run)
    assert [type(s).__name__ for s in loaded.steps] == [
        "UnicodeNormalize",
        "NormalizeWhitespace",
        "DropMarked",
    ]
    table = loaded.predict(["광고  영화 재밌다", "실망"])
    assert table["text"].tolist() == ["광고  영화 재밌다", "실망"]
    assert len(table) == 2 and set(table["pred"]) <= {"0", "1"}


def test_the_same_config_twice_gives_the_same_run(tiny_config):
    """The seed fixes the model's initial weights too, not only the data order."""
    outputs = []
    for name in ("first", "second"):
        cfg = api_config(tiny_config, name)
        cfg["training"]["epochs"] = 1
        result = Pipeline(load_config(cfg), fetcher=MemoryFetcher(frames())).run()
        history = [
            {k: v for k, v in json.loads(line).items() if k != "train_seconds"}
            for line in (result.run.path / "history.jsonl").read_text().splitlines()
        ]
        preds = pd.read_csv(result.run.path / "predictions" / "test.csv")
        outputs.append((history, preds))
    assert outputs[0][0] == outputs[1][0]
    pd.testing.assert_frame_equal(outputs[0][1], outputs[1][1])


# --- shipped configs -------------------------------------------------------------------------
def test_the_demo_config_validates():
    config = load_config(demo_config_path(), demo_overrides())
    assert Path(config.data.params["train"]).is_file()
    assert config.data.labels == ["negative", "positive"]
    assert (config.model.from_scratch is None) != (config.model.name_or_path is None)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_configs_validate(path):
    config = load_config(path)
    assert config.task and config.model.max_length >= 8


def test_predict_reads_other_layouts_with_column_flags(trained, cli, tmp_path):
    rows = pd.read_csv(trained.test, sep="\t", dtype=str, keep_default_na=False)
    other = tmp_path / "other.csv"
    rows.rename(columns={"document": "review", "id": "rid"})[["rid", "review"]].to_csv(
        other, index=False
    )
    rc, out, err = cli(
        "predict",
        trained.run,
        "--input",
        other,
        "--format",
        "csv",
        "--quoting",
        "minimal",
        "--column",
        "text=review",
        "--column",
        "id=rid",
    )
    assert rc == 0, err
    got = pd.read_csv(io.StringIO(out), dtype={"id": str, "pred": str})
    expected = trained.predictions()
    assert got["id"].tolist() == expected["id"].tolist()
    assert got["pred"].tolist() == expected["pred"].tolist()


def test_predict_with_a_bad_column_flag_is_one_line(trained, cli):
    rc, _, err = cli("predict", trained.run, "--input", trained.test, "--column", "text")
    assert rc == 2
    assert err.startswith("error: --column 'text': expected TASK=FILE")
