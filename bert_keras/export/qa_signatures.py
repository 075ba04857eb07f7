"""Serving signatures of a fine-tuned question answerer: (question, context) strings -> the answer span.

The graph does what `bert_keras.data.squad` + `squad_answers` do in Python, batched: the context is split on
whitespace into words, each word tokenized on its own; the question is cut to `max_query_length` pieces; long
contexts are covered by windows `doc_stride` pieces apart; a span's start must lie in the window where it is most
central; candidates are the top `n_best` start and end logits of each window, spans of at most
`max_answer_length` pieces; the best start + end logit wins. The answer maps back to the exact context characters
(inside a word too, when the word's pieces spell it character for character; otherwise whole words).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_text as tf_text

from bert_keras.export.signatures import Endpoint, TaskSignatures, char_offsets, clean_texts, text_spec
from bert_keras.modeling.question_answerer import END, START
from bert_keras.text import BertPacker, normalizer

QUESTION, CONTEXT = "question", "context"
CONTEXT_WHITESPACE = "(" + normalizer.WHITESPACE_CLASS + "| )+"
N_BEST = 20


def _piece_text_lengths(vocabulary: list[str]) -> tuple[list[int], list[int]]:
    """Characters each token spells as a word's first piece, and as a later piece ("##" dropped)."""
    first = [len(t) for t in vocabulary]
    later = [len(t) - 2 if t.startswith("##") else len(t) for t in vocabulary]
    return first, later


def _first_in_row(values: tf.Tensor, row_splits: tf.Tensor) -> tf.Tensor:
    """Per ragged row (none empty): the index into `values` of its first maximum."""
    dense = tf.RaggedTensor.from_row_splits(values, row_splits).to_tensor(float("-inf"))
    dense = tf.concat([dense, tf.fill([tf.shape(dense)[0], 1], float("-inf"))], 1)  # no empty axis (empty batch)
    return tf.cast(row_splits[:-1], tf.int32) + tf.argmax(dense, axis=1, output_type=tf.int32)


def _gather_where(values: tf.Tensor, index: tf.Tensor, ok: tf.Tensor) -> tf.Tensor:
    """values[index] where `ok`, a zero value elsewhere (index may then be anything, `values` may be empty)."""
    padded = tf.concat([values, tf.zeros([1], values.dtype)], 0)
    return tf.gather(padded, tf.where(ok, index, tf.shape(values)[0]))


