"""Extractive QA from raw (question, context) strings to the answer span, in TF ops: one implementation for
`BertQuestionAnswerer.answer` and the exported QA signature.

The graph does what `bert_keras.data.squad` + `squad_answers` do in Python, batched: the context is split on
whitespace into words, each word tokenized on its own; the question is cut to `max_query_length` pieces; long
contexts are covered by windows `doc_stride` pieces apart; a span's start must lie in the window where it is most
central; candidates are the top `n_best` start and end logits of each window, spans of at most
`max_answer_length` pieces; the best start + end logit wins. The answer maps back to the exact context characters
(inside a word too, when the word's pieces spell it character for character; otherwise whole words).
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from bert_keras.modeling.word_alignment import char_offsets
from bert_keras.serving_contract import QA_OUTPUTS
from bert_keras.text import BertPacker, BertTokenizer, normalizer

CONTEXT_WHITESPACE = "(" + normalizer.WHITESPACE_CLASS + "| )+"
N_BEST = 20
START, END = "start", "end"  # the question answerer's output names


class AnswerSettings(NamedTuple):
    """How answers are searched: lengths, windows and the no-answer rule (SQuAD 2.0)."""

    max_seq_length: int
    doc_stride: int
    max_query_length: int
    max_answer_length: int
    version_2: bool
    null_score_diff_threshold: float


def _piece_text_lengths(vocabulary: list[str]) -> tuple[list[int], list[int]]:
    """Characters each token spells as a word's first piece, and as a later piece ("##" dropped)."""
    first = [len(t) for t in vocabulary]
    later = [len(t) - 2 if t.startswith("##") else len(t) for t in vocabulary]
    return first, later


class _ContextPieces(NamedTuple):
    """The context's whitespace words and their pieces, flat over the batch."""

    words: tf.RaggedTensor  # [batch, (words)]
    word_start: tf.Tensor  # character offset of every word, int32 [all words]
    word_end: tf.Tensor
    aligned: tf.Tensor  # bool [all words]: its pieces spell exactly its characters
    pieces: tf.RaggedTensor  # [batch, (context pieces)]
    piece_word: tf.Tensor  # global word index of every piece, int32 [all pieces]
    piece_chars: tf.Tensor  # characters the piece spells ("##" dropped after a word's first piece)
    chars_in_word_before: tf.Tensor  # characters of the word's earlier pieces


def _context_pieces(tokenizer: BertTokenizer, context: tf.Tensor, first_lengths, later_lengths) -> _ContextPieces:
    """Split `context` (valid UTF-8) on whitespace and tokenize every word on its own."""
    words, start_bytes, end_bytes = tf_text.regex_split_with_offsets(context, CONTEXT_WHITESPACE)
    rows = tf.cast(words.value_rowids(), tf.int32)
    word_start = char_offsets(context, rows, start_bytes.flat_values)
    word_end = char_offsets(context, rows, end_bytes.flat_values)
    pieces = tokenizer.tokenize(words.flat_values)  # [all words, (pieces)]
    piece_word = tf.cast(pieces.value_rowids(), tf.int32)
    first_of_word = tf.gather(tf.cast(pieces.row_splits[:-1], tf.int32), piece_word)
    piece_number = tf.range(tf.shape(pieces.flat_values)[0]) - first_of_word
    piece_chars = tf.where(piece_number > 0, tf.gather(later_lengths, pieces.flat_values),
                           tf.gather(first_lengths, pieces.flat_values))
    chars_before = tf.cumsum(piece_chars, exclusive=True)
    chars_in_word_before = chars_before - tf.gather(tf.concat([chars_before, [0]], 0), first_of_word)
    spelled = tf.math.unsorted_segment_sum(piece_chars, piece_word, tf.shape(word_start)[0])
    return _ContextPieces(words, word_start, word_end, spelled == word_end - word_start,
                          words.with_flat_values(pieces).merge_dims(1, 2), piece_word, piece_chars,
                          chars_in_word_before)


