"""TokenClassification: entity chunking and metrics against hand-worked values, sub-token
alignment, validation messages, decoding, and one `plmkit run` / predict / evaluate."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pandas as pd
import pytest
import torch
from accelerate.state import AcceleratorState

from plmkit.batching import Collator, encode
from plmkit.config import load_config
from plmkit.errors import DataError
from plmkit.models import train_tokenizer
from plmkit.pipeline import Pipeline
from plmkit.stages.fetch import DataFrameFetcher
from plmkit.stages.fetch.conll import read_conll
from plmkit.tasks.token_classification import (
    EntityMetrics,
    TokenClassification,
    entities,
    spans,
)
from plmkit.validation import check

BIO_TAGS = ["O", "B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER"]


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    AcceleratorState._reset_state(reset_partial_state=True)
    yield


# --- synthetic sentences --------------------------------------------------------------------
NAMES = {
    "PER": [["Mina"], ["Jonas"], ["Sora", "Lim"], ["Pedro"], ["Aiko", "Tan"]],
    "LOC": [["Busan"], ["Lisbon"], ["Oslo"], ["New", "Harbor"]],
    "ORG": [["Acme", "Corp"], ["Bluefin", "Labs"], ["Orbit", "Bank"]],
}
TEMPLATES = [
    "PER moved to LOC last year .",
    "PER works for ORG .",
    "ORG opened an office in LOC .",
    "The weather in LOC was mild .",
    "PER met PER at the station .",
]


def sentences(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        tokens, tags = [], []
        for part in rng.choice(TEMPLATES).split():
            words = rng.choice(NAMES[part]) if part in NAMES else [part]
            tokens += words
            tags += [f"B-{part}"] + [f"I-{part}"] * (len(words) - 1) if part in NAMES else ["O"]
        out.append((tokens, tags))
    return out


def write_conll(path: Path, rows) -> Path:
    lines = ["-DOCSTART- O", ""]
    for tokens, tags in rows:
        lines += [f"{t} {g}" for t, g in zip(tokens, tags, strict=True)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def frame(rows, source="train.jsonl", offset=1) -> pd.DataFrame:
    df = pd.DataFrame({"tokens": [r[0] for r in rows], "tags": [r[1] for r in rows]})
    df.attrs = {"source": source, "line_offset": offset}
    return df


def fitted(df: pd.DataFrame, **options) -> TokenClassification:
    task = TokenClassification(options)
    df = task.prepare(df)
    task.fit(df)
    return task


# --- chunking -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tags,expected",
    [
        ([], []),
        (["O", "O"], []),
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
        (["O", "I-PER", "I-PER", "O"], [("PER", 1, 3)]),  # I- after O starts an entity
        (["I-PER"], [("PER", 0, 1)]),
        (["B-PER", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 2)]),  # a type change splits
        (["B-PER", "B-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
        (["I-PER", "B-PER", "I-PER"], [("PER", 0, 1), ("PER", 1, 3)]),
        (["B-LOC", "I-LOC", "I-PER", "I-PER"], [("LOC", 0, 2), ("PER", 2, 4)]),
        (["B-PER", "O", "I-PER"], [("PER", 0, 1), ("PER", 2, 3)]),
        (["O", "B-ORG"], [("ORG", 1, 2)]),  # an entity at the end
    ],
)
def test_bio_chunks_like_conlleval(tags, expected):
    assert entities(tags, "BIO") == expected


@pytest.mark.parametrize(
    "tags,expected",
    [
        (["B-PER", "I-PER", "E-PER"], [("PER", 0, 3)]),
        (["S-LOC", "B-PER", "E-PER"], [("LOC", 0, 1), ("PER", 1, 3)]),
        (["S-PER", "S-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
        (["B-PER", "I-PER", "O"], []),  # never closed
        (["B-PER", "I-PER"], []),  # never closed, at the end
        (["I-PER", "E-PER"], []),  # never opened
        (["E-PER"], []),
        (["B-PER", "E-LOC"], []),  # type mismatch
        (["B-PER", "B-PER", "E-PER"], [("PER", 1, 3)]),
        (["B-PER", "S-PER", "E-PER"], [("PER", 1, 2)]),
        (["B-ORG", "I-ORG", "I-LOC", "E-LOC"], []),
    ],
)
def test_bioes_chunks_strictly(tags, expected):
    assert entities(tags, "BIOES") == expected


def test_spans_over_tokens():
    tokens = ["Sora", "Lim", "visited", "New", "Harbor"]
    tags = ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]
    assert spans(tokens, tags, "BIO") == [
        {"type": "PER", "start": 0, "end": 2, "text": "Sora Lim"},
        {"type": "LOC", "start": 3, "end": 5, "text": "New Harbor"},
    ]
    chars = list("김민아는 부산")
    tags = ["B-PER", "I-PER", "I-PER", "O", "O", "B-LOC", "I-LOC"]
    assert [s["text"] for s in spans(chars, tags, "BIO", join="")] == ["김민아", "부산"]


# --- metrics --------------------------------------------------------------------------------
GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "I-LOC", "I-LOC"]]
PRED = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-LOC", "I-LOC"]]


def check_hand_worked(scores: dict) -> None:
    # gold: PER(0,2) LOC(3,4) | LOC(1,3); predicted: PER(0,2) ORG(3,4) | LOC(1,3)
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)
    assert scores["token_accuracy"] == pytest.approx(5 / 7)
    assert scores["per_type"] == {
        "LOC": {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2},
        "ORG": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
        "PER": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
    }


def test_metrics_by_hand():
    metrics = EntityMetrics(BIO_TAGS)
    for gold, pred in zip(GOLD, PRED, strict=True):
        metrics.add(gold, pred)
    check_hand_worked(metrics.compute())


def one_hot(ids: list[list[int]]) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(ids), len(BIO_TAGS)).float()


def test_metrics_from_batches_skip_ignored_positions():
    index = {t: i for i, t in enumerate(BIO_TAGS)}
    metrics = EntityMetrics(BIO_TAGS)
    for gold, pred in zip(GOLD, PRED, strict=True):  # one batch per sentence, with -100 gaps
        labels = [-100] + [x for t in gold for x in (index[t], -100)] + [-100, -100]
        preds = [1] + [x for t in pred for x in (index[t], 2)] + [3, 0]  # noise at the gaps
        metrics.update(one_hot([preds]), torch.tensor([labels]))
    check_hand_worked(metrics.compute())


def test_metrics_empty_and_direction():
    scores = EntityMetrics(BIO_TAGS).compute()
    assert scores == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "token_accuracy": 0.0,
        "per_type": {},
    }
    assert TokenClassification.default_metric() == "f1"
    assert TokenClassification.greater_is_better("token_accuracy")
    assert not TokenClassification.greater_is_better("loss")


# --- fit and validation ---------------------------------------------------------------------
def test_fit_tag_set_o_first_and_completed():
    task = fitted(frame([(["Mina", "runs"], ["B-PER", "O"]), (["Oslo"], ["I-LOC"])]))
    assert task.labels == ["O", "B-LOC", "B-PER", "I-LOC", "I-PER"]
    bioes = fitted(frame([(["Oslo"], ["S-LOC"])]), scheme="BIOES")
    assert bioes.labels == ["O", "B-LOC", "E-LOC", "I-LOC", "S-LOC"]
    assert TokenClassification.from_state(bioes.state()).labels == bioes.labels
    assert TokenClassification.from_state(bioes.state()).scheme == "BIOES"


def test_fit_errors_and_configured_labels():
    with pytest.raises(DataError, match="no entity tags"):
        fitted(frame([(["a"], ["O"])]))
    no_tags = pd.DataFrame({"tokens": [["a"]]})
    with pytest.raises(DataError, match="no tags column"):
        TokenClassification().fit(no_tags)
    with pytest.raises(DataError, match="'E-PER'.*not valid in scheme BIO"):
        TokenClassification(labels=["O", "B-PER", "E-PER"]).fit(no_tags)
    task = TokenClassification(labels=["O", "I-PER", "B-PER"])
    task.fit(no_tags)
    assert task.labels == ["O", "I-PER", "B-PER"]  # the configured order is the id order


def test_jsonl_mismatch_names_file_line_and_column(tmp_path):
    from plmkit.stages.fetch.read import TableOptions, read_table

    rows = [
        {"words": ["Mina", "runs"], "ner": ["B-PER", "O"]},
        {"words": ["a", "b", "c"], "ner": ["O", "O", "O", "O"]},
        {"words": [], "ner": []},
        {"words": ["Oslo"], "ner": ["B-XYZ"]},
        {"words": ["Oslo"], "ner": ["E-LOC"]},
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    options = TableOptions(columns={"tokens": "words", "tags": "ner"})
    raw = read_table(path, options, TokenClassification.columns)
    task = TokenClassification(labels=["O", "B-PER", "I-PER"])
    df = task.prepare(raw)
    task.fit(df)
    with pytest.raises(DataError) as info:
        check(df, task.raw_schema(True), split="train", stage="fetched")
    lines = [line.strip() for line in str(info.value).splitlines()]
    assert lines[0].startswith("4 invalid row(s) in split 'train'")
    assert [line.split(" (value")[0] for line in lines[1:]] == [
        f"{path} line 2: column 'tags': 3 tokens but 4 tags",
        f"{path} line 3: column 'tokens': no tokens",
        f"{path} line 4: column 'tags': unknown tag 'B-XYZ' (tag set: O, B-PER, I-PER)",
        f"{path} line 5: column 'tags': tag 'E-LOC' is not valid in scheme BIO (O or B-/I-TYPE)",
    ]


def test_bad_values_are_reported_per_row():
    df = frame(
        [
            (["ok"], ["O"]),
            ("not a list", ["O"]),  # a plain string is split into tokens
            ([1, "b"], ["O", "O"]),
            (["a"], None),
            (None, ["O"]),
        ],
        source="memory",
        offset=None,
    )
    task = TokenClassification(labels=["O", "B-PER", "I-PER"])
    df = task.prepare(df)
    kept, rejected = check(
        df, task.raw_schema(True), split="train", stage="fetched", on_invalid="drop"
    )
    assert kept.index.tolist() == [0]
    assert rejected[["where", "column", "reason"]].to_dict("records") == [
        {"where": "memory row 1", "column": "tags", "reason": "3 tokens but 1 tags"},
        {"where": "memory row 2", "column": "tokens", "reason": "token 0 is not a string (int)"},
        {"where": "memory row 3", "column": "tags", "reason": "missing value"},
        {"where": "memory row 4", "column": "tokens", "reason": "missing value"},
    ]


def test_bioes_scheme_accepts_s_and_e(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("Sora B-PER\nLim E-PER\nin O\nOslo S-LOC\n", encoding="utf-8")
    df = read_conll(path)
    task = fitted(df, scheme="BIOES")
    kept, rejected = check(task.prepare(df), task.raw_schema(True), split="t", stage="fetched")
    assert len(kept) == 1 and len(rejected) == 0


def test_conll_rows_dropped_to_rejected_with_their_line(tmp_path):
    train = read_conll(write_conll(tmp_path / "train.txt", sentences(5, seed=1)))
    path = write_conll(
        tmp_path / "test.txt",
        [(["Mina", "runs"], ["B-PER", "O"]), (["Oslo"], ["B-MISC"]), (["x"], ["E-LOC"])],
    )
    task = fitted(train)
    test = task.prepare(read_conll(path))
    kept, rejected = check(
        test, task.raw_schema(True), split="test", stage="fetched", on_invalid="drop"
    )
    assert kept["id"].tolist() == [0]
    assert rejected["where"].tolist() == [f"{path} line 6", f"{path} line 8"]
    assert rejected["column"].tolist() == ["tags", "tags"]
    assert rejected["reason"][0].startswith("unknown tag 'B-MISC'")
    assert "not valid in scheme BIO" in rejected["reason"][1]
    assert rejected["text"].tolist() == ["Oslo", "x"]


def test_dataframe_and_jsonl_sources_load(tmp_path, write_config):
    rows = sentences(20, seed=3)
    frames = {"train": pd.DataFrame({"words": [r[0] for r in rows], "ner": [r[1] for r in rows]})}
    config = load_config(run_config(tmp_path, {"source": "files", "train": "unused.jsonl"}))
    task = TokenClassification()
    fetcher = DataFrameFetcher(
        frames, column_map={"tokens": "words", "tags": "ner"}, columns=task.columns
    )
    splits, rejected = Pipeline(config, task=task, fetcher=fetcher).load_data()
    assert len(splits["train"]) + len(splits["validation"]) == 20 and len(rejected) == 0
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps({"words": t, "ner": g}) for t, g in rows), encoding="utf-8"
    )
    data = {"source": "files", "train": str(jsonl), "columns": {"tokens": "words", "tags": "ner"}}
    splits, _ = Pipeline(load_config(run_config(tmp_path, data))).load_data()
    assert sorted(splits["train"]["id"].tolist() + splits["validation"]["id"].tolist()) == list(
        range(20)
    )


# --- alignment and decoding -----------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer():
    """Few merges: long words split into several sub-tokens."""
    texts = [" ".join(t) for t, _ in sentences(50, seed=5)]
    return train_tokenizer(texts, vocab_size=60)


def encoded_rows(task, tokenizer, rows, max_length=64):
    df = task.encode_targets(task.prepare(frame(rows)).assign(id=range(len(rows))))
    return task.tokenize(df, tokenizer, max_length)


def test_labels_on_first_subtokens_only(tokenizer):
    rows = sentences(8, seed=6)
    task = fitted(frame(rows))
    out = encoded_rows(task, tokenizer, rows)
    split_words = 0
    for r, (_, tags) in enumerate(rows):
        word_ids = out["word_ids"][r]
        labels = out["labels"][r]
        assert len(word_ids) == len(labels) == len(out["input_ids"][r])
        assert word_ids[0] == word_ids[-1] == 0 and labels[0] == labels[-1] == -100
        for k, tag in enumerate(tags):
            positions = [p for p, w in enumerate(word_ids) if w == k + 1]
            assert labels[positions[0]] == task.labels.index(tag)
            assert all(labels[p] == -100 for p in positions[1:])
            split_words += len(positions) > 1
    assert split_words > 5  # the test means something: words did split


def test_label_all_subwords_uses_inside_tags(tokenizer):
    rows = [(["Bluefin", "Labs"], ["B-ORG", "I-ORG"])]
    task = fitted(frame(sentences(5, seed=1) + rows), label_all_subwords=True)
    out = encoded_rows(task, tokenizer, rows)
    names = [task.labels[i] if i >= 0 else None for i in out["labels"][0]]
    word_ids = out["word_ids"][0]
    assert names[0] is None and names[-1] is None
    first = [p for p, w in enumerate(word_ids) if w == 1]
    assert len(first) > 1 and names[first[0]] == "B-ORG"
    assert set(names[first[1] : -1]) == {"I-ORG"}


def test_label_all_subwords_scores_first_subtokens_only(tokenizer):
    rows = sentences(6, seed=8)
    task = fitted(frame(rows), label_all_subwords=True)
    df = task.encode_targets(task.prepare(frame(rows)).assign(id=range(len(rows))))
    data = encode(df, task, tokenizer, 64, "test")
    batch = Collator(data, pad_id=0)(list(range(len(rows))))
    labels = task.model_inputs(batch)["labels"]
    first = batch["word_ids"].ne(0) & batch["word_ids"].ne(batch["word_ids"].roll(1, dims=1))
    assert (labels[~first] != -100).any()  # continuations are labelled too
    wrong_after_first = torch.where(first | labels.eq(-100), labels.clamp(min=0), 1)
    metrics = task.new_metrics()
    metrics.update(one_hot(wrong_after_first.tolist()), labels)
    assert metrics.total == sum(len(tokens) for tokens, _ in rows)
    assert metrics.compute()["token_accuracy"] == 1.0


def test_decode_spans_and_truncated_words(tokenizer):
    rows = [
        (["Sora", "Lim", "moved", "to", "New", "Harbor", "."], ["O"] * 7),
        (["Acme", "Corp", "."], ["O"] * 3),
    ]
    task = TokenClassification(labels=BIO_TAGS)
    df = task.prepare(frame(rows)).assign(id=[0, 1])
    data = encode(df.drop(columns=["tags"]), task, tokenizer, 8, "test")  # row 0 is cut
    assert not data.has_targets
    batch = Collator(data, pad_id=0)([0, 1])
    batch.pop("row")
    inputs = task.model_inputs(batch)
    assert set(inputs) == {"input_ids", "attention_mask"}
    wanted = [["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"], ["B-ORG", "I-ORG", "O"]]
    ids = torch.full(batch["input_ids"].shape, BIO_TAGS.index("B-LOC"))  # continuations: noise
    for r, tags in enumerate(wanted):
        seen = set()
        for p, w in enumerate(batch["word_ids"][r].tolist()):
            if w and w not in seen:
                ids[r, p] = BIO_TAGS.index(tags[w - 1])
                seen.add(w)
    decoded = task.decode(one_hot(ids.tolist()))
    kept = max(batch["word_ids"][0].tolist())
    assert 0 < kept < 7  # max_length 8 cut the first sentence
    assert decoded["pred"][0] == wanted[0][:kept] + ["O"] * (7 - kept)
    assert decoded["pred"][1] == wanted[1]
    assert decoded["tokens"][0] == rows[0][0]
    assert decoded["entities"][1] == [{"type": "ORG", "start": 0, "end": 2, "text": "Acme Corp"}]
    readable = task.readable({k: pd.Series(v).to_numpy() for k, v in decoded.items()})
    assert json.loads(readable["entities"][1]) == decoded["entities"][1]


def test_plain_text_input_is_split_by_join():
    words = TokenClassification(labels=BIO_TAGS).prepare(pd.DataFrame({"text": ["Mina  runs"]}))
    assert words["tokens"].tolist() == [["Mina", "runs"]]
    chars = TokenClassification({"join": ""}, labels=BIO_TAGS)
    assert chars.prepare(pd.DataFrame({"tokens": ["김 민"]}))["tokens"][0] == ["김", " ", "민"]
    as_json = TokenClassification(labels=BIO_TAGS).prepare(
        pd.DataFrame({"tokens": ['["New York", "."]'], "tags": ['["B-LOC", "O"]']})
    )
    assert as_json["tokens"][0] == ["New York", "."] and as_json["tags"][0] == ["B-LOC", "O"]
    assert TokenClassification(labels=BIO_TAGS).tokenizer_texts(as_json) == ["New York ."]


# --- end to end -----------------------------------------------------------------------------
def run_config(root: Path, data: dict) -> dict:
    return {
        "task": "token_classification",
        "seed": 7,
        "data": data,
        "preprocess": {"steps": [], "validation_size": 0.1},
        "model": {
            "from_scratch": {
                "architecture": "bert",
                "vocab_size": 200,
                "hidden_size": 32,
                "num_layers": 1,
                "num_heads": 2,
            },
            "max_length": 32,
        },
        "training": {"epochs": 6, "batch_size": 8, "learning_rate": 3e-3, "device": "cpu"},
        "output": {"dir": str(root / "runs"), "name": "ner"},
    }


def test_run_predict_evaluate(tmp_path, cli, write_config):
    train = write_conll(tmp_path / "train.txt", sentences(120, seed=1))
    test_rows = sentences(30, seed=2) + [(["Oslo", "rocks"], ["B-MISC", "O"])]
    test = write_conll(tmp_path / "test.txt", test_rows)
    data = {"source": "conll", "train": str(train), "test": str(test), "on_invalid": "drop"}
    rc, out, err = cli("run", write_config(run_config(tmp_path, data)))
    assert rc == 0, err
    run = tmp_path / "runs" / "ner"

    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["test"]
    assert metrics["f1"] >= 0.8  # the synthetic entities are learnable
    assert set(metrics) == {"precision", "recall", "f1", "token_accuracy", "per_type", "loss"}
    assert set(metrics["per_type"]) == {"PER", "LOC", "ORG"}
    rejected = pd.read_csv(run / "rejected.csv")
    bad_line = 3 + sum(len(tokens) + 1 for tokens, _ in test_rows[:-1])
    assert rejected["where"].tolist() == [f"{test} line {bad_line}"]
    assert rejected["reason"][0].startswith("unknown tag 'B-MISC'")

    preds = pd.read_csv(run / "predictions" / "test.csv")
    assert list(preds.columns) == ["id", "tokens", "pred", "entities"]
    assert len(preds) == 30
    first = json.loads(preds["entities"][0])
    tokens, tags = test_rows[0]
    assert first == spans(tokens, tags, "BIO")  # f1 >= 0.8: most rows are right; check one
    state = json.loads((run / "model" / "plmkit.json").read_text(encoding="utf-8"))
    assert state["task"] == "token_classification"
    assert state["state"]["labels"][0] == "O"

    rc, out, err = cli("predict", run, "--text", "Mina works for Orbit Bank .")
    assert rc == 0, err
    spans_out = json.loads(pd.read_csv(io.StringIO(out))["entities"][0])
    assert {"type": "ORG", "start": 3, "end": 5, "text": "Orbit Bank"} in spans_out

    jsonl = tmp_path / "new.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps({"tokens": t, "tags": g}) for t, g in test_rows[:30]),
        encoding="utf-8",
    )
    rc, out, err = cli("evaluate", run, "--data", jsonl)
    assert rc == 0, err
    scores = json.loads((run / "evaluations" / "new.jsonl" / "metrics.json").read_text())
    assert scores["f1"] == pytest.approx(metrics["f1"])
    rc, out, err = cli("predict", run, "--input", jsonl, "--output", tmp_path / "p.csv")
    assert rc == 0, err
    assert pd.read_csv(tmp_path / "p.csv")["entities"].tolist() == preds["entities"].tolist()
