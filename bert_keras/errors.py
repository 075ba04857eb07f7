"""The one family of errors a user can cause and fix; every other exception is a bug.

Each class also derives from the built-in error a caller would expect (`ValueError`, `FileNotFoundError`, ...), so
``except ValueError`` keeps working. The `bert-keras` command prints a `BertKerasError` as one line with exit
status 2 and keeps the traceback of anything else. This module imports nothing (the server and the clients use
it too).
"""

from __future__ import annotations

from typing import Iterable


class BertKerasError(Exception):
    """Base of every error the user can fix: the message names the bad value, file or line and what was expected."""


class InvalidInputError(BertKerasError, ValueError):
    """An argument, config field or data value outside what is accepted (the message names it and the choices)."""


class InputFileError(InvalidInputError):
    """A file whose content cannot be read as expected; the message starts with ``path:line:`` where known."""


class UnknownLabelError(InvalidInputError):
    """A label that is not in the model's label vocabulary."""


class CheckpointMismatchError(InvalidInputError):
    """A checkpoint's tensors do not fit the encoder: lists every missing, unexpected and mis-shaped tensor."""

    def __init__(self, source: str, missing: Iterable[str] = (), unexpected: Iterable[str] = (),
                 mismatched: Iterable[tuple[str, tuple, tuple]] = ()):
        self.missing, self.unexpected, self.mismatched = sorted(missing), sorted(unexpected), sorted(mismatched)
        lines = [f"{source}: checkpoint does not match the BERT encoder"]
        if self.missing:
            lines.append(f"  missing ({len(self.missing)}): " + ", ".join(self.missing))
        if self.unexpected:
            lines.append(f"  unexpected ({len(self.unexpected)}): " + ", ".join(self.unexpected))
        for name, expected, got in self.mismatched:
            lines.append(f"  wrong shape: {name} is {tuple(got)}, expected {tuple(expected)}")
        super().__init__("\n".join(lines))


class CheckpointNotFoundError(BertKerasError, FileNotFoundError):
    """A named checkpoint is neither cached nor downloadable: names the source, the cache and how to get it.

    Attributes:
        source: the source as given.
        cache_dir: the cache directory that was searched.
    """

    def __init__(self, source: str, cache_dir: str, message: str):
        self.source, self.cache_dir = source, cache_dir
        super().__init__(message)


class OutputExistsError(BertKerasError, FileExistsError):
    """An output that already holds a user's earlier result; refused unless asked to overwrite."""


class MissingDependencyError(BertKerasError, ImportError):
    """An optional package a feature needs is not installed; the message gives the pip command."""
