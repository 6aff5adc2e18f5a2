"""The fetchers: local files, in-memory DataFrames, URLs (against a local server) and NSMC."""

from __future__ import annotations

import gzip
import hashlib
import time
from pathlib import Path

import pandas as pd
import pydantic
import pytest
from conftest import SHARED, make_rows, write_tsv

from plmkit.errors import DataError
from plmkit.stages.fetch import nsmc
from plmkit.stages.fetch.download import download
from plmkit.stages.fetch.files import FileFetcher
from plmkit.stages.fetch.frame import DataFrameFetcher
from plmkit.stages.fetch.nsmc import NsmcFetcher
from plmkit.stages.fetch.read import row_ref
from plmkit.stages.fetch.url import RemoteFile, UrlFetcher

NSMC_HEADER = "id\tdocument\tlabel\n"
FAKE_TRAIN = NSMC_HEADER + (
    '101\t"최고" 라고 함\t1\n102\t\t0\n103\t배우 연기 좋았다\t1\n104\t지루하다 "정말"\t0\n'
)
FAKE_TEST = NSMC_HEADER + "201\t결말 훌륭하다\t1\n202\tNA\t0\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- a local HTTP server ------------------------------------------------------------------


@pytest.fixture
def server(http_server):
    """The shared test server (tests/conftest.py)."""
    return http_server


# --- FileFetcher --------------------------------------------------------------------------


def test_file_fetcher_train_test(tiny_files):
    fetcher = FileFetcher(
        {
            "train": str(tiny_files["train"]),
            "test": str(tiny_files["test"]),
            "quoting": "none",
            "columns": {"text": "document"},
        }
    )
    splits = fetcher.fetch()
    assert set(splits) == {"train", "test"}
    train, test = splits["train"], splits["test"]
    assert (len(train), len(test)) == (120, 40)
    assert list(train.columns) == ["id", "text", "label"]
    expected = make_rows(120, seed=1)
    assert train.iloc[5].tolist() == [str(v) for v in expected[5]]
    assert test["id"].iloc[0] == "1000"
    assert train.attrs["source"] == str(tiny_files["train"])
    assert row_ref(test, 0) == f"{tiny_files['test']} line 2"


def test_file_fetcher_extra_splits_and_task_columns(tmp_path):
    train = write_tsv(tmp_path / "t.tsv", [("a", "x"), ("b", "y")], header=("sentence", "tag"))
    extra = write_tsv(tmp_path / "e.tsv", [("c", "x")], header=("sentence", "tag"))
    fetcher = FileFetcher(
        {
            "train": train,
            "extra_splits": {"challenge": extra},
            "columns": {"text": "sentence", "label": "tag"},
        },
        columns={"text": True, "label": False},
    )
    splits = fetcher.fetch()
    assert list(splits) == ["train", "challenge"]
    assert splits["train"].to_dict("records") == [
        {"text": "a", "label": "x"},
        {"text": "b", "label": "y"},
    ]
    assert splits["challenge"]["text"].tolist() == ["c"]


def test_file_fetcher_needs_a_split():
    with pytest.raises(pydantic.ValidationError, match="name at least one split file"):
        FileFetcher({"columns": {"text": "document"}})
    with pytest.raises(pydantic.ValidationError, match="name at least one split file"):
        FileFetcher.Params(train=None, test=None)


def test_file_fetcher_rejects_unknown_keys(tmp_path):
    with pytest.raises(pydantic.ValidationError, match="trian"):
        FileFetcher({"trian": str(tmp_path / "a.tsv"), "test": str(tmp_path / "b.tsv")})


def test_file_fetcher_missing_file(tmp_path, tiny_files):
    fetcher = FileFetcher(
        {
            "train": tiny_files["train"],
            "test": tmp_path / "missing.tsv",
            "columns": {"text": "document"},
        }
    )
    with pytest.raises(DataError, match="missing.tsv: file not found"):
        fetcher.fetch()


# --- DataFrameFetcher ---------------------------------------------------------------------


def test_dataframe_fetcher_column_map():
    train = pd.DataFrame({"review": ["좋다", "싫다"], "stars": [1, 0], "other": [9, 9]})
    test = pd.DataFrame({"review": ["보통"]})
    splits = DataFrameFetcher(
        {"train": train, "test": test}, column_map={"text": "review", "label": "stars"}
    ).fetch()
    assert splits["train"].to_dict("records") == [
        {"text": "좋다", "label": 1},
        {"text": "싫다", "label": 0},
    ]
    assert list(splits["test"].columns) == ["text"]
    assert splits["train"].attrs == {"source": "dataframe 'train'", "line_offset": None}
    assert row_ref(splits["train"], 1) == "dataframe 'train' row 1"
    assert list(train.columns) == ["review", "stars", "other"]  # the input is not changed


