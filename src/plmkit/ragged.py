"""Rows of integers of varying length, stored flat: one int32 array plus row offsets.

Python lists of token ids cost about 36 bytes a token; this costs 4, pads a batch with a few
numpy operations, and can live in a memory-mapped ``.npy`` file, so a large dataset's tokens
stay on disk and only the rows of the current batch are paged in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

DTYPE = np.int32


class Ragged:
    def __init__(self, flat: np.ndarray, offsets: np.ndarray):
        if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(flat):
            raise ValueError("offsets must start at 0 and end at len(flat)")
        self.flat = flat
        self.offsets = offsets

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[int]]) -> Ragged:
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.fromiter((v for r in rows for v in r), dtype=DTYPE, count=int(offsets[-1]))
        return cls(flat, offsets)

    @classmethod
    def concat(cls, parts: Iterable[Ragged]) -> Ragged:
        parts = list(parts)
        if not parts:
            return cls(np.zeros(0, DTYPE), np.zeros(1, np.int64))
        flat = np.concatenate([p.flat for p in parts])
        offsets, end = [np.zeros(1, np.int64)], 0
        for p in parts:
            offsets.append(p.offsets[1:] + end)
            end += int(p.offsets[-1])
        return cls(flat, np.concatenate(offsets))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int | slice) -> np.ndarray | Ragged:
        """Row ``i``, or a contiguous range of rows as a Ragged (a view, no copy)."""
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step != 1:
                raise ValueError("Ragged slices take every row (step 1)")
            stop = max(start, stop)
            offsets = self.offsets[start : stop + 1]
            return Ragged(self.flat[offsets[0] : offsets[-1]], offsets - offsets[0])
        return self.flat[self.offsets[i] : self.offsets[i + 1]]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def padded(self, rows: np.ndarray, pad: int, width: int | None = None) -> np.ndarray:
        """The given rows as one ``[len(rows), width]`` int64 array, right-padded with ``pad``."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = self.offsets[rows]
        lengths = self.offsets[rows + 1] - starts
        if width is None:
            width = int(lengths.max()) if len(rows) else 0
        out = np.full((len(rows), width), pad, dtype=np.int64)
        total = int(lengths.sum())
        if total:
            which = np.repeat(np.arange(len(rows)), lengths)
            first = np.repeat(np.cumsum(lengths) - lengths, lengths)
            column = np.arange(total) - first
            out[which, column] = self.flat[np.repeat(starts, lengths) + column]
        return out

    # --- on disk: <name>.tokens (raw int32) and <name>.offsets.npy ----------------------
    def save(self, folder: Path, name: str) -> None:
        np.ascontiguousarray(self.flat, dtype=DTYPE).tofile(folder / f"{name}.tokens")
        np.save(folder / f"{name}.offsets.npy", self.offsets, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, name: str) -> Ragged:
        """Offsets in memory, tokens memory-mapped (read-only)."""
        offsets = np.load(folder / f"{name}.offsets.npy", allow_pickle=False)
        path, size = folder / f"{name}.tokens", int(offsets[-1])
        if path.stat().st_size != size * np.dtype(DTYPE).itemsize:
            raise ValueError(f"{path}: {path.stat().st_size} bytes, expected {size} tokens")
        flat = np.memmap(path, dtype=DTYPE, mode="r", shape=(size,)) if size else np.zeros(0, DTYPE)
        return cls(flat, offsets)


class RaggedWriter:
    """Appends chunks of rows to ``<folder>/<name>.tokens`` as they come: the tokens go
    straight to disk, only the offsets (8 bytes a row) stay in memory."""

    def __init__(self, folder: Path, name: str):
        self.folder, self.name = folder, name
        self.file = open(folder / f"{name}.tokens", "wb")  # noqa: SIM115 - closed in finish()
        self.offsets = [np.zeros(1, np.int64)]
        self.end = 0

    def append(self, part: Ragged) -> None:
        np.ascontiguousarray(part.flat, dtype=DTYPE).tofile(self.file)
        self.offsets.append(part.offsets[1:] + self.end)
        self.end += int(part.offsets[-1])

    def finish(self) -> Ragged:
        self.file.close()
        offsets = np.concatenate(self.offsets)
        np.save(self.folder / f"{self.name}.offsets.npy", offsets, allow_pickle=False)
        return Ragged.load(self.folder, self.name)
