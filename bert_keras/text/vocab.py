"""WordPiece vocabularies: read vocab.txt and check the special tokens BERT needs."""

from __future__ import annotations

import os

from bert_keras.errors import InputFileError, InvalidInputError
from bert_keras.text.corpus import utf8_lines

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
REQUIRED_TOKENS = SPECIAL_TOKENS[:4]  # every BERT vocab needs these; [MASK] only for masked-LM work


def load_vocab(vocab: str | os.PathLike | list[str] | tuple[str, ...]) -> list[str]:
    """Tokens in id order, from a vocab.txt path (one token per line) or a list.

    Raises InputFileError naming the file (and line) when it is not UTF-8, empty, or lacks [UNK], [CLS], [SEP] or
    [PAD]; InvalidInputError for such a list.
    """
    if isinstance(vocab, (str, os.PathLike)):
        source, tokens, error_class = os.fspath(vocab), utf8_lines(vocab), InputFileError
    else:
        source, tokens, error_class = "vocabulary", list(vocab), InvalidInputError
    if not tokens:
        raise error_class(f"{source}: the vocabulary is empty")
    missing = [t for t in REQUIRED_TOKENS if t not in tokens]
    if missing:
        raise error_class(f"{source}: vocabulary lacks the special tokens {missing}")
    return tokens


def token_to_id(tokens: list[str]) -> dict[str, int]:
    """token -> id; for a duplicated token the last line wins, as in the reference tokenizer."""
    return {token: index for index, token in enumerate(tokens)}
