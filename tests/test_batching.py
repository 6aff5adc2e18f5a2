"""Tokenised rows, per-batch padding, and the training / evaluation batch orders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from plmkit.batching import (
    Collator,
    Encoded,
    LengthGroupedSampler,
    ShuffledBatchSampler,
    encode,
    eval_loader,
    train_loader,
)
from plmkit.models import train_tokenizer
from plmkit.tasks import TextClassification

PAD = 0


def encoded(lengths, targets=True, ids=None) -> Encoded:
    """Rows whose token ids are 1..len (never the pad id), so padding is easy to see."""
    inputs = {"input_ids": [list(range(1, n + 1)) for n in lengths]}
    ids = ids if ids is not None else [f"r{i}" for i in range(len(lengths))]
    labels = np.arange(len(lengths), dtype=np.int64) % 3 if targets else None
    return Encoded(inputs, ids, labels)


def padding(batches, lengths) -> int:
    """Pad tokens the batches need: per batch, (longest - length) summed over its rows."""
    lengths = np.asarray(lengths)
    return int(sum((lengths[b].max() - lengths[b]).sum() for b in batches))


# --- encode ----------------------------------------------------------------------------------
def test_encode_tokenises_through_the_task(monkeypatch):
    import plmkit.batching as batching

    monkeypatch.setattr(batching, "TOKENIZE_CHUNK", 2)  # several chunks, still one result
    texts = ["가 나", "가 나 다 라", "다", "라 마 바"]
    df = pd.DataFrame({"id": [5, 6, 7, 8], "text": texts, "label": [0, 1, 0, 1]})
    tokenizer = train_tokenizer(texts * 2, 100)
    data = encode(df, TextClassification(labels=["a", "b"]), tokenizer, 5, "train")
    assert len(data) == 4
    assert data.ids.tolist() == [5, 6, 7, 8]
    assert data.lengths.tolist() == [4, 5, 3, 5]  # [CLS] + words + [SEP], cut at 5
    assert data.targets.tolist() == [0, 1, 0, 1]
    assert data[2] == 2  # items are indices: the collator gathers the rows


def test_encode_without_ids_or_labels():
    df = pd.DataFrame({"text": ["a b", "c"]})
    tokenizer = train_tokenizer(["a b c"], 100)
    data = encode(df, TextClassification(labels=["x", "y"]), tokenizer, 8, "test")
    assert data.ids.tolist() == [0, 1] and data.targets is None


def test_encode_an_empty_split():
    df = pd.DataFrame({"id": [], "text": []})
    tokenizer = train_tokenizer(["a b c"], 100)
    data = encode(df, TextClassification(labels=["x", "y"]), tokenizer, 8, "test")
    assert len(data) == 0 and data.lengths.tolist() == []


# --- the collator ----------------------------------------------------------------------------
def test_collator_pads_to_the_longest_row_of_the_batch_only():
    data = encoded([3, 7, 2, 5, 30])
    batch = Collator(data, pad_id=PAD)([0, 2, 3])
    assert batch["input_ids"].shape == (3, 5)  # longest of 3, 2, 5: not 30, not max_length
    assert batch["input_ids"].dtype == torch.long
    assert batch["input_ids"][0].tolist() == [1, 2, 3, PAD, PAD]
    assert batch["input_ids"][1].tolist() == [1, 2, PAD, PAD, PAD]
    assert batch["input_ids"][2].tolist() == [1, 2, 3, 4, 5]
    assert batch["attention_mask"].tolist() == [
        [1, 1, 1, 0, 0],
        [1, 1, 0, 0, 0],
        [1, 1, 1, 1, 1],
    ]
    assert batch["attention_mask"].sum(1).tolist() == [3, 2, 5]
    assert batch["labels"].tolist() == [0, 2, 0]
    assert batch["row"].tolist() == [0, 2, 3]


def test_collator_uses_the_given_pad_id():
    batch = Collator(encoded([1, 3]), pad_id=99)([0, 1])
    assert batch["input_ids"][0].tolist() == [1, 99, 99]
    assert batch["attention_mask"][0].tolist() == [1, 0, 0]


def test_collator_without_targets_has_no_labels():
    batch = Collator(encoded([2, 4], targets=False), pad_id=PAD)([1, 0])
    assert "labels" not in batch
    assert batch["row"].tolist() == [1, 0]
    assert batch["input_ids"][0].tolist() == [1, 2, 3, 4]


def test_collator_pads_other_inputs_with_zero():
    data = Encoded(
        {"input_ids": [[7, 7], [7, 7, 7]], "token_type_ids": [[1, 1], [1, 1, 1]]}, [0, 1], None
    )
    batch = Collator(data, pad_id=5)([0, 1])
    assert batch["input_ids"][0].tolist() == [7, 7, 5]
    assert batch["token_type_ids"][0].tolist() == [1, 1, 0]


# --- the length-grouped sampler --------------------------------------------------------------
def varied_lengths(n=1000, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 120, size=n)


def test_length_grouped_batches_cover_every_row_exactly_once():
    lengths = varied_lengths(1003)
    sampler = LengthGroupedSampler(lengths, batch_size=16, seed=1)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) == 63  # ceil(1003 / 16)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(1003))
        assert all(1 <= len(b) <= 16 for b in batches)


def test_length_grouped_batches_need_less_padding_than_random_batches():
    lengths = varied_lengths()
    grouped = list(LengthGroupedSampler(lengths, batch_size=16, seed=1))
    shuffled = list(ShuffledBatchSampler(len(lengths), batch_size=16, seed=1))
    assert padding(grouped, lengths) < 0.2 * padding(shuffled, lengths)


def test_length_grouped_batches_are_still_shuffled():
    lengths = varied_lengths()
    batches = list(LengthGroupedSampler(lengths, batch_size=16, seed=1))
    longest = [int(lengths[b].max()) for b in batches]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)


def test_length_grouped_order_changes_with_the_epoch_and_repeats_with_the_seed():
    lengths = varied_lengths()

    def order(seed, epoch):
        sampler = LengthGroupedSampler(lengths, batch_size=16, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order(1, 0) == order(1, 0)
    assert order(1, 1) == order(1, 1)
    assert order(1, 0) != order(1, 1)
    assert order(1, 0) != order(2, 0)


def test_shuffled_batch_sampler_covers_every_row_and_follows_the_epoch():
    sampler = ShuffledBatchSampler(50, batch_size=8, seed=0)
    first = list(sampler)
    assert len(first) == len(sampler) == 7
    assert sorted(i for b in first for i in b) == list(range(50))
    sampler.set_epoch(1)
    assert list(sampler) != first


# --- loaders ---------------------------------------------------------------------------------
@pytest.mark.parametrize("group", [True, False])
def test_train_loader_gives_padded_batches_over_all_rows(group):
    lengths = varied_lengths(100)
    data = encoded(lengths)
    loader = train_loader(data, 8, PAD, seed=0, group_by_length=group)
    expected = LengthGroupedSampler if group else ShuffledBatchSampler
    assert isinstance(loader.batch_sampler, expected)
    rows = []
    for batch in loader:
        widths = batch["attention_mask"].sum(1)
        assert batch["input_ids"].shape[1] == int(widths.max())
        assert widths.tolist() == lengths[batch["row"].numpy()].tolist()
        rows += batch["row"].tolist()
    assert sorted(rows) == list(range(100))


def test_eval_loader_orders_rows_by_length_descending():
    lengths = [5, 12, 3, 12, 8, 1, 9]
    loader = eval_loader(encoded(lengths), batch_size=3, pad_id=PAD)
    rows, widths = [], []
    for batch in loader:
        rows += batch["row"].tolist()
        widths.append(batch["input_ids"].shape[1])
    assert sorted(rows) == list(range(len(lengths)))
    assert [lengths[r] for r in rows] == sorted(lengths, reverse=True)
    assert rows[:2] == [1, 3]  # ties keep the input order
    assert widths == [12, 8, 1]  # each batch padded to its own longest row
    assert list(eval_loader(encoded(lengths), 3, PAD).batch_sampler) == [
        [1, 3, 6],
        [4, 0, 2],
        [5],
    ]


def test_workers_and_intra_op_threads_share_the_cores(monkeypatch):
    import os

    from plmkit import batching

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(8)), raising=False)
    monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    before = torch.get_num_threads()
    try:
        batching.share_cores(0)
        assert torch.get_num_threads() == before and "TOKENIZERS_PARALLELISM" not in os.environ
        batching.share_cores(3)
        assert torch.get_num_threads() == 5
        assert os.environ["TOKENIZERS_PARALLELISM"] == "false"
        batching.share_cores(20)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_loader_with_workers_gives_the_same_batches():
    data = encoded([3, 7, 2, 5, 30, 4, 4, 9])
    plain = [b["row"].tolist() for b in train_loader(data, 3, PAD, seed=1, group_by_length=True)]
    before = torch.get_num_threads()
    try:
        with_workers = train_loader(data, 3, PAD, seed=1, group_by_length=True, num_workers=1)
        assert [b["row"].tolist() for b in with_workers] == plain
    finally:
        torch.set_num_threads(before)
