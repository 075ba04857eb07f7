"""WordPiece ids of pre-split words (NER words, SQuAD context words), in one batched tokenizer call."""

from __future__ import annotations

from typing import Iterable

from bert_keras.text.tokenizer import BertTokenizer

_BATCH = 4096


def word_pieces(tokenizer: BertTokenizer, words: Iterable[str]) -> dict[str, list[int]]:
    """{word: its WordPiece ids} for every distinct word, tokenized by `tokenizer`.

    BERT splits text on whitespace before anything else, so tokenizing each word alone gives the same pieces as
    tokenizing the whole text. A word that normalises to nothing (e.g. a control character) has no pieces.
    """
    distinct = list(dict.fromkeys(words))
    out: dict[str, list[int]] = {}
    for start in range(0, len(distinct), _BATCH):
        chunk = distinct[start:start + _BATCH]
        ids = tokenizer.tokenize(chunk).to_list()
        out.update(zip(chunk, ids))
    return out
