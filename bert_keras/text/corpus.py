"""Raw-text corpora: files in Google BERT's pretraining format, read with errors that name file and line.

The format is the one Google's create_pretraining_data.py reads: one sentence per line, a blank line between
documents. Lines are UTF-8; leading and trailing whitespace is stripped. Plain Python, no TensorFlow: vocab
learning (`vocab_learning`) reads its lines, and the pretraining data (`bert_keras.data.pretraining`) its
documents. `read_utf8` and `utf8_lines` read the user's other text files (vocab, labels, CSV, JSONL, CoNLL,
SQuAD).
"""

from __future__ import annotations

import glob
import io
import os
from typing import Iterator, Sequence

from bert_keras.errors import InputFileError


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


def read_utf8(path: str | os.PathLike) -> str:
    """The content of a UTF-8 text file, decoded as is (line ends untouched, a BOM kept).

    Raises InputFileError naming the file, line and offset of the first invalid UTF-8 byte.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise InputFileError(f"{path}:{line}: not UTF-8 (byte {raw[error.start]:#04x} at offset "
                             f"{error.start})") from None


def utf8_lines(path: str | os.PathLike) -> list[str]:
    """The lines of a UTF-8 text file without their line ends: "\\n", "\\r\\n" or "\\r", as open() in text mode
    splits them (no other character ends a line). Raises InputFileError as `read_utf8`."""
    return [line.rstrip("\n") for line in io.StringIO(read_utf8(path), newline=None)]


def iter_lines(path: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped text) of a UTF-8 file; a BOM at the start is dropped.

    Raises InputFileError naming the file, line and byte column of the first invalid UTF-8 sequence.
    """
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                bad_bytes = raw[error.start:error.start + 4]
                raise InputFileError(f"{path}:{number}: not valid UTF-8 at byte {error.start + 1} of the line "
                                     f"({bad_bytes!r}); corpus files must be UTF-8") from None
            if number == 1:
                text = text.removeprefix("\ufeff")
            yield number, text.strip()


def iter_documents(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> Iterator[list[str]]:
    """Documents (lists of sentences) of every file in `inputs`, in order; a file end also ends a document.

    Raises InputFileError when the files hold no sentence at all (checked once every file has been read).
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
        raise InputFileError(f"the corpus is empty: no text in {', '.join(files)}")


def read_documents(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[list[str]]:
    """All documents of `inputs` in memory (see `iter_documents`)."""
    return list(iter_documents(inputs))


def iter_texts(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> Iterator[str]:
    """Every non-blank line of every file in `inputs` (for vocab learning); InputFileError if there is none."""
    for document in iter_documents(inputs):
        yield from document
