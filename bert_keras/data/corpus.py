"""Raw-text corpora: files in Google BERT's pretraining format, read with errors that name file and line.

The format is the one Google's create_pretraining_data.py reads: one sentence per line, a blank line between
documents. Lines are UTF-8; leading and trailing whitespace is stripped.
"""

from __future__ import annotations

import glob
import os
from typing import Iterator, Sequence


class CorpusError(ValueError):
    """A corpus file that cannot be read as text (the message names the file and line)."""


def expand_paths(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """Files named by `inputs`: paths, glob patterns or directories (every file below, sorted).

    Raises FileNotFoundError naming the input that matched no file.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    files: list[str] = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            found = sorted(os.path.join(root, name) for root, _, names in os.walk(item) for name in names
                           if not name.startswith("."))
        elif os.path.isfile(item):
            found = [item]
        else:
            found = sorted(p for p in glob.glob(item, recursive=True) if os.path.isfile(p))
        if not found:
            raise FileNotFoundError(f"{item}: no such file, directory or matching pattern")
        files.extend(found)
    return files


def iter_lines(path: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped text) of a UTF-8 file; a BOM at the start is dropped.

    Raises CorpusError naming the file, line and byte column of the first invalid UTF-8 sequence.
    """
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise CorpusError(f"{path}:{number}: not valid UTF-8 at byte {error.start + 1} of the line "
                                  f"({raw[error.start:error.start + 4]!r}); corpus files must be UTF-8") from None
            if number == 1:
                text = text.removeprefix("\ufeff")
            yield number, text.strip()


def iter_documents(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> Iterator[list[str]]:
    """Documents (lists of sentences) of every file in `inputs`, in order; a file end also ends a document.

    Raises CorpusError when the files hold no sentence at all (checked once every file has been read).
    """
    files = expand_paths(inputs)
    found_text = False
    for path in files:
        document: list[str] = []
        for _, line in iter_lines(path):
            if line:
                document.append(line)
            elif document:
                found_text = True
                yield document
                document = []
        if document:
            found_text = True
            yield document
    if not found_text:
        raise CorpusError(f"the corpus is empty: no text in {', '.join(files)}")


def read_documents(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[list[str]]:
    """All documents of `inputs` in memory (see `iter_documents`)."""
    return list(iter_documents(inputs))


def iter_texts(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> Iterator[str]:
    """Every non-blank line of every file in `inputs` (for vocab learning); CorpusError if there is none."""
    for document in iter_documents(inputs):
        yield from document
