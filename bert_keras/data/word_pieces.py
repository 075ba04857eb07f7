"""WordPiece ids of pre-split words (NER words, SQuAD context words), in one batched tokenizer call."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Iterable, Sequence

import numpy as np

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


@dataclasses.dataclass
class WordPieceTable:
    """The WordPiece ids of many words as flat arrays: word `i`'s pieces are `ids[starts[i]:starts[i] + lengths[i]]`.

    Attributes:
        word_ids: for each input word (in order), its row in the table (one row per distinct word).
        ids, starts, lengths: the distinct words' pieces, flat, and each row's offset and length.
    """

    word_ids: np.ndarray
    ids: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray


def word_piece_table(tokenizer: BertTokenizer, words: Sequence[str]) -> WordPieceTable:
    """`word_pieces` as arrays, without a Python loop over the words: each distinct word is tokenized once (in
    batches) and every word maps to its row through C-level dict lookups (MSRA: 2.2M characters, 5k distinct)."""
    distinct = list(dict.fromkeys(words))
    row_of = dict(zip(distinct, itertools.count()))
    flat, lengths = [], []
    for start in range(0, len(distinct), _BATCH):
        ragged = tokenizer.tokenize(distinct[start:start + _BATCH])
        flat.append(ragged.flat_values.numpy().astype(np.int64))
        lengths.append(ragged.row_lengths().numpy().astype(np.int64))
    ids = np.concatenate(flat) if flat else np.zeros(0, np.int64)
    lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    starts = np.cumsum(lengths) - lengths
    word_ids = np.fromiter(map(row_of.__getitem__, words), np.int64, count=len(words))
    return WordPieceTable(word_ids, ids, starts, lengths)
