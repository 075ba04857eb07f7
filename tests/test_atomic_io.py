"""Atomic writes: stale staging entries of killed writers are removed by the next write into the same directory,
while a live writer's staging entry is never touched, whoever and however old it is."""

import logging
import os
import subprocess
import sys
import time

import pytest

from bert_keras import atomic_io
from bert_keras.atomic_io import STAGING_GLOB, atomic_directory, atomic_file, remove_staging_leftovers, write_text

PACKAGE_DIR = os.path.dirname(os.path.abspath(atomic_io.__file__))
# The writer processes import atomic_io (and errors) without the package's __init__, which loads TensorFlow:
# a bare package module with the right __path__ makes `import bert_keras.atomic_io` take milliseconds.
WRITER = r'''
import os, signal, sys, types
package = types.ModuleType("bert_keras")
package.__path__ = [sys.argv[1]]
sys.modules["bert_keras"] = package
from bert_keras.atomic_io import atomic_directory, atomic_file

kind, target, ending = sys.argv[2:5]
if kind == "directory":
    with atomic_directory(target) as staging:
        with open(os.path.join(staging, "half-written.txt"), "w") as f:
            f.write("half")
        print(staging, flush=True)
        if ending == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        sys.stdin.read()  # a live writer: holds its staging directory until the test closes stdin
else:
    with atomic_file(target) as staging:
        with open(staging, "w") as f:
            f.write("half")
        print(staging, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
'''
WRITER_TIMEOUT_SECONDS = 60


def _killed_writer(kind, target):
    """Run a writer that is SIGKILLed in the middle of an atomic write of `target`; returns its staging path."""
    done = subprocess.run([sys.executable, "-c", WRITER, PACKAGE_DIR, kind, str(target), "kill"],
                          capture_output=True, text=True, timeout=WRITER_TIMEOUT_SECONDS)
    assert done.returncode == -9, done.stderr
    staging = done.stdout.strip()
    assert os.path.exists(staging) and os.path.basename(staging).startswith(".partial-")
    return staging


def _staging_entries(directory):
    return sorted(p.name for p in directory.glob(STAGING_GLOB))


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_the_next_write_removes_what_a_killed_writer_left(tmp_path, kind, caplog):
    staging = _killed_writer(kind, tmp_path / "killed")
    assert _staging_entries(tmp_path)  # the killed writer left its staging entry behind
    with caplog.at_level(logging.WARNING, logger="bert_keras.atomic_io"):
        with atomic_directory(tmp_path / "next") as next_staging:
            with open(os.path.join(next_staging, "complete.txt"), "w") as f:
                f.write("complete")
    assert _staging_entries(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["next"]
    assert os.path.basename(staging) in caplog.text and "killed" in caplog.text


def test_a_write_of_a_single_file_also_removes_stale_staging(tmp_path):
    _killed_writer("directory", tmp_path / "killed")
    write_text(tmp_path / "notes.txt", "hello\n")
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_a_live_writers_staging_is_never_removed(tmp_path):
    """Another process is in the middle of writing `live`: writes beside it, and a run start-up's clean-up,
    leave its staging directory alone, and its write still completes. No staging name is numeric (TF Serving
    loads any numeric directory)."""
    writer = subprocess.Popen([sys.executable, "-c", WRITER, PACKAGE_DIR, "directory", str(tmp_path / "live"),
                               "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        staging = writer.stdout.readline().strip()
        assert os.path.isfile(os.path.join(staging, "half-written.txt"))
        with atomic_directory(tmp_path / "2") as next_staging:
            assert not any(name.isdigit() for name in _staging_entries(tmp_path))
            open(os.path.join(next_staging, "x"), "w").close()
        write_text(tmp_path / "notes.txt", "hello\n")
        remove_staging_leftovers(tmp_path)
        assert os.path.isfile(os.path.join(staging, "half-written.txt"))
        writer.stdin.close()
        assert writer.wait(timeout=WRITER_TIMEOUT_SECONDS) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
    assert sorted(os.listdir(tmp_path)) == ["2", "live", "notes.txt"]
    assert os.listdir(tmp_path / "live") == ["half-written.txt"]


def test_a_writer_in_this_process_is_live_too(tmp_path):
    with atomic_file(tmp_path / "a.txt") as outer:
        open(outer, "w").close()
        write_text(tmp_path / "b.txt", "b")
        assert os.path.exists(outer)
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt"]


def test_staging_without_a_lock_file_is_removed_only_when_old(tmp_path):
    """Entries of writers from before the lock files: no lock tells whether their writer lives, so a write
    removes them only after LOCKLESS_STALE_SECONDS; a run's start-up clean-up (one owner) removes them at once."""
    old, recent = tmp_path / ".partial-0badc0de.old.weights.h5", tmp_path / ".partial-12345678.recent"
    old.write_bytes(b"half")
    recent.mkdir()
    long_ago = time.time() - atomic_io.LOCKLESS_STALE_SECONDS - 1
    os.utime(old, (long_ago, long_ago))
    write_text(tmp_path / "notes.txt", "hello\n")
    assert _staging_entries(tmp_path) == [recent.name]
    remove_staging_leftovers(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
