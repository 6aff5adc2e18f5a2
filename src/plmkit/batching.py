"""Tokenised rows, dynamic padding per batch, and length-grouped batching.

Rows are tokenised once, unpadded. Each batch is padded only to its own longest row, and the
training sampler puts rows of similar length together, so little compute goes to padding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

TOKENIZE_CHUNK = 4096


class Encoded(Dataset):
    """Model inputs per row (unpadded lists), optional targets, and the rows' ids.

    ``targets`` holds one fixed-size target per row (a class id, a score, a multi-hot row);
    targets that follow the tokens (e.g. NER tags) are an input named ``labels`` instead, padded
    with -100 like the loss expects.
    """

    def __init__(self, inputs: dict[str, Sequence], ids: Sequence, targets: np.ndarray | None):
        self.inputs = inputs
        self.ids = list(ids)
        self.targets = targets
        self.lengths = np.fromiter(
            (len(x) for x in inputs["input_ids"]), dtype=np.int64, count=len(self.ids)
        )

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_targets(self) -> bool:
        return self.targets is not None or "labels" in self.inputs

    def __getitem__(self, i: int) -> int:
        return i  # the collator gathers rows by index: one Python call per batch, not per row


def encode(df: pd.DataFrame, task: Any, tokenizer: Any, max_length: int, desc: str) -> Encoded:
    """Tokenise a split in chunks (with a progress bar) through the task adapter."""
    parts: dict[str, list] = {}
    with tqdm(
        total=len(df), desc=f"tokenize {desc}", unit="rows", disable=None, leave=False
    ) as bar:
        for start in range(0, len(df), TOKENIZE_CHUNK):
            chunk = df.iloc[start : start + TOKENIZE_CHUNK]
            for key, values in task.tokenize(chunk, tokenizer, max_length).items():
                parts.setdefault(key, []).extend(values)
            bar.update(len(chunk))
    if not parts:
        parts = {"input_ids": []}
    ids = df["id"].tolist() if "id" in df.columns else list(range(len(df)))
    return Encoded(parts, ids, task.targets(df))


class Collator:
    """Pads a batch to its longest row and builds the attention mask."""

    def __init__(self, data: Encoded, pad_id: int):
        self.data = data
        self.pad_values = {"input_ids": pad_id, "labels": -100}  # -100: ignored by the loss

    def __call__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        data = self.data
        width = int(data.lengths[indices].max()) if indices else 0
        batch: dict[str, torch.Tensor] = {}
        for key, column in data.inputs.items():
            pad = self.pad_values.get(key, 0)
            out = torch.full((len(indices), width), pad, dtype=torch.long)
            for r, i in enumerate(indices):
                row = column[i]
                out[r, : len(row)] = torch.as_tensor(row)
            batch[key] = out
        lengths = torch.as_tensor(data.lengths[indices])
        batch["attention_mask"] = (torch.arange(width)[None, :] < lengths[:, None]).long()
        if data.targets is not None:
            batch["labels"] = torch.as_tensor(data.targets[indices])
        batch["row"] = torch.as_tensor(indices, dtype=torch.long)
        return batch


class LengthGroupedSampler(Sampler[list[int]]):
    """Shuffled batches of similar-length rows.

    Rows are shuffled, cut into mega-batches of ``mega`` batches, each mega-batch is sorted by
    length and cut into batches, and the batches are shuffled again: random, but little padding.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int, mega: int = 50):
        self.lengths = lengths
        self.batch_size = batch_size
        self.seed = seed
        self.mega = mega
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng((self.seed, self.epoch))
        order = rng.permutation(len(self.lengths))
        size = self.batch_size * self.mega
        batches = []
        for start in range(0, len(order), size):
            mega = order[start : start + size]
            mega = mega[np.argsort(-self.lengths[mega], kind="stable")]
            batches += [
                mega[i : i + self.batch_size].tolist() for i in range(0, len(mega), self.batch_size)
            ]
        for b in rng.permutation(len(batches)):
            yield batches[b]


class ShuffledBatchSampler(Sampler[list[int]]):
    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = np.random.default_rng((self.seed, self.epoch)).permutation(self.n)
        for i in range(0, self.n, self.batch_size):
            yield order[i : i + self.batch_size].tolist()


def train_loader(
    data: Encoded,
    batch_size: int,
    pad_id: int,
    *,
    seed: int,
    group_by_length: bool,
    num_workers: int = 0,
) -> DataLoader:
    sampler_cls = LengthGroupedSampler if group_by_length else None
    sampler = (
        sampler_cls(data.lengths, batch_size, seed)
        if sampler_cls
        else ShuffledBatchSampler(len(data), batch_size, seed)
    )
    return DataLoader(
        data,
        batch_sampler=sampler,
        collate_fn=Collator(data, pad_id),
        num_workers=num_workers,
        generator=_own_generator(seed),
    )


def eval_loader(data: Encoded, batch_size: int, pad_id: int, num_workers: int = 0) -> DataLoader:
    """Longest rows first, in fixed batches: the least padding, and an early out-of-memory."""
    return DataLoader(
        data,
        batch_sampler=LongestFirstBatches(data.lengths, batch_size),
        collate_fn=Collator(data, pad_id),
        num_workers=num_workers,
        generator=_own_generator(0),
    )


class LongestFirstBatches(Sampler[list[int]]):
    """Fixed batches, longest rows first. A Sampler with ``batch_size`` so that Accelerate can
    shard it across processes (a plain list of batches would be replayed by every process)."""

    def __init__(self, lengths: np.ndarray, batch_size: int):
        self.batch_size = batch_size
        self.drop_last = False
        order = np.argsort(-lengths, kind="stable")
        self.batches = [
            order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)
        ]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)


def _own_generator(seed: int) -> torch.Generator:
    """Each DataLoader iterator draws a seed for its workers. From its own generator, that
    draw leaves the global RNG (dropout) alone, so a resumed run sees the same random
    numbers as one that never stopped."""
    return torch.Generator().manual_seed(seed)