def _max_context(is_context, piece, window_start, window_length, example, first_piece_of_row, pieces_total):
    """bool [windows, width]: the window gives this context piece its most central position (min of left and
    right context + 0.01 x window length; the first such window on a tie), as BERT's run_squad."""
    centrality = tf.cast(tf.minimum(piece - window_start[:, None],
                                    window_start[:, None] + window_length[:, None] - 1 - piece),
                         tf.float32) + 0.01 * tf.cast(window_length[:, None], tf.float32)
    segments = pieces_total + 1  # a spare segment collects the non-context positions
    global_piece = tf.gather(first_piece_of_row, example)[:, None] + piece
    flat_piece = tf.reshape(tf.where(is_context, global_piece, segments - 1), [-1])
    best = tf.math.unsorted_segment_max(tf.reshape(tf.where(is_context, centrality, -1.0), [-1]),
                                        flat_piece, segments)
    is_best = is_context & (centrality == tf.reshape(tf.gather(best, flat_piece), tf.shape(is_context)))
    window_id = tf.broadcast_to(tf.range(tf.shape(example)[0])[:, None], tf.shape(is_context))
    first_best = tf.math.unsorted_segment_min(tf.reshape(tf.where(is_best, window_id, 2 ** 30), [-1]),
                                              flat_piece, segments)
    return is_best & (window_id == tf.reshape(tf.gather(first_best, flat_piece), tf.shape(is_best)))


def _best_window_spans(start_logits, end_logits, valid_start, valid_end, max_answer_length: int):
    """Per window: the best start + end logit over candidate spans (top-n starts and ends, start <= end <
    start + max_answer_length), -inf if none, and its flat position start * width + end."""
    width = tf.shape(start_logits)[1]
    top = tf.minimum(N_BEST, width)
    valid_start &= start_logits >= tf.math.top_k(start_logits, top).values[:, -1:]
    valid_end &= end_logits >= tf.math.top_k(end_logits, top).values[:, -1:]
    gap = tf.range(width)[None, None, :] - tf.range(width)[None, :, None]  # end - start
    valid = valid_start[:, :, None] & valid_end[:, None, :] & (gap >= 0) & (gap < max_answer_length)
    scores = tf.where(valid, start_logits[:, :, None] + end_logits[:, None, :], float("-inf"))
    flat = tf.reshape(scores, [tf.shape(start_logits)[0], -1])
    return tf.reduce_max(flat, axis=1), tf.argmax(flat, axis=1, output_type=tf.int32)


def _first_in_row(values: tf.Tensor, row_splits: tf.Tensor) -> tf.Tensor:
    """Per ragged row (none empty): the index into `values` of its first maximum."""
    dense = tf.RaggedTensor.from_row_splits(values, row_splits).to_tensor(float("-inf"))
    dense = tf.concat([dense, tf.fill([tf.shape(dense)[0], 1], float("-inf"))], 1)  # no empty axis (empty batch)
    return tf.cast(row_splits[:-1], tf.int32) + tf.argmax(dense, axis=1, output_type=tf.int32)


def _gather_where(values: tf.Tensor, index: tf.Tensor, ok: tf.Tensor) -> tf.Tensor:
    """values[index] where `ok`, a zero value elsewhere (index may then be anything, `values` may be empty)."""
    padded = tf.concat([values, tf.zeros([1], values.dtype)], 0)
    return tf.gather(padded, tf.where(ok, index, tf.shape(values)[0]))


