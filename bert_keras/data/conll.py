"""CoNLL / BIO files: one token per line (word first, tag last), a blank line between sentences."""

from __future__ import annotations

import dataclasses
import os

from bert_keras.atomic_io import write_text
from bert_keras.data.tag_schemes import ANY_PREFIX, TagScheme, is_tag, tag_scheme
from bert_keras.errors import InputFileError
from bert_keras.text.corpus import utf8_lines

DOCSTART = "-DOCSTART-"


@dataclasses.dataclass
class TaggedSentence:
    """A sentence of a CoNLL file: its words, their tags (None when unlabelled) and its first line."""

    words: list[str]
    tags: list[str] | None
    line: int


def check_tag(tag: str, scheme: TagScheme | None = None) -> bool:
    """Whether `tag` is O or PREFIX-TYPE with a prefix of `scheme` (any scheme's: B, I, E, S, M, L, U, if None)."""
    return is_tag(tag) if scheme is None else scheme.allows(tag)


def read_conll(path: str, labelled: bool = True, scheme: str | TagScheme | None = None) -> list[TaggedSentence]:
    """Read a CoNLL-style file (columns separated by tabs or spaces; -DOCSTART- lines skipped).

    With `labelled` every line needs at least two columns, word first and tag last (middle columns, such
    as CoNLL-2003's POS and chunk tags, are ignored); without it the first column is the word. Tags are O or
    PREFIX-TYPE in one of the schemes of `bert_keras.data.tag_schemes` (IOB1, IOB2, IOE2, IOBES, BMES, BILOU);
    with `scheme`, only that scheme's prefixes are accepted (`detect_scheme` tells a file's scheme).

    Raises:
        InputFileError: an empty file, a file that is not UTF-8, or a line without a tag / with a tag that is not
            O or PREFIX-TYPE (of `scheme`), naming file:line.
    """
    scheme = None if scheme is None else tag_scheme(scheme)
    expected = (f"O or {'/'.join(scheme.prefixes)}-TYPE ({scheme.name})" if scheme is not None
                else f"O or PREFIX-TYPE with a prefix among {', '.join(ANY_PREFIX)}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    sentences: list[TaggedSentence] = []
    words: list[str] = []
    tags: list[str] = []
    start = 0

    def close() -> None:
        if words:
            sentences.append(TaggedSentence(list(words), list(tags) if labelled else None, start))
        words.clear()
        tags.clear()

    for number, line in enumerate(utf8_lines(path), 1):
        columns = line.split()
        if not columns:
            close()
            continue
        if columns[0] == DOCSTART:
            close()
            continue
        if labelled:
            if len(columns) < 2:
                raise InputFileError(f"{path}:{number}: expected a word and a tag separated by a tab or space, "
                                     f"got {line.rstrip()!r}")
            if not check_tag(columns[-1], scheme):
                raise InputFileError(f"{path}:{number}: tag {columns[-1]!r} is not {expected}")
            tags.append(columns[-1])
        if not words:
            start = number
        words.append(columns[0])
    close()
    if not sentences:
        raise InputFileError(f"{path}: no sentences (the file is empty or holds only blank lines)")
    return sentences


def write_conll(path: str, sentences: list[TaggedSentence]) -> None:
    """Write sentences as word<TAB>tag lines with a blank line after each sentence."""
    blocks = ["".join(f"{w}\t{t}\n" for w, t in zip(s.words, s.tags or ["O"] * len(s.words))) for s in sentences]
    write_text(path, "\n".join(blocks))
