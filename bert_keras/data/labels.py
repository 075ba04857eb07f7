"""LabelVocabulary: label names <-> ids, saved next to a fine-tuned model as labels.txt."""

from __future__ import annotations

import os
import re
from typing import Iterable, Sequence

from bert_keras.atomic_io import write_text
from bert_keras.errors import InputFileError, InvalidInputError, UnknownLabelError
from bert_keras.text.corpus import utf8_lines

LABELS_FILE = "labels.txt"


def _natural_key(name: str):
    """Sort "2" before "10" and numbers before words, so numeric labels keep their numeric order."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]


class LabelVocabulary:
    """An ordered list of label names; id i is `names[i]`.

    Args:
        names: the labels in id order (unique, non-empty, no line breaks).
    """

    def __init__(self, names: Sequence[str]):
        names = [str(n) for n in names]
        if not names:
            raise InvalidInputError("a label vocabulary needs at least one label")
        seen = set()
        for name in names:
            if not name.strip() or "\n" in name or "\r" in name:
                raise InvalidInputError(f"label {name!r} is empty or has a line break")
            if name in seen:
                raise InvalidInputError(f"label {name!r} appears twice")
            seen.add(name)
        self.names = names
        self._ids = {name: i for i, name in enumerate(names)}

    @classmethod
    def from_labels(cls, labels: Iterable[str], first: Sequence[str] = ()) -> "LabelVocabulary":
        """The distinct labels seen, `first` at the front, the rest in natural sort order ("2" before "10")."""
        rest = set(labels) - set(first)
        return cls(list(first) + sorted(rest, key=_natural_key))

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: str) -> bool:
        return name in self._ids

    def id(self, name: str, where: str = "") -> int:
        """Id of `name`; `UnknownLabelError` naming `where` (e.g. "file.csv:12") and the known labels."""
        if name not in self._ids:
            prefix = f"{where}: " if where else ""
            raise UnknownLabelError(f"{prefix}label {name!r} is not one of the model's labels {self.names}")
        return self._ids[name]

    def save(self, directory: str) -> str:
        """Write `directory/labels.txt`, one label per line in id order."""
        path = os.path.join(directory, LABELS_FILE)
        write_text(path, "".join(name + "\n" for name in self.names))
        return path

    @classmethod
    def load(cls, path: str) -> "LabelVocabulary":
        """Read a labels.txt (or the directory holding one); a bad line raises InputFileError naming file:line."""
        if os.path.isdir(path):
            path = os.path.join(path, LABELS_FILE)
        names = utf8_lines(path)
        if names and names[-1] == "":
            names.pop()
        first_lines: dict[str, int] = {}
        for number, name in enumerate(names, 1):
            if not name.strip():
                raise InputFileError(f"{path}:{number}: empty label (expected one label name per line, in id order)")
            if name in first_lines:
                raise InputFileError(f"{path}:{number}: label {name!r} appears twice (first on line "
                                     f"{first_lines[name]})")
            first_lines[name] = number
        try:
            return cls(names)
        except InvalidInputError as error:
            raise InputFileError(f"{path}: {error}") from None

    def __eq__(self, other) -> bool:
        return isinstance(other, LabelVocabulary) and other.names == self.names

    def __repr__(self) -> str:
        return f"LabelVocabulary({self.names!r})"
