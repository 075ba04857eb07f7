"""Token classification data: words with tags -> WordPiece features (first piece labelled) -> tf.data, and back.

Each word is tokenized on its own; its first WordPiece carries the word's label with weight 1 and the other
pieces weight 0 (left out of the loss and the metrics), as in BERT's NER recipe. Predictions come back to words
by reading the label at each word's first piece.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import tensorflow as tf

from bert_keras.data.conll import TaggedSentence
from bert_keras.data.labels import LabelVocabulary
from bert_keras.data.ragged_rows import padded_batches, variable_length_dataset
from bert_keras.data.tag_schemes import TagScheme, detect_scheme, tag_scheme
from bert_keras.data.word_pieces import word_pieces
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
    """WordPiece features of `sentences`; with `labels`, their tags become ids (an unknown tag names its word's
    line as `source:line`: a CoNLL sentence has one word per line from `sentence.line` on)."""
    pieces = word_pieces(tokenizer, (w for s in sentences for w in s.words))
    features = NerFeatures([], [], [], [])
    for sentence in sentences:
        label_ids = None
        if labels is not None:
            if sentence.tags is None:
                raise InputFileError(f"{source}:{sentence.line}: the sentence has no tags")
            label_ids = [labels.id(tag, f"{source}:{sentence.line + offset}")
                         for offset, tag in enumerate(sentence.tags)]
        ids, label_row, weight_row, starts = align_labels(
            [pieces[w] for w in sentence.words], label_ids, max_seq_length, tokenizer.cls_id, tokenizer.sep_id)
        features.token_ids.append(ids)
        features.label_ids.append(label_row)
        features.weights.append(weight_row)
        features.word_starts.append(starts)
        features.truncated_words += sum(1 for s, w in zip(starts, sentence.words) if s < 0 and pieces[w])
    return features


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
