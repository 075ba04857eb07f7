"""WordPiece vocabularies: read vocab.txt and check the special tokens BERT needs."""

from __future__ import annotations

import os

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
REQUIRED_TOKENS = SPECIAL_TOKENS[:4]  # every BERT vocab needs these; [MASK] only for masked-LM work


def load_vocab(vocab: str | os.PathLike | list[str] | tuple[str, ...]) -> list[str]:
    """Tokens in id order, from a vocab.txt path (one token per line) or a list.

    Raises ValueError naming the file when it is empty, or lacks [UNK], [CLS], [SEP] or [PAD].
    """
    if isinstance(vocab, (str, os.PathLike)):
        source = os.fspath(vocab)
        try:
            with open(source, encoding="utf-8") as f:
                tokens = [line.rstrip("\n").rstrip("\r") for line in f]
        except UnicodeDecodeError as error:
            raise ValueError(f"{source}: not UTF-8 ({error})") from None
    else:
        source, tokens = "vocabulary", list(vocab)
    if not tokens:
        raise ValueError(f"{source}: the vocabulary is empty")
    missing = [t for t in REQUIRED_TOKENS if t not in tokens]
    if missing:
        raise ValueError(f"{source}: vocabulary lacks the special tokens {missing}")
    return tokens


def token_to_id(tokens: list[str]) -> dict[str, int]:
    """token -> id; for a duplicated token the last line wins, as in the reference tokenizer."""
    return {token: index for index, token in enumerate(tokens)}
