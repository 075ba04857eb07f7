"""Write-then-rename helpers: a reader (a resuming run, TF Serving) never sees a half-written file or directory.

Staging entries, their writers' locks, and what counts as stale
----------------------------------------------------------------
Each write takes a *writer id* for as long as it runs. First it creates a lock file `.partial-<id>` in the
target's directory and holds an exclusive `fcntl.flock` on it. Then it stages beside the target under
`.partial-<id>.<name>`: the new content, and with `atomic_directory(overwrite=True)` the old directory moved
aside as `.partial-<id>.replaced.<name>`. Every such name starts with ".partial-", so it is hidden, never
numeric (TF Serving loads only numeric version directories, and so does the bundled server) and never a final
name.

The kernel drops a flock when the last descriptor of its open file closes, and that happens whenever the
process ends, SIGKILL and crashes included. So a staging entry is **stale** exactly when its lock file exists
and a non-blocking flock of it succeeds: its writer has gone. A held lock means a live writer (in this
process or any other on the machine), and its entries are never touched, however old they are. Pid checks
would break this rule under pid reuse and pid namespaces (containers sharing a volume); mtime alone would
break it for a slow writer. `atomic_file` and `atomic_directory` remove the stale entries of the directory
they write into before they stage, and log each removal.

Entries with no lock file come from writers of earlier versions of this module. A directory scan can also
race a writer that is creating its lock and see the entry without it. Such entries are removed only once they
are older than LOCKLESS_STALE_SECONDS, or at once by `remove_staging_leftovers` (whose caller owns the
directory). Where flock is unavailable (no `fcntl` module, or a file system that refuses it), no writer can be
shown dead, and nothing with a lock file is removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
import uuid
from typing import Iterator

from bert_keras.errors import OutputExistsError

try:
    import fcntl
except ImportError:  # Windows: no flock, so no writer can be shown dead (see the module docstring)
    fcntl = None

logger = logging.getLogger(__name__)

STAGING_PREFIX = ".partial-"
STAGING_GLOB = STAGING_PREFIX + "*"  # what a killed writer can leave behind: never a final name
WRITER_ID_HEX_DIGITS = 8
REPLACED_TAG = "replaced."  # the old directory that atomic_directory(overwrite=True) moves aside
# A staging entry without a lock file is removed by a write only when older than this: far longer than any write
# (an export takes minutes), and an entry seen by a scan that raced its writer's lock creation is seconds old.
LOCKLESS_STALE_SECONDS = 24 * 60 * 60
LOCK_FILE_MODE = 0o644
_WRITER_ID = re.compile(rf"^{re.escape(STAGING_PREFIX)}(?P<id>[0-9a-f]{{{WRITER_ID_HEX_DIGITS}}})(?:\.|$)")


def remove_staging_leftovers(directory: str | os.PathLike) -> list[str]:
    """Delete the staging entries that writers killed mid-write left in `directory`; returns their names.

    Call it where one writer owns the directory (a run starting up). Entries whose writer is alive are kept;
    entries without a lock file are removed whatever their age (see the module docstring).
    """
    return _remove_stale_staging(os.fspath(directory), lockless_max_age=None)


def _remove_stale_staging(directory: str, lockless_max_age: float | None, own_id: str | None = None) -> list[str]:
    """Remove the staging entries of dead writers in `directory` (the rule: the module docstring).

    Args:
        directory: where to look.
        lockless_max_age: entries without a lock file are removed when older than this many seconds (None: always).
        own_id: the calling writer's id, skipped.

    Returns:
        the names removed.
    """
    try:
        names = sorted(n for n in os.listdir(directory) if n.startswith(STAGING_PREFIX))
    except FileNotFoundError:
        return []
    locked_ids = {_writer_id(n) for n in names if _writer_id(n) and n == _lock_name(_writer_id(n))}
    removed: list[str] = []
    for writer_id in sorted(locked_ids - {own_id}):
        removed += _remove_if_writer_gone(directory, writer_id)
    for name in names:
        if _writer_id(name) not in locked_ids and _older_than(os.path.join(directory, name), lockless_max_age):
            _remove_entry(os.path.join(directory, name))
            logger.warning("%s: removed %s, staging without a lock file left by a writer that was killed",
                           directory, name)
            removed.append(name)
    return removed


def _remove_if_writer_gone(directory: str, writer_id: str) -> list[str]:
    """Remove `writer_id`'s staging entries and lock file if no process holds its lock; returns what was removed."""
    lock_path = os.path.join(directory, _lock_name(writer_id))
    try:
        descriptor = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        return []  # the writer finished in the meantime
    try:
        if not _try_lock(descriptor) or not os.fstat(descriptor).st_nlink:
            return []  # a live writer (or one that cannot be told, or another clean-up got there first)
        prefix = _lock_name(writer_id) + "."
        # Listed again under the lock: the dead writer can no longer add entries.
        entries = sorted(n for n in os.listdir(directory) if n.startswith(prefix))
        for name in entries:
            _remove_entry(os.path.join(directory, name))
        os.remove(lock_path)  # last: a new writer can take this id again only once its entries are gone
    finally:
        os.close(descriptor)
    logger.warning("%s: removed %s, staging left by a writer that was killed mid-write",
                   directory, ", ".join(entries + [_lock_name(writer_id)]))
    return entries + [_lock_name(writer_id)]


