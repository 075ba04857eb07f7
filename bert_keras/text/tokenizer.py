"""BertTokenizer: BERT's WordPiece tokenization as a Keras layer of TensorFlow ops, equal to the reference."""

from __future__ import annotations

import os
from typing import Any, Sequence

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from bert_keras.errors import InvalidInputError
from bert_keras.text import normalizer
from bert_keras.text.string_layer import StringLayer
from bert_keras.text.vocab import SPECIAL_TOKENS, load_vocab, token_to_id

MODES = ("exact", "tflite")
_SPECIAL_PLACEHOLDER_BASE = 0x10FF00
MAX_CHARS_PER_WORD = 100  # longer words become [UNK], as in BERT
_MAX_UTF8_BYTES_PER_CHAR = 4
# The reference WordPiece decoder's cleanup (cleanup=True), applied to each token with its leading space.
_DECODE_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                   (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def _unique_vocab(tokens: list[str]) -> list[str]:
    """The vocab with earlier copies of duplicated tokens made unmatchable, so the last id wins (as the reference).

    A placeholder starts with U+0000, which normalisation deletes from any input.
    """
    last = token_to_id(tokens)
    return [t if last[t] == i else f"\x00duplicate{i}" for i, t in enumerate(tokens)]


@keras.saving.register_keras_serializable(package="bert_keras")
class BertTokenizer(StringLayer):
    """Text to WordPiece ids in the graph, as transformers' BertTokenizer does it.

    Args:
        vocabulary: path of a vocab.txt or the list of tokens in id order.
        lowercase: lower-case the text (uncased models).
        strip_accents: drop accents (NFD + non-spacing marks); None follows `lowercase`, as in BERT.
        tokenize_chinese_chars: make every CJK ideograph its own word.
        mode: "exact" (default) reproduces the reference on every Unicode code point and keeps special tokens
            written in the text ("[MASK]") whole; "tflite" uses tensorflow_text.FastBertTokenizer, which has
            TFLite kernels but differs from the reference on rare text (see docs/TOKENIZER.md).

    Call: a tf.string tensor `[batch]` -> int32 RaggedTensor `[batch, (tokens)]` (no [CLS]/[SEP]; see BertPacker).
    Exact mode replaces invalid UTF-8 by U+FFFD, which BERT's cleaning deletes (as decoding with
    errors="replace"); tflite mode leaves it to FastBertTokenizer, which makes a word with invalid bytes [UNK].

    Examples:
    ```python
    tokenizer = bert_keras.BertTokenizer(bert_keras.assets.asset_path("minilm") + "/vocab.txt")
    ids = tokenizer(tf.constant(["Naïve café owners."]))  # [[15743, 7668, 5608, 1012]]: transformers' ids
    tokenizer.detokenize(ids)  # [b"naive cafe owners."]
    ```
    """

    def __init__(self, vocabulary: str | os.PathLike | Sequence[str], lowercase: bool = True,
                 strip_accents: bool | None = None, tokenize_chinese_chars: bool = True, mode: str = "exact",
                 **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise InvalidInputError(f"BertTokenizer mode {mode!r} is unknown; expected one of {MODES}")
        self.vocabulary = load_vocab(vocabulary)
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.mode = mode
        self._ids = ids = token_to_id(self.vocabulary)
        self.special_tokens = [t for t in SPECIAL_TOKENS if t in ids]
        self.pad_id, self.unk_id = ids["[PAD]"], ids["[UNK]"]
        self.cls_id, self.sep_id = ids["[CLS]"], ids["[SEP]"]
        self.mask_id = ids.get("[MASK]")
        # Private-use stand-ins for special tokens across normalisation (input private-use text is deleted first).
        self._placeholders = [chr(_SPECIAL_PLACEHOLDER_BASE + i) for i in range(len(self.special_tokens))]
        self._special_pattern = "|".join(_escape(t) for t in self.special_tokens)
        unique = _unique_vocab(self.vocabulary)
        max_bytes = MAX_CHARS_PER_WORD * _MAX_UTF8_BYTES_PER_CHAR
        if mode == "exact":
            self._wordpiece = tf_text.FastWordpieceTokenizer(
                vocab=unique, suffix_indicator="##", max_bytes_per_word=max_bytes, token_out_type=tf.int32,
                unknown_token="[UNK]", no_pretokenization=True)
        else:
            self._wordpiece = tf_text.FastBertTokenizer(
                vocab=unique, suffix_indicator="##", max_bytes_per_word=max_bytes, token_out_type=tf.int32,
                unknown_token="[UNK]", lower_case_nfd_strip_accents=lowercase)
        self._vocab_tensor = tf.constant(self.vocabulary)

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def token_to_id(self, token: str) -> int:
        """Id of a token (the last line wins for duplicates); KeyError naming the token if absent."""
        if token not in self._ids:
            raise KeyError(f"token {token!r} is not in the vocabulary")
        return self._ids[token]

    def _normalize(self, texts: tf.Tensor) -> tf.Tensor:
        return normalizer.normalize(texts, self.lowercase, self.strip_accents, self.tokenize_chinese_chars)

    def _normalize_keeping_specials(self, texts: tf.Tensor) -> tf.Tensor:
        """Normalise around special tokens written in the text; each becomes a one-character placeholder word."""
        # tf_text.regex_split drops everything after a NUL byte. Cleaning deletes U+0001 just as it deletes NUL,
        # and either one breaks a special token written around it, so swapping them changes nothing else.
        texts = tf.strings.regex_replace(texts, "\\x00", "\x01")
        pieces = tf_text.regex_split(texts, self._special_pattern, self._special_pattern)
        flat = pieces.flat_values
        special = tf.zeros_like(flat)
        for token, placeholder in zip(self.special_tokens, self._placeholders):
            special = tf.where(tf.equal(flat, token), placeholder, special)
        flat = tf.where(tf.strings.length(special) > 0, special, self._normalize(flat))
        return tf.strings.reduce_join(pieces.with_flat_values(flat), axis=-1, separator=" ")

    def _restore_specials(self, words: tf.Tensor) -> tf.Tensor:
        for token, placeholder in zip(self.special_tokens, self._placeholders):
            words = tf.where(tf.equal(words, placeholder), token, words)
        return words

    def _words(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """Normalised words of a 1-D string tensor; special tokens written in the text stay whole."""
        if not self.special_tokens:
            return normalizer.split_words(self._normalize(texts))
        has_special = tf.reduce_any(tf.strings.regex_full_match(texts, "(?s).*(" + self._special_pattern + ").*"))
        normalized = tf.cond(has_special, lambda: self._normalize_keeping_specials(texts),
                             lambda: self._normalize(texts))
        words = normalizer.split_words(normalized)
        flat = tf.cond(has_special, lambda: self._restore_specials(words.flat_values),
                       lambda: tf.identity(words.flat_values))
        return words.with_flat_values(flat)

    def tokenize(self, texts) -> tf.RaggedTensor:
        """Token ids `[batch, (tokens)]` of a `[batch]` string tensor (a scalar gives `[(tokens)]`)."""
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        scalar = texts.shape.rank == 0
        if scalar:
            texts = tf.expand_dims(texts, 0)
        if self.mode == "tflite":  # only ops with TFLite kernels; FastBertTokenizer makes invalid UTF-8 [UNK]
            ids = self._wordpiece.tokenize(texts)
        else:
            words = self._words(normalizer.sanitize_utf8(texts))
            flat_words = words.flat_values
            too_long = tf.strings.length(flat_words, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
            flat_words = tf.where(too_long, tf.constant("[UNK]"), flat_words)
            pieces = self._wordpiece.tokenize(flat_words)
            ids = words.with_flat_values(pieces).merge_dims(1, 2)
        return ids[0] if scalar else ids

    def call(self, texts):
        return self.tokenize(texts)

    def detokenize(self, ids, skip_special_tokens: bool = True, cleanup: bool = True) -> tf.Tensor:
        """Ids (ragged or padded dense `[batch, length]`) back to text, as the reference decoder writes it.

        Every token but the first is glued to its predecessor if it starts with "##" (prefix dropped) and
        joined with a space otherwise; special tokens are dropped unless `skip_special_tokens` is False.
        `cleanup` applies the reference's WordPiece-decoder cleanup to each token with its leading space, as
        the reference does (so "it ' s" stays, "word ." becomes "word."), not to the joined text.
        """
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(ids))
        ids = tf.cast(ids, tf.int32)
        if skip_special_tokens:
            special = tf.constant([self.token_to_id(t) for t in self.special_tokens], tf.int32)
            keep = tf.reduce_all(tf.not_equal(tf.expand_dims(ids.flat_values, -1), special), axis=-1)
            ids = tf.ragged.boolean_mask(ids, ids.with_flat_values(keep))
        tokens = tf.gather(self._vocab_tensor, ids)
        flat = tokens.flat_values
        position = tf.range(tf.size(flat, out_type=tf.int64)) - tf.gather(tokens.row_starts(),
                                                                          tokens.value_rowids())
        glued = tf.where(tf.strings.regex_full_match(flat, "(?s)##.*"), tf.strings.regex_replace(flat, "^##", ""),
                         tf.strings.join([" ", flat]))
        flat = tf.where(position > 0, glued, flat)
        if cleanup:
            for old, new in _DECODE_CLEANUP:
                flat = tf.strings.regex_replace(flat, _escape(old), new)
        return tf.strings.reduce_join(tokens.with_flat_values(flat), axis=-1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(vocabulary=list(self.vocabulary), lowercase=self.lowercase,
                      strip_accents=self.strip_accents, tokenize_chinese_chars=self.tokenize_chinese_chars,
                      mode=self.mode)
        return config


def _escape(literal: str) -> str:
    """`literal` as an RE2 pattern (regex metacharacters backslash-escaped)."""
    return "".join("\\" + c if c in ".?!*+()[]{}^$|\\" else c for c in literal)
