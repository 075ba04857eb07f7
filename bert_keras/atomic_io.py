"""Write-then-rename helpers: a reader (a resuming run, TF Serving) never sees a half-written file or directory."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import uuid
from typing import Iterator

from bert_keras.errors import OutputExistsError

STAGING_GLOB = ".partial-*"  # what a killed writer can leave behind: never a final name


def remove_staging_leftovers(directory: str | os.PathLike) -> None:
    """Delete the staging files and directories that writers killed mid-write left in `directory`.

    Call it where one writer owns the directory and no write is in flight (a run starting up).
    """
    for stale in glob.glob(os.path.join(os.fspath(directory), STAGING_GLOB)):
        if os.path.isdir(stale):
            shutil.rmtree(stale, ignore_errors=True)
        else:
            os.remove(stale)


def _staging_name(path: str) -> str:
    """A hidden sibling name that keeps `path`'s extension (Keras checks ".weights.h5", ".keras")."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".partial-{uuid.uuid4().hex[:8]}.{name}")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on error removed.

    The rename is atomic on POSIX file systems, so `path` holds either the old or the complete new content.
    """
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    staging = _staging_name(path)
    try:
        yield staging
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            os.remove(staging)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = False) -> Iterator[str]:
    """Yield a temporary directory beside `path`, renamed to `path` when the block succeeds, removed otherwise.

    With `overwrite`, an existing `path` is replaced (moved aside first, deleted after the rename); without it an
    existing non-empty `path` raises OutputExistsError (a FileExistsError) before anything is written.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)) and not overwrite:
        raise OutputExistsError(f"{path} already exists and is not empty")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    staging = _staging_name(path)
    os.makedirs(staging)
    try:
        yield staging
        if os.path.exists(path):
            old = _staging_name(path)
            os.replace(path, old)
            os.replace(staging, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically replace `path` with `text` (UTF-8, "\n" line ends on every platform)."""
    with atomic_file(path) as staging:
        with open(staging, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
