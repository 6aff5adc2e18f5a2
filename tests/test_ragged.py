"""Flat token rows: padding a batch, concatenation, and the on-disk form."""

from __future__ import annotations

import numpy as np
import pytest

from plmkit.ragged import Ragged, RaggedWriter

ROWS = [[5, 6, 7], [], [1], [9, 8, 7, 6, 5]]


def test_rows_round_trip():
    r = Ragged.from_rows(ROWS)
    assert len(r) == 4
    assert [row.tolist() for row in r] == ROWS
    assert r.lengths.tolist() == [3, 0, 1, 5]
    assert r.flat.dtype == np.int32


def test_padded_gathers_rows_in_the_order_asked():
    r = Ragged.from_rows(ROWS)
    out = r.padded(np.array([3, 1, 0]), pad=-1)
    assert out.dtype == np.int64
    assert out.tolist() == [[9, 8, 7, 6, 5], [-1] * 5, [5, 6, 7, -1, -1]]
    assert r.padded(np.array([2]), pad=0, width=3).tolist() == [[1, 0, 0]]
    assert r.padded(np.array([], dtype=np.int64), pad=0).shape == (0, 0)


def test_concat_keeps_row_boundaries():
    r = Ragged.concat([Ragged.from_rows(ROWS[:2]), Ragged.from_rows(ROWS[2:])])
    assert [row.tolist() for row in r] == ROWS
    assert len(Ragged.concat([])) == 0


def test_a_slice_is_a_ragged_of_those_rows():
    r = Ragged.from_rows(ROWS)
    assert [row.tolist() for row in r[1:3]] == ROWS[1:3]
    assert [row.tolist() for row in r[2:]] == ROWS[2:]
    assert len(r[3:1]) == 0


def test_offsets_must_match_the_tokens():
    with pytest.raises(ValueError):
        Ragged(np.zeros(3, np.int32), np.array([0, 2]))


def test_writer_streams_chunks_to_disk_and_maps_them_back(tmp_path):
    w = RaggedWriter(tmp_path, "train.input_ids")
    w.append(Ragged.from_rows(ROWS[:3]))
    w.append(Ragged.from_rows(ROWS[3:]))
    r = w.finish()
    assert isinstance(r.flat, np.memmap)
    assert [row.tolist() for row in r] == ROWS
    again = Ragged.load(tmp_path, "train.input_ids")
    assert again.padded(np.array([0, 3]), 0).tolist() == r.padded(np.array([0, 3]), 0).tolist()


def test_a_truncated_token_file_is_refused(tmp_path):
    Ragged.from_rows(ROWS).save(tmp_path, "x")
    path = tmp_path / "x.tokens"
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ValueError, match="expected 9 tokens"):
        Ragged.load(tmp_path, "x")


def test_an_empty_split_saves_and_loads(tmp_path):
    Ragged.from_rows([]).save(tmp_path, "e")
    assert len(Ragged.load(tmp_path, "e")) == 0