def answer_text_outputs(model: keras.Model, tokenizer: BertTokenizer, settings: AnswerSettings, question: tf.Tensor,
                        context: tf.Tensor) -> dict[str, tf.Tensor]:
    """Question and context strings `[batch]` -> `answer`, `start`/`end` (character offsets in the context decoded
    with errors="replace"; -1 without an answer), `score` (start + end logit; for no answer, the null score) and
    `has_answer`. What the exported QA signature returns."""
    spec = settings
    length = spec.max_seq_length
    first_lengths, later_lengths = _piece_text_lengths(tokenizer.vocabulary)
    packer = BertPacker(length, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id, truncate="waterfall",
                        padding="longest")
    question, context = normalizer.sanitize_utf8(question), normalizer.sanitize_utf8(context)
    query = tokenizer.tokenize(question)[:, :spec.max_query_length]
    query_length = tf.cast(query.row_lengths(), tf.int32)
    ctx = _context_pieces(tokenizer, context, first_lengths, later_lengths)
    total = tf.cast(ctx.pieces.row_lengths(), tf.int32)
    first_piece_of_row = tf.cast(ctx.pieces.row_splits[:-1], tf.int32)

    # Windows: `window` pieces each, `stride` apart, until one reaches the last piece.
    window = length - query_length - 3
    stride = tf.minimum(window, spec.doc_stride)
    windows = tf.ragged.range(1 + (tf.maximum(total - window, 0) + stride - 1) // stride)
    example = tf.cast(windows.value_rowids(), tf.int32)
    window_start = tf.cast(windows.flat_values, tf.int32) * tf.gather(stride, example)
    window_length = tf.minimum(tf.gather(window, example), tf.gather(total, example) - window_start)
    piece_base = tf.gather(first_piece_of_row, example) + window_start
    window_pieces = tf.gather(ctx.pieces.flat_values, tf.ragged.range(piece_base, piece_base + window_length))
    outputs = model(packer(tf.gather(query, example), window_pieces), training=False)
    start_logits, end_logits = outputs[START], outputs[END]

    # Window tokens -> context pieces; candidate spans; the best window of each example.
    offset = tf.gather(query_length, example)[:, None] + 2  # [CLS] question [SEP]
    position = tf.range(tf.shape(start_logits)[1])[None, :]
    piece = window_start[:, None] + position - offset
    is_context = (position >= offset) & (position < offset + window_length[:, None])
    max_context = _max_context(is_context, piece, window_start, window_length, example, first_piece_of_row,
                               tf.shape(ctx.pieces.flat_values)[0])
    window_best, window_argmax = _best_window_spans(start_logits, end_logits, is_context & max_context,
                                                    is_context, spec.max_answer_length)
    chosen = _first_in_row(window_best, tf.cast(windows.row_splits, tf.int32))
    score = tf.gather(window_best, chosen)
    null_score = tf.reduce_min(tf.RaggedTensor.from_row_splits(start_logits[:, 0] + end_logits[:, 0],
                                                               windows.row_splits), axis=1)
    has_span = score > float("-inf")
    width = tf.shape(start_logits)[1]
    start_token, end_token = tf.gather(window_argmax, chosen) // width, tf.gather(window_argmax, chosen) % width

    # Context pieces -> characters.
    base = first_piece_of_row + tf.gather(window_start, chosen) - tf.gather(offset[:, 0], chosen)
    first_global, last_global = base + start_token, base + end_token
    first_word = _gather_where(ctx.piece_word, first_global, has_span)
    last_word = _gather_where(ctx.piece_word, last_global, has_span)
    start_char = _gather_where(ctx.word_start, first_word, has_span) + tf.where(
        _gather_where(ctx.aligned, first_word, has_span),
        _gather_where(ctx.chars_in_word_before, first_global, has_span), 0)
    end_char = tf.where(_gather_where(ctx.aligned, last_word, has_span),
                        _gather_where(ctx.word_start, last_word, has_span) +
                        _gather_where(ctx.chars_in_word_before + ctx.piece_chars, last_global, has_span),
                        _gather_where(ctx.word_end, last_word, has_span))
    has_answer = has_span
    if spec.version_2:
        has_answer &= ~(null_score - score > spec.null_score_diff_threshold)
    start_char = tf.where(has_answer, start_char, -1)
    end_char = tf.where(has_answer, end_char, -1)
    answer = tf.where(has_answer, tf.strings.substr(context, tf.maximum(start_char, 0),
                                                    tf.maximum(end_char - start_char, 0),
                                                    unit="UTF8_CHAR"), "")
    return {QA_OUTPUTS.answer: answer, QA_OUTPUTS.start: start_char, QA_OUTPUTS.end: end_char,
            QA_OUTPUTS.score: tf.where(has_answer, score, null_score), QA_OUTPUTS.has_answer: has_answer}

