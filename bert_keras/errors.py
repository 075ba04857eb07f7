"""The one family of errors a user can cause and fix; every other exception is a bug.

Each class also derives from the built-in error a caller would expect (`ValueError`, `FileNotFoundError`, ...), so
``except ValueError`` keeps working. The `bert-keras` command prints a `BertKerasError` as one line with exit
status 2 and keeps the traceback of anything else. This module imports nothing (the server and the clients use
it too).
"""

from __future__ import annotations


class BertKerasError(Exception):
    """Base of every error the user can fix: the message names the bad value, file or line and what was expected."""


class InvalidInputError(BertKerasError, ValueError):
    """An argument, config field or data value outside what is accepted (the message names it and the choices)."""


class InputFileError(InvalidInputError):
    """A file whose content cannot be read as expected; the message starts with ``path:line:`` where known."""


class UnknownLabelError(InvalidInputError):
    """A label that is not in the model's label vocabulary."""


class CheckpointMismatchError(InvalidInputError):
    """A checkpoint whose tensors do not fit the config or model they are loaded into."""


class CheckpointNotFoundError(BertKerasError, FileNotFoundError):
    """A checkpoint source (path or hub name) that cannot be found or downloaded."""


class OutputExistsError(BertKerasError, FileExistsError):
    """An output that already holds a user's earlier result; refused unless asked to overwrite."""


class MissingDependencyError(BertKerasError, ImportError):
    """An optional package a feature needs is not installed; the message gives the pip command."""