class QuestionAnsweringSignatures(TaskSignatures):
    """`serving_default`: question, context `[batch]` -> `answer` (string), `start`/`end` (character offsets in
    the context decoded with errors="replace"; -1 when there is no answer), `score` (start + end logit; for no
    answer, the null score) and `has_answer`. `predict_ids`: encoder inputs -> `start_logits`, `end_logits`.

    Args:
        model: a `BertQuestionAnswerer`.
        tokenizer: its `BertTokenizer`.
        spec: the `TaskSpec` (max_seq_length, doc_stride, max_query_length, max_answer_length, version_2,
            null_score_diff_threshold).
    """

    def __init__(self, model, tokenizer, spec):
        super().__init__(model, tokenizer, spec.max_seq_length)
        self.spec = spec
        self.packer = BertPacker(spec.max_seq_length, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id,
                                 truncate="waterfall", padding="longest")

    def ids_outputs(self, inputs, outputs) -> dict[str, tf.Tensor]:
        return {"start_logits": outputs[START], "end_logits": outputs[END]}

    def text_endpoint(self) -> Endpoint:
        model, tokenizer, packer, spec = self.model, self.tokenizer, self.packer, self.spec
        first_lengths, later_lengths = _piece_text_lengths(tokenizer.vocabulary)
        length = spec.max_seq_length

        def serve(question, context):
            question, context = clean_texts(question), clean_texts(context)
            query = tokenizer.tokenize(question)[:, :spec.max_query_length]
            query_length = tf.cast(query.row_lengths(), tf.int32)

            # Context words (whitespace) and their pieces, each word tokenized on its own.
            words, word_start_bytes, word_end_bytes = tf_text.regex_split_with_offsets(context, CONTEXT_WHITESPACE)
            word_rows = tf.cast(words.value_rowids(), tf.int32)
            word_start = char_offsets(context, word_rows, word_start_bytes.flat_values)
            word_end = char_offsets(context, word_rows, word_end_bytes.flat_values)
            word_chars = word_end - word_start
            pieces = tokenizer.tokenize(words.flat_values)  # [all words, (pieces)]
            piece_word = tf.cast(pieces.value_rowids(), tf.int32)  # global word of every piece
            piece_number = tf.range(tf.shape(pieces.flat_values)[0]) - tf.gather(
                tf.cast(pieces.row_splits[:-1], tf.int32), piece_word)
            piece_chars = tf.where(piece_number > 0, tf.gather(later_lengths, pieces.flat_values),
                                   tf.gather(first_lengths, pieces.flat_values))
            chars_before = tf.cumsum(piece_chars, exclusive=True)
            chars_in_word_before = chars_before - tf.gather(
                tf.concat([chars_before, [0]], 0), tf.gather(tf.cast(pieces.row_splits[:-1], tf.int32), piece_word))
            # A word is aligned piece by piece when its pieces spell exactly as many characters as it has.
            spelled = tf.math.unsorted_segment_sum(piece_chars, piece_word, tf.shape(word_chars)[0])
            aligned = spelled == word_chars
            context_pieces = words.with_flat_values(pieces).merge_dims(1, 2)  # [batch, (context pieces)]
            total = tf.cast(context_pieces.row_lengths(), tf.int32)
            first_piece_of_row = tf.cast(context_pieces.row_splits[:-1], tf.int32)

            # Windows: `window` pieces each, `stride` apart, until one reaches the last piece.
            window = length - query_length - 3
            stride = tf.minimum(window, spec.doc_stride)
            count = 1 + (tf.maximum(total - window, 0) + stride - 1) // stride
            windows = tf.ragged.range(count)
            example = tf.cast(windows.value_rowids(), tf.int32)
            window_start = tf.cast(windows.flat_values, tf.int32) * tf.gather(stride, example)
            window_length = tf.minimum(tf.gather(window, example), tf.gather(total, example) - window_start)
            piece_base = tf.gather(first_piece_of_row, example) + window_start
            window_index = tf.ragged.range(piece_base, piece_base + window_length)
            inputs = packer(tf.gather(query, example), tf.gather(context_pieces.flat_values, window_index))
            outputs = model(inputs, training=False)
            start_logits, end_logits = outputs[START], outputs[END]
            width = tf.shape(start_logits)[1]

            # Which window tokens are context pieces, and which window gives each piece its most context.
            offset = tf.gather(query_length, example)[:, None] + 2
            position = tf.range(width)[None, :]
            piece = window_start[:, None] + position - offset  # context piece index within its example
            is_context = (position >= offset) & (position < offset + window_length[:, None])
            centrality = tf.cast(tf.minimum(piece - window_start[:, None],
                                            window_start[:, None] + window_length[:, None] - 1 - piece),
                                 tf.float32) + 0.01 * tf.cast(window_length[:, None], tf.float32)
            global_piece = tf.where(is_context, tf.gather(first_piece_of_row, example)[:, None] + piece, 0)
            segments = tf.shape(context_pieces.flat_values)[0] + 1  # one spare segment for non-context tokens
            flat_piece = tf.reshape(tf.where(is_context, global_piece, segments - 1), [-1])
            best = tf.math.unsorted_segment_max(tf.reshape(tf.where(is_context, centrality, -1.0), [-1]),
                                                flat_piece, segments)
            window_id = tf.broadcast_to(tf.range(tf.shape(example)[0])[:, None], tf.shape(is_context))
            is_best = is_context & (centrality == tf.reshape(tf.gather(best, flat_piece), tf.shape(is_context)))
            first_best = tf.math.unsorted_segment_min(tf.reshape(tf.where(is_best, window_id, 2 ** 30), [-1]),
                                                      flat_piece, segments)
            max_context = is_best & (window_id == tf.reshape(tf.gather(first_best, flat_piece), tf.shape(is_best)))

            # Candidate spans: top-n starts and ends, start <= end < start + max_answer_length.
            top = tf.minimum(N_BEST, width)
            start_top = start_logits >= tf.math.top_k(start_logits, top).values[:, -1:]
            end_top = end_logits >= tf.math.top_k(end_logits, top).values[:, -1:]
            valid_start = is_context & max_context & start_top
            valid_end = is_context & end_top
            gap = tf.range(width)[None, None, :] - tf.range(width)[None, :, None]  # end - start
            valid = valid_start[:, :, None] & valid_end[:, None, :] & (gap >= 0) & (gap < spec.max_answer_length)
            span_score = tf.where(valid, start_logits[:, :, None] + end_logits[:, None, :], float("-inf"))
            flat_scores = tf.reshape(span_score, [tf.shape(example)[0], -1])
            window_best = tf.reduce_max(flat_scores, axis=1)
            window_argmax = tf.argmax(flat_scores, axis=1, output_type=tf.int32)
            chosen = _first_in_row(window_best, tf.cast(windows.row_splits, tf.int32))  # a window per example
            score = tf.gather(window_best, chosen)
            has_span = score > float("-inf")
            flat_pos = tf.gather(window_argmax, chosen)
            start_token, end_token = flat_pos // width, flat_pos % width
            null_rows = tf.RaggedTensor.from_row_splits(start_logits[:, 0] + end_logits[:, 0], windows.row_splits)
            null_score = tf.reduce_min(null_rows, axis=1)

            # Tokens -> context pieces -> characters.
            window_of = tf.gather(window_start, chosen) - tf.gather(offset[:, 0], chosen)
            first_global = first_piece_of_row + window_of + start_token
            last_global = first_piece_of_row + window_of + end_token
            first_word = _gather_where(piece_word, first_global, has_span)
            last_word = _gather_where(piece_word, last_global, has_span)
            start_char = _gather_where(word_start, first_word, has_span) + tf.where(
                _gather_where(aligned, first_word, has_span),
                _gather_where(chars_in_word_before, first_global, has_span), 0)
            end_char = tf.where(_gather_where(aligned, last_word, has_span),
                                _gather_where(word_start, last_word, has_span) +
                                _gather_where(chars_in_word_before + piece_chars, last_global, has_span),
                                _gather_where(word_end, last_word, has_span))
            has_answer = has_span
            if spec.version_2:
                has_answer &= ~(null_score - score > spec.null_score_diff_threshold)
            start_char = tf.where(has_answer, start_char, -1)
            end_char = tf.where(has_answer, end_char, -1)
            answer = tf.where(has_answer, tf.strings.substr(context, tf.maximum(start_char, 0),
                                                            tf.maximum(end_char - start_char, 0),
                                                            unit="UTF8_CHAR"), "")
            return {"answer": answer, "start": start_char, "end": end_char,
                    "score": tf.where(has_answer, score, null_score), "has_answer": has_answer}

        return serve, self.text_specs()

    def text_specs(self) -> list[tf.TensorSpec]:
        return [text_spec(QUESTION), text_spec(CONTEXT)]