def test_dataframe_fetcher_missing_required_column():
    df = pd.DataFrame({"sentence": ["a"], "label": [1]})
    with pytest.raises(DataError) as info:
        DataFrameFetcher({"train": df}).fetch()
    msg = str(info.value)
    assert "dataframe 'train'" in msg
    assert "'text' (for text) not found" in msg
    assert "columns are: sentence, label" in msg


def test_dataframe_fetcher_unlabelled_split():
    train = pd.DataFrame({"doc": ["a", "b"], "y": [1, 0], "id": [7, 8]})
    test = pd.DataFrame({"doc": ["c"]}, index=[5])
    splits = DataFrameFetcher(
        {"train": train, "test": test}, column_map={"text": "doc", "label": "y"}
    ).fetch()
    assert splits["train"].to_dict("records") == [
        {"id": 7, "text": "a", "label": 1},
        {"id": 8, "text": "b", "label": 0},
    ]
    assert splits["test"].to_dict("index") == {5: {"text": "c"}}


def test_dataframe_fetcher_needs_frames():
    with pytest.raises(DataError, match="at least one split"):
        DataFrameFetcher({})


# --- download / UrlFetcher ----------------------------------------------------------------


def url_fetcher(base, tmp_path, **split_files) -> UrlFetcher:
    params = {
        "cache_dir": str(tmp_path / "cache"),
        "timeout": 5,
        "retries": 3,
        "quoting": "none",
        "columns": {"text": "document"},
    }
    for split, (name, digest) in split_files.items():
        params[split] = {"url": f"{base}/{name}", "sha256": digest}
    return UrlFetcher(params)


def test_url_fetcher_downloads_into_cache(server, tmp_path):
    base, root, counts = server
    data = FAKE_TRAIN.encode()
    (root / "train.tsv").write_bytes(data)
    (root / "test.tsv.gz").write_bytes(gzip.compress(FAKE_TEST.encode()))
    fetcher = url_fetcher(
        base, tmp_path, train=("train.tsv", sha(data)), test=("test.tsv.gz", None)
    )
    splits = fetcher.fetch()
    assert splits["train"]["text"].tolist() == [
        '"최고" 라고 함',
        "",
        "배우 연기 좋았다",
        '지루하다 "정말"',
    ]
    assert splits["test"]["text"].tolist() == ["결말 훌륭하다", "NA"]
    cached = tmp_path / "cache" / RemoteFile(url=f"{base}/train.tsv").cache_name()
    assert cached.read_bytes() == data
    assert splits["train"].attrs["source"] == str(cached)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")) == []
    assert counts == {"/train.tsv": 1, "/test.tsv.gz": 1}


def test_url_fetcher_reuses_cache(server, tmp_path):
    base, root, counts = server
    data = FAKE_TRAIN.encode()
    (root / "train.tsv").write_bytes(data)
    first = url_fetcher(base, tmp_path, train=("train.tsv", sha(data))).fetch()
    second = url_fetcher(base, tmp_path, train=("train.tsv", sha(data))).fetch()
    third = url_fetcher(base, tmp_path, train=("train.tsv", None)).fetch()
    assert counts["/train.tsv"] == 1
    assert first["train"].equals(second["train"]) and first["train"].equals(third["train"])


def test_url_fetcher_refetches_a_corrupt_cache(server, tmp_path):
    base, root, counts = server
    data = FAKE_TRAIN.encode()
    (root / "train.tsv").write_bytes(data)
    cached = tmp_path / "cache" / RemoteFile(url=f"{base}/train.tsv").cache_name()
    cached.parent.mkdir()
    cached.write_bytes(b"id\tdocument\tlabel\n1\ttruncated")
    splits = url_fetcher(base, tmp_path, train=("train.tsv", sha(data))).fetch()
    assert len(splits["train"]) == 4
    assert counts["/train.tsv"] == 1
    assert cached.read_bytes() == data


def test_url_fetcher_sha256_mismatch_removes_file(server, tmp_path):
    base, root, counts = server
    (root / "train.tsv").write_bytes(FAKE_TRAIN.encode())
    wrong = sha(b"something else")
    with pytest.raises(DataError) as info:
        url_fetcher(base, tmp_path, train=("train.tsv", wrong)).fetch()
    msg = str(info.value)
    assert "sha256 mismatch" in msg
    assert f"{base}/train.tsv" in msg
    assert wrong in msg and sha(FAKE_TRAIN.encode()) in msg
    assert list((tmp_path / "cache").iterdir()) == []
    assert counts["/train.tsv"] == 1  # a mismatch is not retried


