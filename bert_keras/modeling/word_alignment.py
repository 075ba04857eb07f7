"""Words <-> WordPieces for token classification, in TF ops: one implementation for training, prediction and the
exported NER signature.

Each word is tokenized on its own and its first piece carries the word's label (BERT's NER recipe). A sentence
keeps as many whole words as fit in `max_seq_length - 2` pieces; a word with no pieces (only deleted characters)
and every word after the first one that does not fit are not scored (predicted "O").
Raw text is split into words by BERT's pre-tokenization ("bert") or into characters ("characters"), as
`bert_keras.data.word_splits` describes.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from bert_keras.data.word_splits import check_word_split
from bert_keras.modeling.constrained_decoding import constrained_label_ids
from bert_keras.modeling.entity_decoding import decode_entities
from bert_keras.serving_contract import NER_OUTPUTS
from bert_keras.text import BertTokenizer, normalizer

# Whitespace separates words; punctuation and CJK ideographs are words of their own (kept delimiters).
_KEPT = "(" + normalizer.PUNCTUATION_CLASS + "|" + normalizer.CHINESE_CLASS + ")"
WORD_DELIMITERS = "(" + normalizer.WHITESPACE_CLASS + "| |" + normalizer.PUNCTUATION_CLASS + "|" + \
    normalizer.CHINESE_CLASS + ")"
_NOT_WHITESPACE = "[^" + normalizer.WHITESPACE_CLASS[1:-1] + " ]"
OUTSIDE = "O"


def split_words_with_offsets(texts: tf.Tensor, word_split: str = "bert"):
    """Words of valid-UTF-8 `texts` `[batch]` by `word_split` ("bert" or "characters"): (words, start bytes, end
    bytes), each ragged `[batch, (w)]`."""
    if check_word_split(word_split) == "characters":
        return tf_text.regex_split_with_offsets(texts, "(?s:.)", _NOT_WHITESPACE)
    return tf_text.regex_split_with_offsets(texts, WORD_DELIMITERS, _KEPT)


def char_offsets(texts: tf.Tensor, rows: tf.Tensor, byte_offsets: tf.Tensor) -> tf.Tensor:
    """Character (code point) offsets of byte offsets into `texts[rows]` (valid UTF-8), int32."""
    byte_offsets = tf.cast(byte_offsets, tf.int32)
    prefixes = tf.strings.substr(tf.gather(texts, rows), tf.zeros_like(byte_offsets), byte_offsets)
    return tf.strings.length(prefixes, unit="UTF8_CHAR")


class WordLayout(NamedTuple):
    """Where the words of a batch of sentences land among the packed pieces."""

    token_ids: tf.RaggedTensor  # int32 [batch, (tokens)]: [CLS] pieces of the kept words [SEP]
    rows: tf.Tensor  # int32 [all words]: the sentence of each word
    first_piece: tf.Tensor  # int32 [all words]: position of the word's first piece ([CLS] is 0)
    scored: tf.Tensor  # bool [all words]: the word has pieces and all of them fit


def first_piece_layout(tokenizer: BertTokenizer, words: tf.RaggedTensor, max_seq_length: int) -> WordLayout:
    """Tokenize every word of `words` (string `[batch, (words)]`) on its own and pack each sentence."""
    budget = max_seq_length - 2
    pieces = tokenizer.tokenize(words.flat_values)  # [all words, (pieces)]
    counts = tf.cast(pieces.row_lengths(), tf.int32)
    rows = tf.cast(words.value_rowids(), tf.int32)
    total = tf.cumsum(counts)
    before_row = tf.gather(tf.concat([[0], total], 0), tf.cast(words.row_splits[:-1], tf.int32))
    ends_in_row = total - tf.gather(before_row, rows)  # pieces up to and including each word, per sentence
    # A word is scored when it has pieces and all pieces up to its own fit (then every earlier word fits).
    scored = (counts > 0) & (ends_in_row <= budget)
    kept_pieces = tf.maximum(tf.reduce_max(words.with_flat_values(tf.where(scored, ends_in_row, 0)), axis=1), 0)
    sentence = words.with_flat_values(pieces).merge_dims(1, 2)
    position = tf.ragged.range(sentence.row_lengths())
    sentence = tf.ragged.boolean_mask(sentence, position < tf.cast(kept_pieces, tf.int64)[:, None])
    batch = tf.shape(words.row_splits)[0] - 1
    token_ids = tf.concat([tf.fill([batch, 1], tokenizer.cls_id), tf.cast(sentence, tf.int32),
                           tf.fill([batch, 1], tokenizer.sep_id)], axis=1)
    return WordLayout(token_ids, rows, 1 + ends_in_row - counts, scored)


def encoder_inputs(layout: WordLayout, pad_id: int, width=None) -> dict[str, tf.Tensor]:
    """Dense encoder inputs of a layout, padded to the longest sentence (or to `width`)."""
    token_ids = layout.token_ids
    shape = None if width is None else tf.stack([tf.shape(token_ids.row_splits)[0] - 1, width])
    mask = tf.ones_like(token_ids)
    return {"token_ids": token_ids.to_tensor(pad_id, shape=shape),
            "segment_ids": tf.zeros_like(mask).to_tensor(0, shape=shape),
            "padding_mask": mask.to_tensor(0, shape=shape)}


def token_targets(layout: WordLayout, word_label_ids: tf.Tensor, shape) -> tuple[tf.Tensor, tf.Tensor]:
    """(label ids, weights) `[batch, width]`: each scored word's label at its first piece with weight 1."""
    index = tf.stack([layout.rows, layout.first_piece], axis=1)
    index = tf.boolean_mask(index, layout.scored)
    labels = tf.scatter_nd(index, tf.boolean_mask(tf.cast(word_label_ids, tf.int32), layout.scored), shape)
    weights = tf.scatter_nd(index, tf.ones(tf.shape(index)[:1], tf.float32), shape)
    return labels, weights


