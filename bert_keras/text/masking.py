"""MaskedLMMasker: BERT's masked-LM corruption (15% of tokens; 80% [MASK], 10% random, 10% kept) in dense TF ops.

Runs on padded batches inside tf.data, so every epoch draws new masks (dynamic masking, as RoBERTa showed helps),
and optionally masks whole words (all WordPieces of a word together, as Google's whole-word-masking models).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import keras
import tensorflow as tf

from bert_keras.errors import InputFileError, InvalidInputError
from bert_keras.text.vocab import SPECIAL_TOKENS, load_vocab, token_to_id

CONTINUATION_PREFIX = "##"
RESERVED_PREFIX = "[unused"


def _is_special(token: str) -> bool:
    return token in SPECIAL_TOKENS or (token.startswith(RESERVED_PREFIX) and token.endswith("]"))


@keras.saving.register_keras_serializable(package="bert_keras")
class MaskedLMMasker(keras.layers.Layer):
    """Choose masked-LM targets in packed sequences and corrupt the inputs as BERT pretraining does.

    In each row, `round(mask_rate * n)` of the `n` maskable tokens are chosen (at least one, at most
    `max_predictions`), where maskable means a real (non-padding) token other than [CLS], [SEP], [PAD], [UNK],
    [MASK] and [unusedN]. Counting maskable tokens (Google's script counts [CLS] and [SEP] too) makes the masked
    share exactly `mask_rate` of what can be masked. Of the chosen tokens, `mask_token_rate` become [MASK],
    `random_token_rate` a random non-special vocabulary token, and the rest stay as they are (but are still
    predicted).

    With `whole_word=True` the unit of choice is the word: a token and the "##" pieces that follow it. Words are
    taken in random order while the running count of their tokens stays within the row's budget, so a row may
    get slightly fewer than the budget when the next word does not fit. Where "##" pieces do not mark words
    (Chinese: every character is its own WordPiece token), the input may say where words continue:
    `word_continuation` (1 for a token that continues the previous token's word, as a segmenter found it,
    the way Chinese-BERT-wwm masks jieba/LTP words whole); it then replaces the "##" rule.

    Args:
        vocabulary: vocab.txt path or token list (gives [MASK], the special tokens and the "##" pieces).
        mask_rate: share of maskable tokens to predict.
        max_predictions: the most targets per row: the width of `mask_positions`.
        mask_token_rate: share of targets replaced by [MASK].
        random_token_rate: share of targets replaced by a random token.
        whole_word: choose whole words instead of single WordPieces.

    Call: a dict with int `token_ids` and `padding_mask` `[batch, length]`, optionally int `word_continuation`
    `[batch, length]` (used with `whole_word=True`; other keys pass through), and an
    optional stateless `seed` (int32/int64 `[2]`) for reproducible draws. Returns the dict with `token_ids`
    corrupted plus `mask_positions` (int32 `[batch, max_predictions]`, ascending, 0-padded), `mask_ids` (the
    original ids there, 0-padded) and `mask_weights` (float32, 1.0 for a real target, 0.0 for padding).
    """

    def __init__(self, vocabulary: str | os.PathLike | Sequence[str], mask_rate: float = 0.15,
                 max_predictions: int = 20, mask_token_rate: float = 0.8, random_token_rate: float = 0.1,
                 whole_word: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary = load_vocab(vocabulary)
        ids = token_to_id(self.vocabulary)
        if "[MASK]" not in ids:
            is_file = isinstance(vocabulary, (str, os.PathLike))
            source = os.fspath(vocabulary) if is_file else "vocabulary"
            raise (InputFileError if is_file else InvalidInputError)(
                f"{source}: the vocabulary lacks [MASK], which masked-LM pretraining needs")
        if not 0.0 < mask_rate < 1.0:
            raise InvalidInputError(f"mask_rate must be in (0, 1), got {mask_rate!r}")
        if not isinstance(max_predictions, int) or max_predictions < 1:
            raise InvalidInputError(f"max_predictions must be a positive integer, got {max_predictions!r}")
        if mask_token_rate < 0 or random_token_rate < 0 or mask_token_rate + random_token_rate > 1.0:
            raise InvalidInputError(f"mask_token_rate ({mask_token_rate}) and random_token_rate "
                                    f"({random_token_rate}) must be >= 0 and sum to at most 1")
        self.mask_rate, self.max_predictions = mask_rate, max_predictions
        self.mask_token_rate, self.random_token_rate = mask_token_rate, random_token_rate
        self.whole_word = whole_word
        self.mask_id = ids["[MASK]"]
        special = [_is_special(t) for t in self.vocabulary]
        self._special = tf.constant(special)
        self._continuation = tf.constant([t.startswith(CONTINUATION_PREFIX) for t in self.vocabulary])
        self._random_ids = tf.constant([i for i, s in enumerate(special) if not s], tf.int32)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    def _uniform(self, shape, seed, offset: int) -> tf.Tensor:
        if seed is None:
            return tf.random.uniform(shape)
        seed = tf.cast(seed, tf.int64) + tf.constant([0, offset], tf.int64)
        return tf.random.stateless_uniform(shape, seed)

    def _choose(self, token_ids: tf.Tensor, candidates: tf.Tensor, seed,
                word_continuation: tf.Tensor | None = None) -> tf.Tensor:
        """Boolean `[batch, length]`: the tokens chosen as targets."""
        count = tf.reduce_sum(tf.cast(candidates, tf.float32), axis=1)
        budget = tf.minimum(tf.maximum(tf.round(count * self.mask_rate), 1.0), float(self.max_predictions))
        budget = tf.minimum(budget, count)
        if self.whole_word:
            if word_continuation is None:
                continuation = tf.gather(self._continuation, token_ids) & candidates
            else:
                continuation = tf.cast(word_continuation, tf.bool) & candidates
            previous = tf.pad(candidates[:, :-1], [[0, 0], [1, 0]])
            starts = candidates & ~(continuation & previous)
        else:
            starts = candidates
        word_index = tf.maximum(tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1, 0)
        # A random score per word (the draw at the word's index), shared by its pieces; non-candidates last.
        scores = tf.gather(self._uniform(tf.shape(token_ids), seed, 0), word_index, batch_dims=1)
        scores = tf.where(candidates, scores, 2.0)
        # Tokens of words scoring at most this token's word: the running count in random word order.
        at_most = (scores[:, None, :] <= scores[:, :, None]) & candidates[:, None, :]
        running = tf.reduce_sum(tf.cast(at_most, tf.float32), axis=2)
        return candidates & (running <= budget[:, None])

    def call(self, inputs: dict[str, tf.Tensor], seed=None) -> dict[str, tf.Tensor]:
        token_ids = tf.cast(inputs["token_ids"], tf.int32)
        padding = tf.cast(inputs["padding_mask"], tf.bool)
        candidates = padding & ~tf.gather(self._special, token_ids)
        chosen = self._choose(token_ids, candidates, seed, inputs.get("word_continuation"))

        draw = self._uniform(tf.shape(token_ids), seed, 1)
        to_mask = chosen & (draw < self.mask_token_rate)
        to_random = chosen & (draw >= self.mask_token_rate) & (draw < self.mask_token_rate + self.random_token_rate)
        pick = tf.cast(self._uniform(tf.shape(token_ids), seed, 2) * tf.cast(tf.size(self._random_ids), tf.float32),
                       tf.int32)
        random_ids = tf.gather(self._random_ids, tf.minimum(pick, tf.size(self._random_ids) - 1))
        corrupted = tf.where(to_mask, self.mask_id, tf.where(to_random, random_ids, token_ids))

        length = tf.shape(token_ids)[1]
        position = tf.range(length)[None, :]
        order = tf.argsort(tf.where(chosen, position, position + length), axis=1, stable=True)
        order = tf.pad(order, [[0, 0], [0, tf.maximum(self.max_predictions - length, 0)]])[:, :self.max_predictions]
        weights = tf.gather(tf.cast(chosen, tf.float32), order, batch_dims=1)
        positions = tf.where(weights > 0, order, 0)
        outputs = {key: tf.convert_to_tensor(value) for key, value in inputs.items()}
        outputs.update(
            token_ids=tf.cast(corrupted, inputs["token_ids"].dtype),
            mask_positions=positions,
            mask_ids=tf.where(weights > 0, tf.gather(token_ids, positions, batch_dims=1), 0),
            mask_weights=weights)
        return outputs

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(vocabulary=list(self.vocabulary), mask_rate=self.mask_rate,
                      max_predictions=self.max_predictions, mask_token_rate=self.mask_token_rate,
                      random_token_rate=self.random_token_rate, whole_word=self.whole_word)
        return config