def test_url_fetcher_404_is_not_retried(server, tmp_path):
    base, _root, counts = server
    started = time.perf_counter()
    with pytest.raises(DataError) as info:
        url_fetcher(base, tmp_path, train=("missing.tsv", None)).fetch()
    assert time.perf_counter() - started < 2
    msg = str(info.value)
    assert f"{base}/missing.tsv" in msg
    assert "404" in msg
    assert counts["/missing.tsv"] == 1
    assert list((tmp_path / "cache").iterdir()) == []


def test_download_404_with_stale_cached_file(server, tmp_path):
    """A stale file at the destination must not be taken for the download."""
    base, _root, counts = server
    dest = tmp_path / "cache" / "gone.tsv"
    dest.parent.mkdir()
    dest.write_bytes(b"old contents")
    with pytest.raises(DataError) as info:
        download(f"{base}/gone.tsv", dest, sha256=sha(b"new contents"), timeout=5, retries=3)
    msg = str(info.value)
    assert "404" in msg
    assert "sha256 mismatch" not in msg
    assert counts["/gone.tsv"] == 1


def test_download_retries_server_errors(server, tmp_path):
    base, _root, counts = server
    with pytest.raises(DataError, match="download failed after 2 tries") as info:
        download(f"{base}/fail500.tsv", tmp_path / "x.tsv", timeout=5, retries=2)
    assert "500" in str(info.value)
    assert counts["/fail500.tsv"] == 2
    assert not (tmp_path / "x.tsv").exists()


def test_download_unreachable_host(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError, match="download failed after 1 tries"):
        download(f"http://127.0.0.1:{port}/x.tsv", tmp_path / "x.tsv", timeout=2, retries=1)


def test_url_params_validation(tmp_path):
    good = "a" * 64
    with pytest.raises(pydantic.ValidationError, match="http:// or https://"):
        UrlFetcher({"train": {"url": "ftp://example.org/a.tsv"}, "cache_dir": str(tmp_path)})
    with pytest.raises(pydantic.ValidationError, match="http:// or https://"):
        UrlFetcher({"train": {"url": "/local/a.tsv"}, "cache_dir": str(tmp_path)})
    with pytest.raises(pydantic.ValidationError, match="sha256"):
        UrlFetcher({"train": {"url": "https://x.org/a.tsv", "sha256": "abc"}})
    with pytest.raises(pydantic.ValidationError, match="name at least one split"):
        UrlFetcher({"cache_dir": str(tmp_path)})
    with pytest.raises(pydantic.ValidationError, match="retries"):
        UrlFetcher({"train": {"url": "https://x.org/a.tsv"}, "retries": 0})
    params = UrlFetcher({"train": {"url": "https://x.org/a.tsv", "sha256": good}}).params
    assert params.train.sha256 == good


def test_cache_names_never_collide():
    a = RemoteFile(url="https://a.org/data/train.tsv?raw=1").cache_name()
    b = RemoteFile(url="https://b.org/data/train.tsv").cache_name()
    assert a != b
    assert a.endswith("-train.tsv") and b.endswith("-train.tsv")


# --- NsmcFetcher --------------------------------------------------------------------------


@pytest.fixture
def fake_nsmc_dir(tmp_path) -> Path:
    d = tmp_path / "nsmc"
    d.mkdir()
    (d / "ratings_train.txt.gz").write_bytes(gzip.compress(FAKE_TRAIN.encode()))
    (d / "ratings_test.txt").write_bytes(FAKE_TEST.encode())
    return d


def check_fake_nsmc(splits):
    assert set(splits) == {"train", "test"}
    train, test = splits["train"], splits["test"]
    assert list(train.columns) == ["id", "text", "label"]
    assert train.to_dict("records") == [
        {"id": "101", "text": '"최고" 라고 함', "label": "1"},
        {"id": "102", "text": "", "label": "0"},
        {"id": "103", "text": "배우 연기 좋았다", "label": "1"},
        {"id": "104", "text": '지루하다 "정말"', "label": "0"},
    ]
    assert test["text"].tolist() == ["결말 훌륭하다", "NA"]
    assert not train.isna().any().any()