def word_predictions(layout: WordLayout, logits: tf.Tensor, outside_id: int) -> dict[str, tf.Tensor]:
    """Per word: its first piece's `logits` `[all words, labels]`, their `probabilities` (softmax),
    `label_ids` (argmax; `outside_id` for words not scored) and `scores` (the label's softmax probability; 0 when
    not scored)."""
    index = tf.stack([layout.rows, tf.where(layout.scored, layout.first_piece, 0)], axis=1)
    word_logits = tf.where(layout.scored[:, None], tf.gather_nd(tf.cast(logits, tf.float32), index), 0.0)
    probabilities = tf.nn.softmax(word_logits)
    label_ids = tf.where(layout.scored, tf.argmax(word_logits, axis=-1, output_type=tf.int32), outside_id)
    scores = tf.where(layout.scored, tf.reduce_max(probabilities, axis=-1), 0.0)
    return {"logits": word_logits, "probabilities": probabilities, "label_ids": label_ids, "scores": scores}


def tag_text_outputs(model: keras.Model, tokenizer: BertTokenizer, max_seq_length: int, label_names: list[str],
                     text: tf.Tensor, scheme=None, word_split: str = "bert",
                     constrained_scheme=None) -> dict[str, tf.Tensor]:
    """Raw text `[batch]` -> what the exported NER signature returns:

    - per word: `words`, `labels`, `label_ids`, `scores`, `start`/`end` (character offsets: `text[start:end] ==
      word` on the text decoded with errors="replace"), `logits` `[batch, words, labels]`, `num_words` `[batch]`;
    - per entity, decoded from the word labels by `scheme` (a `TagScheme`; None: conlleval's rules): `entity_types`,
      `entity_texts`, `entity_start`/`entity_end` (character offsets), `entity_scores` (the mean of its words'
      scores), `num_entities` `[batch]`.

    The word labels are each word's argmax, or with `constrained_scheme` (a `TagScheme`) the best sequence whose
    entity tags that scheme keeps whole (`constrained_decoding.constrained_label_ids`); a word's score is its
    label's softmax probability. Rows are padded with "", -1 and 0.
    """
    outside = label_names.index(OUTSIDE) if OUTSIDE in label_names else 0
    text = normalizer.sanitize_utf8(text)
    words, starts, ends = split_words_with_offsets(text, word_split)
    layout = first_piece_layout(tokenizer, words, max_seq_length)
    logits = model(encoder_inputs(layout, tokenizer.pad_id), training=False)
    predicted = word_predictions(layout, logits, outside)
    start = char_offsets(text, layout.rows, starts.flat_values)
    end = char_offsets(text, layout.rows, ends.flat_values)

    def dense(values, default):
        return words.with_flat_values(values).to_tensor(default)

    word_logits = words.with_flat_values(predicted["logits"]).to_tensor(
        0.0, shape=tf.stack([tf.shape(text)[0], -1, len(label_names)]))
    num_words = tf.cast(words.row_lengths(), tf.int32)
    flat_label_ids, flat_scores = predicted["label_ids"], predicted["scores"]
    if constrained_scheme is not None:
        chosen = constrained_label_ids(word_logits, num_words, label_names, constrained_scheme,
                                       dense(layout.scored, False))
        flat_label_ids = tf.RaggedTensor.from_tensor(chosen, lengths=num_words).flat_values
        flat_scores = tf.where(layout.scored, tf.gather(predicted["probabilities"], flat_label_ids, batch_dims=1), 0.0)
    label_ids, scores = dense(flat_label_ids, -1), dense(flat_scores, 0.0)
    word_start, word_end = dense(start, -1), dense(end, -1)
    entities = decode_entities(label_ids, num_words, label_names, scheme)
    first, last = entities["first"], entities["last"]
    entity_rows = tf.cast(first.value_rowids(), tf.int32)

    def at_word(values, word_index):  # values [batch, words] at each entity's word
        return tf.gather_nd(values, tf.stack([entity_rows, word_index.flat_values], axis=1))

    entity_start, entity_end = at_word(word_start, first), at_word(word_end, last)
    running = tf.pad(tf.cumsum(scores, axis=1), [[0, 0], [1, 0]])  # running[:, i] = sum of the first i scores
    entity_scores = ((at_word(running, last + 1) - at_word(running, first))
                     / tf.cast(last.flat_values - first.flat_values + 1, tf.float32))
    entity_texts = tf.strings.substr(tf.gather(text, entity_rows), entity_start, entity_end - entity_start,
                                     unit="UTF8_CHAR")

    def per_entity(values, default):
        return first.with_flat_values(values).to_tensor(default)

    out = NER_OUTPUTS
    return {out.words: dense(words.flat_values, ""),
            out.labels: dense(tf.gather(tf.constant(label_names), flat_label_ids), ""),
            out.label_ids: label_ids, out.scores: scores, out.start: word_start, out.end: word_end,
            out.logits: word_logits, out.num_words: num_words,
            out.entity_types: entities["type"].to_tensor(""), out.entity_texts: per_entity(entity_texts, ""),
            out.entity_start: per_entity(entity_start, -1), out.entity_end: per_entity(entity_end, -1),
            out.entity_scores: per_entity(entity_scores, 0.0),
            out.num_entities: tf.cast(first.row_lengths(), tf.int32)}
