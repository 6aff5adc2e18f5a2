"""The data cache: a second run only reloads; anything that changes the data changes the key."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from accelerate.state import AcceleratorState
from conftest import make_rows, write_tsv

from plmkit.config import load_config
from plmkit.datacache import tokenizer_digest
from plmkit.models import train_tokenizer
from plmkit.pipeline import Pipeline
from plmkit.stages.fetch import DataFrameFetcher


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    AcceleratorState._reset_state(reset_partial_state=True)
    yield


def pipeline(raw: dict, **changes) -> Pipeline:
    raw = copy.deepcopy(raw)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = raw
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return Pipeline(load_config(raw))


def same_split(a, b) -> None:
    assert a.ids.tolist() == b.ids.tolist()
    assert a.lengths.tolist() == b.lengths.tolist()
    assert sorted(a.inputs) == sorted(b.inputs)
    for key in a.inputs:
        assert np.array_equal(a.inputs[key].flat, b.inputs[key].flat)
        assert np.array_equal(a.inputs[key].offsets, b.inputs[key].offsets)
    assert np.array_equal(a.targets, b.targets)


def test_a_second_run_only_reloads_and_gets_the_same_results(tiny_config, data_cache_dir):
    tiny_config["training"]["epochs"] = 1
    first = pipeline(tiny_config, **{"output.name": "cold"}).run()
    assert first.summary["data_cache"] is not None
    entries = [p for p in data_cache_dir.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1 and first.summary["data_cache"] == str(entries[0])

    second_pipe = pipeline(tiny_config, **{"output.name": "warm"})
    warm = second_pipe.prepare()
    assert warm.cached
    assert second_pipe.task.labels == first.task.labels  # the task's state comes back too
    assert warm.tokenizer.get_vocab() == first.tokenizer.get_vocab()

    AcceleratorState._reset_state(reset_partial_state=True)
    second = pipeline(tiny_config, **{"output.name": "warm"}).run()
    assert second.metrics == first.metrics
    for name in ("rejected.csv", "predictions/test.csv"):
        assert (first.run.path / name).read_text() == (second.run.path / name).read_text()
    assert second.summary["rows"] == first.summary["rows"]


def test_warm_splits_equal_cold_ones_with_string_ids(tiny_config, tmp_path):
    rows = [(f"r{i}", text, label) for i, text, label in make_rows(60, seed=3)]
    tiny_config["data"]["train"] = str(write_tsv(tmp_path / "ids.tsv", rows))
    cold = pipeline(tiny_config, **{"data.cache": False}).prepare()
    assert cold.cache is None
    writing = pipeline(tiny_config).prepare()
    assert not writing.cached
    warm = pipeline(tiny_config).prepare()
    assert warm.cached and warm.cache == writing.cache
    assert isinstance(warm.splits["train"].inputs["input_ids"].flat, np.memmap)
    assert set(cold.splits) == set(warm.splits) == {"train", "validation", "test"}
    for name in cold.splits:
        same_split(cold.splits[name], warm.splits[name])
    assert warm.splits["train"].ids[0].startswith("r")


def test_the_key_follows_data_settings_and_tokenizer(tiny_config, tmp_path):
    key = pipeline(tiny_config).cache_key(None)
    same = {
        "output.name": "other",
        "training.epochs": 9,
        "evaluation.batch_size": 7,
        "data.cache.dir": str(tmp_path / "elsewhere"),
    }
    for dotted, value in same.items():
        assert pipeline(tiny_config, **{dotted: value}).cache_key(None) == key, dotted
    different = {
        "seed": 8,
        "model.max_length": 16,
        "preprocess.steps": ["nfc"],
        "preprocess.validation_size": 0.2,
        "data.limit": 50,
        "data.columns": {"text": "document", "id": "id"},
        "model.from_scratch.vocab_size": 300,
    }
    for dotted, value in different.items():
        assert pipeline(tiny_config, **{dotted: value}).cache_key(None) != key, dotted

    # The bytes of an input file, not its name or date.
    train = tiny_config["data"]["train"]
    text = Path(train).read_text(encoding="utf-8")
    with open(train, "a", encoding="utf-8") as f:
        f.write("999\t새 리뷰\t1\n")
    assert pipeline(tiny_config).cache_key(None) != key
    with open(train, "w", encoding="utf-8") as f:
        f.write(text)
    assert pipeline(tiny_config).cache_key(None) == key


def test_a_pretrained_tokenizer_is_part_of_the_key(tiny_config):
    p = pipeline(tiny_config)
    a = train_tokenizer(["가 나 다 라"] * 4, 100)
    b = train_tokenizer(["마 바 사 아 자"] * 4, 100)
    assert tokenizer_digest(a) == tokenizer_digest(a)
    assert tokenizer_digest(a) != tokenizer_digest(b)
    assert p.cache_key(a) != p.cache_key(b)
    b.truncation_side = "left"
    assert p.cache_key(b) != p.cache_key(train_tokenizer(["마 바 사 아 자"] * 4, 100))


def test_cache_off_writes_nothing(tiny_config, data_cache_dir):
    prepared = pipeline(tiny_config, **{"data.cache": {"enabled": False}}).prepare()
    assert prepared.cache is None and not prepared.cached
    assert list(data_cache_dir.iterdir()) == []


def test_the_cache_folder_can_be_set_in_the_config(tiny_config, tmp_path, data_cache_dir):
    prepared = pipeline(tiny_config, **{"data.cache.dir": str(tmp_path / "here")}).prepare()
    assert prepared.cache.parent == tmp_path / "here"
    assert list(data_cache_dir.iterdir()) == []


def test_a_damaged_entry_is_prepared_again(tiny_config, caplog):
    first = pipeline(tiny_config).prepare()
    tokens = first.cache / "train.input_ids.tokens"
    tokens.write_bytes(tokens.read_bytes()[:-8])
    with caplog.at_level(logging.WARNING, logger="plmkit.datacache"):
        again = pipeline(tiny_config).prepare()
    assert not again.cached
    assert "unreadable" in caplog.text and str(first.cache) in caplog.text
    assert pipeline(tiny_config).prepare().cached  # and replaced by a good one


def test_an_entry_without_its_meta_file_is_incomplete(tiny_config):
    first = pipeline(tiny_config).prepare()
    (first.cache / "meta.json").unlink()
    again = pipeline(tiny_config).prepare()
    assert not again.cached and (again.cache / "meta.json").is_file()


def test_data_without_a_fingerprint_or_a_task_that_keeps_state_is_not_cached(
    tiny_config, data_cache_dir, monkeypatch
):
    frames = {"train": pd.DataFrame({"text": ["좋다 영화"] * 20, "label": [0, 1] * 10})}
    config = load_config(tiny_config)
    p = Pipeline(config, fetcher=DataFrameFetcher(frames))
    assert p.cache_key(None) is None
    monkeypatch.setattr(type(pipeline(tiny_config).task), "cacheable", False)
    assert pipeline(tiny_config).cache_key(None) is None
    assert pipeline(tiny_config).prepare().cache is None
    assert list(data_cache_dir.iterdir()) == []
