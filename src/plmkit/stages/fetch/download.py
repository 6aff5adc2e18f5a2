"""Download a file into a cache directory, with timeouts, retries and a sha256 check."""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from plmkit.errors import DataError

CHUNK = 1 << 20


def sha256_of(path: Path, *, uncompressed: bool = False) -> str:
    """sha256 of a file's bytes, or of its decompressed bytes (.gz/.xz) when asked."""
    opener = open
    if uncompressed and path.suffix == ".gz":
        opener = gzip.open
    elif uncompressed and path.suffix == ".xz":
        opener = lzma.open
    digest = hashlib.sha256()
    with opener(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(path: Path, expected: str | None, *, what: str, uncompressed: bool = False):
    if expected is None:
        return
    actual = sha256_of(path, uncompressed=uncompressed)
    if actual != expected.lower():
        raise DataError(f"{what}: sha256 mismatch: expected {expected}, got {actual}")


def download(
    url: str, dest: Path, *, sha256: str | None = None, timeout: float = 30, retries: int = 3
) -> Path:
    """Fetch ``url`` to ``dest`` unless a file with the right checksum is already there.

    The file is written to a temporary name and renamed, so an interrupted download never
    looks complete; a checksum mismatch removes it and fails (retrying cannot fix it).
    """
    if dest.is_file() and (sha256 is None or sha256_of(dest) == sha256.lower()):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    fetched = False
    for attempt in range(retries):
        try:
            _fetch(url, dest, timeout)
            fetched = True
            break
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            last_error = exc
            if isinstance(exc, urllib.error.HTTPError) and 400 <= exc.code < 500:
                break  # a missing file will not appear by retrying
            if attempt + 1 < retries:
                time.sleep(min(2**attempt, 10) * 0.5)
    else:
        raise DataError(f"{url}: download failed after {retries} tries: {last_error}")
    if not fetched:  # a stale file at dest must not pass for the download
        raise DataError(f"{url}: download failed: {last_error}")
    try:
        check_sha256(dest, sha256, what=url)
    except DataError:
        dest.unlink(missing_ok=True)
        raise
    return dest


def _fetch(url: str, dest: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "plmkit"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with (
                os.fdopen(fd, "wb") as out,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc=f"download {dest.name}",
                    disable=None,
                    leave=False,
                ) as bar,
            ):
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