def _writer_id(name: str) -> str | None:
    match = _WRITER_ID.match(name)
    return match.group("id") if match else None


def _lock_name(writer_id: str | None) -> str:
    return f"{STAGING_PREFIX}{writer_id}"


def _try_lock(descriptor: int) -> bool | None:
    """Take an exclusive flock without waiting: True if taken, False if another holds it, None if unsupported."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without flock (ENOLCK, EOPNOTSUPP)
        return None
    return True


def _older_than(path: str, seconds: float | None) -> bool:
    if seconds is None:
        return True
    try:
        return time.time() - os.lstat(path).st_mtime > seconds
    except FileNotFoundError:
        return False


def _remove_entry(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


@contextlib.contextmanager
def _writer_lock(directory: str) -> Iterator[str]:
    """Hold the lock file of a new writer id in `directory` while the block runs; yields the id.

    The lock is taken on a freshly created file, then checked to still be linked: a clean-up that locked the new
    file first (taking it for a dead writer's) has removed it, and another id is taken.
    """
    while True:
        writer_id = uuid.uuid4().hex[:WRITER_ID_HEX_DIGITS]
        lock_path = os.path.join(directory, _lock_name(writer_id))
        try:
            descriptor = os.open(lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, LOCK_FILE_MODE)
        except FileExistsError:
            continue
        if _try_lock(descriptor) is not False and os.fstat(descriptor).st_nlink:
            break
        os.close(descriptor)
    try:
        _remove_stale_staging(directory, LOCKLESS_STALE_SECONDS, own_id=writer_id)
        yield writer_id
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(lock_path)  # before the descriptor closes: nobody can take the lock of a removed file
        os.close(descriptor)


def _staging_path(directory: str, writer_id: str, name: str) -> str:
    """A hidden sibling name that keeps `name`'s extension (Keras checks ".weights.h5", ".keras")."""
    return os.path.join(directory, f"{_lock_name(writer_id)}.{name}")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on error removed.

    The rename is atomic on POSIX file systems, so `path` holds either the old or the complete new content.
    Stale staging entries of killed writers in the same directory are removed first (module docstring).
    """
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    os.makedirs(directory, exist_ok=True)
    with _writer_lock(directory) as writer_id:
        staging = _staging_path(directory, writer_id, name)
        try:
            yield staging
            os.replace(staging, os.path.join(directory, name))
        finally:
            if os.path.exists(staging):
                os.remove(staging)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = False) -> Iterator[str]:
    """Yield a temporary directory beside `path`, renamed to `path` when the block succeeds, removed otherwise.

    With `overwrite`, an existing `path` is replaced (moved aside first, deleted after the rename); without it an
    existing non-empty `path` raises OutputExistsError (a FileExistsError) before anything is written. Stale
    staging entries of killed writers beside `path` are removed first (module docstring).
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)) and not overwrite:
        raise OutputExistsError(f"{path} already exists and is not empty")
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    with _writer_lock(parent) as writer_id:
        staging = _staging_path(parent, writer_id, name)
        os.makedirs(staging)
        try:
            yield staging
            if os.path.exists(path):
                old = _staging_path(parent, writer_id, REPLACED_TAG + name)
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
