"""BertPacker: one or two token-id segments -> token_ids, segment_ids, padding_mask, in plain TF ops.

Truncation and packing use only dense core ops (gather, where, comparisons), no tf-text trimmer ops and no
ragged concatenation, so the same graph runs in TF Serving 2.12-2.19 and converts to TFLite.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from bert_keras.errors import InvalidInputError
from bert_keras.serving_contract import PADDING_MASK, SEGMENT_IDS, TOKEN_IDS
from bert_keras.text.string_layer import StringLayer

TRUNCATIONS = ("round_robin", "longest_first", "waterfall")
PADDINGS = ("max_length", "longest")


def padded_width(longest, multiple: int, limit: int):
    """`longest` rounded up to a multiple of `multiple`, but not past `limit` (nor below `longest`).

    Batches padded this way take few distinct widths (4 for multiple 32 and limit 128), so XLA and TPUs compile
    few programs; multiple 1 is plain pad-to-longest.
    """
    if multiple == 1:
        return longest
    return tf.maximum(longest, tf.minimum((longest + multiple - 1) // multiple * multiple, limit))


def _as_ragged(segment) -> tf.RaggedTensor:
    if isinstance(segment, tf.RaggedTensor):
        return segment
    return tf.ragged.constant(segment) if isinstance(segment, (list, tuple)) else tf.RaggedTensor.from_tensor(segment)


@keras.saving.register_keras_serializable(package="bert_keras")
class BertPacker(StringLayer):
    """[CLS] A [SEP] (B [SEP]) with truncation and padding.

    Args:
        sequence_length: the longest packed sequence, special tokens included.
        cls_id, sep_id, pad_id: ids of [CLS], [SEP], [PAD].
        truncate: how two segments share the budget (one segment is simply cut):
            "longest_first" (default) is transformers' / HF tokenizers': the shorter segment (the first on a tie)
            keeps at most floor(budget / 2) and the other the rest, so ids equal the reference's.
            "round_robin" is Google BERT's truncate_seq_pair (and keras-hub's): pop from the longer segment, the
            second on a tie, so two long segments keep ceil / floor halves, the first the larger. The two differ
            only for an odd budget with both segments long. "waterfall" trims the second segment first.
        padding: "max_length" pads every row to `sequence_length`; "longest" pads to the longest packed row
            of the batch (never beyond `sequence_length`), so short batches cost less.
        tail_tokens: when a single segment is cut, keep its last `tail_tokens` tokens and as many leading ones
            as fit ("head + tail" truncation: long reviews often conclude at the end). 0 (default): keep the head.
            Pairs always keep the heads of both segments.
        pad_to_multiple_of: with padding "longest", round the width up to a multiple of this (capped at
            `sequence_length`), so batches come in few shapes: what XLA (`--xla`) and TPUs need to compile a
            program per shape only a few times. 1 (default): exactly the longest row.

    Call: `first` (and optional `second`) int RaggedTensors `[batch, (tokens)]` -> dict of int32 `[batch, length]`
    tensors `token_ids`, `segment_ids` (0 for [CLS] A [SEP], 1 for B [SEP]) and `padding_mask` (1 = token).

    Examples:
    ```python
    packer = bert_keras.BertPacker(sequence_length=8, cls_id=101, sep_id=102, padding="max_length")
    packer(tf.ragged.constant([[7, 8, 9, 10, 11]]), tf.ragged.constant([[20, 21, 22]]))["token_ids"]
    # [[101, 7, 8, 9, 102, 20, 21, 102]]: longest first, as transformers truncates pairs
    ```
    """

    def __init__(self, sequence_length: int, cls_id: int, sep_id: int, pad_id: int = 0,
                 truncate: str = "longest_first", padding: str = "max_length", tail_tokens: int = 0,
                 pad_to_multiple_of: int = 1, **kwargs):
        super().__init__(**kwargs)
        if truncate not in TRUNCATIONS:
            raise InvalidInputError(f"BertPacker truncate {truncate!r} is unknown; expected one of {TRUNCATIONS}")
        if padding not in PADDINGS:
            raise InvalidInputError(f"BertPacker padding {padding!r} is unknown; expected one of {PADDINGS}")
        if not isinstance(sequence_length, int) or sequence_length < 3:
            raise InvalidInputError(f"BertPacker sequence_length must be an integer >= 3 ([CLS] x [SEP]), "
                                    f"got {sequence_length!r}")
        if not isinstance(tail_tokens, int) or not 0 <= tail_tokens <= sequence_length - 2:
            raise InvalidInputError(f"BertPacker tail_tokens must be an integer in [0, {sequence_length - 2}], "
                                    f"got {tail_tokens!r}")
        self.sequence_length, self.truncate, self.padding = sequence_length, truncate, padding
        if not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1:
            raise InvalidInputError(f"BertPacker pad_to_multiple_of must be an integer >= 1, got "
                                    f"{pad_to_multiple_of!r}")
        self.tail_tokens = tail_tokens
        self.pad_to_multiple_of = pad_to_multiple_of
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id

    def _lengths(self, first_len, second_len):
        """Kept lengths of both segments under the budget (second_len None for one segment)."""
        if second_len is None:
            return tf.minimum(first_len, self.sequence_length - 2), None
        budget = self.sequence_length - 3
        if self.truncate == "round_robin":
            first = tf.minimum(first_len, tf.maximum((budget + 1) // 2, budget - second_len))
        elif self.truncate == "longest_first":
            half = budget // 2
            first = tf.where(first_len <= second_len, tf.minimum(first_len, half),
                             tf.minimum(first_len, budget - tf.minimum(second_len, half)))
        else:
            first = tf.minimum(first_len, budget)
        return first, tf.minimum(second_len, budget - first)

    @staticmethod
    def _gather(segment: tf.RaggedTensor, offset, positions, pad_id: int):
        """segment[row, positions - offset] with any out-of-range index clamped (callers mask those)."""
        values = tf.concat([tf.cast(segment.values, tf.int32), tf.constant([pad_id], tf.int32)], 0)
        starts = tf.cast(segment.row_splits[:-1], tf.int32)[:, None]
        index = tf.clip_by_value(starts + positions - offset, 0, tf.shape(values)[0] - 1)
        return tf.gather(values, index)

    def call(self, first, second=None) -> dict[str, tf.Tensor]:
        first = _as_ragged(first)
        first_len = tf.cast(first.row_lengths(), tf.int32)
        second_len = None
        if second is not None:
            second = _as_ragged(second)
            second_len = tf.cast(second.row_lengths(), tf.int32)
        keep_first, keep_second = self._lengths(first_len, second_len)
        total = keep_first + 2 + (0 if second is None else keep_second + 1)
        width = self.sequence_length if self.padding == "max_length" else padded_width(
            tf.reduce_max(tf.concat([total, [2]], 0)), self.pad_to_multiple_of, self.sequence_length)
        positions = tf.range(width, dtype=tf.int32)[None, :]
        kf, tot = keep_first[:, None], total[:, None]
        tokens = tf.fill(tf.shape(positions + kf), tf.constant(self.pad_id, tf.int32))
        in_first = (positions >= 1) & (positions <= kf)
        first_positions = positions
        if self.tail_tokens and second is None:
            # Positions past the head read from the tail: shift them by the number of tokens cut (0 if none).
            head = kf - tf.minimum(self.tail_tokens, kf)
            first_positions = tf.where(positions > head, positions + (first_len[:, None] - kf), positions)
        tokens = tf.where(in_first, self._gather(first, 1, first_positions, self.pad_id), tokens)
        tokens = tf.where(positions == 0, self.cls_id, tokens)
        tokens = tf.where(positions == kf + 1, self.sep_id, tokens)
        segments = tf.zeros_like(tokens)
        if second is not None:
            in_second = (positions >= kf + 2) & (positions < tot - 1)
            tokens = tf.where(in_second, self._gather(second, kf + 2, positions, self.pad_id), tokens)
            tokens = tf.where(positions == tot - 1, self.sep_id, tokens)
            segments = tf.cast((positions >= kf + 2) & (positions < tot), tf.int32)
        mask = tf.cast(positions < tot, tf.int32)
        return {TOKEN_IDS: tokens, SEGMENT_IDS: segments, PADDING_MASK: mask}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(sequence_length=self.sequence_length, cls_id=self.cls_id, sep_id=self.sep_id,
                      pad_id=self.pad_id, truncate=self.truncate, padding=self.padding, tail_tokens=self.tail_tokens,
                      pad_to_multiple_of=self.pad_to_multiple_of)
        return config
