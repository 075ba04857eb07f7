"""Token classification data: words with tags -> WordPiece features (first piece labelled) -> tf.data, and back.

Each word is tokenized on its own; its first WordPiece carries the word's label with weight 1 and the other
pieces weight 0 (left out of the loss and the metrics), as in BERT's NER recipe. Predictions come back to words
by reading the label at each word's first piece.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Sequence

import numpy as np
import tensorflow as tf

from bert_keras.data.conll import TaggedSentence
from bert_keras.data.labels import LabelVocabulary
from bert_keras.data.ragged_rows import padded_batches, variable_length_dataset
from bert_keras.data.tag_schemes import TagScheme, detect_scheme, tag_scheme
from bert_keras.data.word_pieces import word_piece_table
from bert_keras.errors import InputFileError, InvalidInputError
from bert_keras.text.tokenizer import BertTokenizer

OUTSIDE = "O"


@dataclasses.dataclass
class NerFeatures:
    """Model inputs for tagged sentences (lists, one entry per sentence; [CLS] and [SEP] included).

    Attributes:
        token_ids: WordPiece ids.
        label_ids: the word's label id at its first piece, 0 elsewhere.
        weights: 1.0 at each word's first piece, 0.0 elsewhere.
        word_starts: the position of each word's first piece, -1 for words with no pieces or cut by truncation
            (predicted as "O").
        truncated_words: how many words were cut because the sentence exceeds `max_seq_length` pieces.
    """

    token_ids: list[list[int]]
    label_ids: list[list[int]]
    weights: list[list[float]]
    word_starts: list[list[int]]
    truncated_words: int = 0

    def __len__(self) -> int:
        return len(self.token_ids)


def align_labels(pieces_per_word: Sequence[Sequence[int]], word_label_ids: Sequence[int] | None,
                 max_seq_length: int, cls_id: int, sep_id: int) -> tuple[list[int], list[int], list[float], list[int]]:
    """[CLS] pieces... [SEP] for one sentence, with the word labels on each word's first piece.

    Returns (token_ids, label_ids, weights, word_starts). Words whose pieces do not all fit in
    `max_seq_length - 2` positions are dropped whole (word_start -1).
    """
    budget = max_seq_length - 2
    token_ids, label_ids, weights, starts = [cls_id], [0], [0.0], []
    for index, pieces in enumerate(pieces_per_word):
        if not pieces or len(token_ids) - 1 + len(pieces) > budget:
            starts.append(-1)
            if pieces:
                budget = len(token_ids) - 1  # nothing after a cut word: keep the sentence contiguous
            continue
        starts.append(len(token_ids))
        label = 0 if word_label_ids is None else word_label_ids[index]
        token_ids.extend(pieces)
        label_ids.extend([label] + [0] * (len(pieces) - 1))
        weights.extend([1.0] + [0.0] * (len(pieces) - 1))
    token_ids.append(sep_id)
    label_ids.append(0)
    weights.append(0.0)
    return token_ids, label_ids, weights, starts


def tag_vocabulary(sentences: Sequence[TaggedSentence], scheme: str | TagScheme | None = None) -> LabelVocabulary:
    """The tags of training sentences, closed under their scheme's prefixes: "O", then every prefix of the scheme
    (given, or detected from the tags) for every entity type seen, e.g. O, B-LOC, B-PER, I-LOC, I-PER for IOB2
    (a type seen only as B- in training may still continue with I- in new data)."""
    tags = {t for s in sentences for t in (s.tags or [])}
    if not tags:
        raise InvalidInputError("the training sentences have no tags")
    scheme = detect_scheme([sorted(tags)]) if scheme is None else tag_scheme(scheme)
    return LabelVocabulary(scheme.labels(t[2:] for t in tags if t != OUTSIDE))


def ner_features(sentences: Sequence[TaggedSentence], tokenizer: BertTokenizer, max_seq_length: int,
                 labels: LabelVocabulary | None = None, source: str = "") -> NerFeatures:
    """WordPiece features of `sentences` (what `align_labels` gives each sentence, computed with array operations
    over all words at once: no Python loop per word or character); with `labels`, their tags become ids (an unknown
    tag names its word's line as `source:line`: a CoNLL sentence has one word per line from `sentence.line` on)."""
    count = len(sentences)
    words_per_sentence = np.fromiter((len(s.words) for s in sentences), np.int64, count=count)
    words = list(itertools.chain.from_iterable(s.words for s in sentences))
    table = word_piece_table(tokenizer, words)
    sentence_of_word = np.repeat(np.arange(count), words_per_sentence)
    first_word = np.cumsum(words_per_sentence) - words_per_sentence

    # Each word's pieces, counted from its sentence's first piece; a word is kept when it has pieces and all of
    # them fit in the budget (pieces only add up, so everything after the first cut word is cut too).
    pieces = table.lengths[table.word_ids]
    sentence_pieces = np.bincount(sentence_of_word, pieces, minlength=count).astype(np.int64)
    pieces_before_sentence = np.cumsum(sentence_pieces) - sentence_pieces
    through_word = np.cumsum(pieces) - np.repeat(pieces_before_sentence, words_per_sentence)
    kept = (pieces > 0) & (through_word <= max_seq_length - 2)
    word_starts = np.where(kept, 1 + through_word - pieces, -1)  # 1: after [CLS]

    # Output rows: [CLS], the kept words' pieces, [SEP].
    kept_pieces = np.bincount(sentence_of_word, np.where(kept, pieces, 0), minlength=count).astype(np.int64)
    row_lengths = kept_pieces + 2
    row_starts = np.cumsum(row_lengths) - row_lengths
    token_ids = np.zeros(int(row_lengths.sum()), np.int64)
    token_ids[row_starts] = tokenizer.cls_id
    token_ids[row_starts + row_lengths - 1] = tokenizer.sep_id
    kept_words = np.flatnonzero(kept)
    kept_lengths = pieces[kept_words]
    within = np.arange(int(kept_lengths.sum())) - np.repeat(np.cumsum(kept_lengths) - kept_lengths, kept_lengths)
    source_index = np.repeat(table.starts[table.word_ids[kept_words]], kept_lengths) + within
    first_piece = row_starts[sentence_of_word[kept_words]] + word_starts[kept_words]
    token_ids[np.repeat(first_piece, kept_lengths) + within] = table.ids[source_index]

    label_ids = np.zeros_like(token_ids)
    weights = np.zeros(len(token_ids), np.float32)
    weights[first_piece] = 1.0
    if labels is not None:
        word_labels = _tag_ids(sentences, first_word, labels, source)
        label_ids[first_piece] = word_labels[kept_words]

    def rows(values: np.ndarray, starts: np.ndarray) -> list[list]:
        return [row.tolist() for row in np.split(values, starts[1:])] if count else []

    return NerFeatures(rows(token_ids, row_starts), rows(label_ids, row_starts), rows(weights, row_starts),
                       rows(word_starts, first_word), truncated_words=int(np.sum((pieces > 0) & ~kept)))


def _tag_ids(sentences: Sequence[TaggedSentence], first_word: np.ndarray, labels: LabelVocabulary,
             source: str) -> np.ndarray:
    """Every word's tag id, flat; an untagged sentence or an unknown tag is an error naming its line."""
    for sentence in sentences:
        if sentence.tags is None:
            raise InputFileError(f"{source}:{sentence.line}: the sentence has no tags")
        if len(sentence.tags) != len(sentence.words):
            raise InputFileError(f"{source}:{sentence.line}: {len(sentence.words)} words but "
                                 f"{len(sentence.tags)} tags")
    tags = list(itertools.chain.from_iterable(s.tags for s in sentences))
    ids = {}
    for tag in dict.fromkeys(tags):
        if tag not in labels:
            where = tags.index(tag)
            sentence = int(np.searchsorted(first_word, where, side="right")) - 1  # past any empty sentences
            line = sentences[sentence].line + where - int(first_word[sentence])
            labels.id(tag, f"{source}:{line}")  # raises with the vocabulary's message
        ids[tag] = labels.id(tag)
    return np.fromiter(map(ids.__getitem__, tags), np.int64, count=len(tags))


def ner_dataset(features: NerFeatures, batch_size: int = 32, with_labels: bool = True, shuffle: bool = False,
                seed: int = 0, options: tf.data.Options | None = None, pad_to_multiple_of: int = 1,
                max_width: int | None = None) -> tf.data.Dataset:
    """tf.data of (encoder inputs, label_ids, weights) batches padded to each batch's longest sentence (rounded up
    as in `padded_batches`)."""
    ids = features.token_ids
    columns = {"token_ids": ids, "segment_ids": [[0] * len(r) for r in ids],
               "padding_mask": [[1] * len(r) for r in ids]}
    dtypes = {"token_ids": "int32", "segment_ids": "int32", "padding_mask": "int32", "label_ids": "int32",
              "weights": "float32"}
    if with_labels:
        columns.update(label_ids=features.label_ids, weights=features.weights)
    dataset = variable_length_dataset(columns, dtypes)
    if with_labels:
        inputs = ("token_ids", "segment_ids", "padding_mask")
        dataset = dataset.map(lambda row: ({k: row[k] for k in inputs}, row["label_ids"], row["weights"]))
    return padded_batches(dataset, batch_size, shuffle=shuffle, seed=seed, options=options,
                          pad_to_multiple_of=pad_to_multiple_of, max_width=max_width)


def word_tags(token_label_ids: Sequence[np.ndarray], features: NerFeatures, labels: LabelVocabulary
              ) -> list[list[str]]:
    """Per-word tag names from per-token predicted label ids (a word without a first piece gets "O")."""
    outside = OUTSIDE if OUTSIDE in labels else labels.names[0]
    out = []
    for row, starts in zip(token_label_ids, features.word_starts):
        out.append([labels.names[int(row[s])] if s >= 0 else outside for s in starts])
    return out