def test_nsmc_from_dir(fake_nsmc_dir):
    splits = NsmcFetcher({"dir": str(fake_nsmc_dir), "verify": False}).fetch()
    check_fake_nsmc(splits)
    assert splits["train"].attrs["source"] == str(fake_nsmc_dir / "ratings_train.txt.gz")
    assert row_ref(splits["train"], 1) == f"{fake_nsmc_dir / 'ratings_train.txt.gz'} line 3"


def test_nsmc_from_dir_verify(fake_nsmc_dir):
    with pytest.raises(DataError) as info:
        NsmcFetcher({"dir": str(fake_nsmc_dir), "verify": True}).fetch()
    msg = str(info.value)
    assert "sha256 mismatch" in msg
    assert str(fake_nsmc_dir / "ratings_train.txt.gz") in msg
    assert nsmc.FILES["train"][1] in msg
    assert sha(FAKE_TRAIN.encode()) in msg  # the sha256 of the uncompressed bytes


def test_nsmc_from_dir_verify_passes_with_matching_sha(fake_nsmc_dir, monkeypatch):
    files = {
        "train": ("ratings_train.txt", sha(FAKE_TRAIN.encode())),
        "test": ("ratings_test.txt", sha(FAKE_TEST.encode())),
    }
    monkeypatch.setattr(nsmc, "FILES", files)
    check_fake_nsmc(NsmcFetcher({"dir": str(fake_nsmc_dir)}).fetch())


def test_nsmc_dir_without_files(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "ratings_train.csv").write_text("x", encoding="utf-8")
    with pytest.raises(DataError) as info:
        NsmcFetcher({"dir": str(empty), "verify": False}).fetch()
    msg = str(info.value)
    assert str(empty) in msg
    assert "ratings_train.txt" in msg


def test_nsmc_params_reject_unknown_keys():
    with pytest.raises(pydantic.ValidationError, match="directory"):
        NsmcFetcher({"directory": "/tmp"})


def test_nsmc_download(server, tmp_path):
    base, root, counts = server
    (root / "ratings_train.txt").write_bytes(FAKE_TRAIN.encode())
    (root / "ratings_test.txt").write_bytes(FAKE_TEST.encode())
    params = {"base_url": base + "/", "cache_dir": str(tmp_path / "cache"), "verify": False}
    check_fake_nsmc(NsmcFetcher(params).fetch())
    assert (tmp_path / "cache" / "ratings_train.txt").read_bytes() == FAKE_TRAIN.encode()
    check_fake_nsmc(NsmcFetcher(params).fetch())
    assert counts == {"/ratings_train.txt": 1, "/ratings_test.txt": 1}


def test_nsmc_download_verify(server, tmp_path, monkeypatch):
    base, root, counts = server
    (root / "ratings_train.txt").write_bytes(FAKE_TRAIN.encode())
    (root / "ratings_test.txt").write_bytes(FAKE_TEST.encode())
    params = {"base_url": base, "cache_dir": str(tmp_path / "cache"), "timeout": 5}
    with pytest.raises(DataError, match="sha256 mismatch"):
        NsmcFetcher(params).fetch()
    assert not (tmp_path / "cache" / "ratings_train.txt").exists()
    files = {
        "train": ("ratings_train.txt", sha(FAKE_TRAIN.encode())),
        "test": ("ratings_test.txt", sha(FAKE_TEST.encode())),
    }
    monkeypatch.setattr(nsmc, "FILES", files)
    check_fake_nsmc(NsmcFetcher(params).fetch())
    assert counts["/ratings_train.txt"] == 2


def test_nsmc_download_missing(server, tmp_path):
    base, _root, counts = server
    params = {"base_url": base, "cache_dir": str(tmp_path / "cache"), "verify": False}
    with pytest.raises(DataError, match="ratings_train.txt.*404"):
        NsmcFetcher(params).fetch()
    assert counts["/ratings_train.txt"] == 1


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "nsmc").is_dir(), reason="needs ../shared/datasets/nsmc")
def test_real_nsmc():
    splits = NsmcFetcher({"dir": str(SHARED / "nsmc"), "verify": True}).fetch()
    train, test = splits["train"], splits["test"]
    assert (len(train), len(test)) == (150_000, 50_000)
    assert list(train.columns) == ["id", "text", "label"]
    assert train["label"].value_counts().to_dict() == {"0": 75_173, "1": 74_827}
    assert test["label"].value_counts().to_dict() == {"1": 25_173, "0": 24_827}
    assert (train["text"] == "").sum() == 5
    assert (test["text"] == "").sum() == 3
    assert train["text"].str.contains('"', regex=False).sum() == 623
    assert not train.isna().any().any() and not test.isna().any().any()
    assert train["id"].is_unique
