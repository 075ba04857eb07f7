"""BERT's text normalisation and pre-tokenisation as TensorFlow string ops (no trimmer or Python ops).

Reproduces the reference tokenizer (Hugging Face's BertNormalizer + BertPreTokenizer, i.e. transformers'
BertTokenizer) character for character: delete control/format/private-use characters, map whitespace to
spaces, space out CJK ideographs, optionally strip accents (NFD, drop non-spacing marks) and lower-case,
then split on whitespace and punctuation. Character classes come from `unicode_tables`, which was derived
from the reference one code point at a time, so Unicode-version differences between RE2/ICU and the
reference do not leak in. Every op used is in TensorFlow core or tf-text's normalize_utf8/regex_split, which
TF Serving >= 2.12 bundles.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from bert_keras.text import unicode_tables as tables

REPLACEMENT_CHARACTER = 0xFFFD
# Strings of Unicode scalar values only: no surrogates, nothing above U+10FFFF, no invalid bytes.
VALID_UTF8_PATTERN = "(?s)[\\x{0}-\\x{D7FF}\\x{E000}-\\x{10FFFF}]*"
# Private-use code points stand in for KEEP_UNDECOMPOSED characters across NFD; private-use characters were
# already deleted by the cleaning step, so the placeholders cannot collide with input text.
_PLACEHOLDER_BASE = 0xF0000


def _char_class(ranges) -> str:
    """An RE2 character class of inclusive (first, last) code point ranges."""
    parts = [f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges]
    return "[" + "".join(parts) + "]"


REMOVED_CLASS = _char_class(tables.REMOVED)
# Whitespace other than " " itself (replacing every space by a space would cost a pass over all text).
WHITESPACE_CLASS = _char_class([r for r in tables.WHITESPACE if r != (0x20, 0x20)])
CHINESE_CLASS = _char_class(tables.CHINESE)
PUNCTUATION_CLASS = _char_class(tables.PUNCTUATION)
NONSPACING_MARK_CLASS = _char_class(tables.NONSPACING_MARKS)
KEEP_UNDECOMPOSED_CLASS = _char_class([(c, c) for c in tables.KEEP_UNDECOMPOSED])


def _ranges(code_points) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for c in sorted(code_points):
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    return ranges


def _lookup_map(pairs) -> tuple[np.ndarray, np.ndarray]:
    pairs = sorted(pairs)
    return np.array([k for k, _ in pairs], np.int32), np.array([v for _, v in pairs], np.int32)


_LOWER_KEYS, _LOWER_VALUES = _lookup_map(tables.LOWERCASE)
_PLACEHOLDERS = [(c, _PLACEHOLDER_BASE + i) for i, c in enumerate(tables.KEEP_UNDECOMPOSED)]
_PROTECT_KEYS, _PROTECT_VALUES = _lookup_map(_PLACEHOLDERS)
_RESTORE_KEYS, _RESTORE_VALUES = _lookup_map((p, c) for c, p in _PLACEHOLDERS)
_LOWER_AND_RESTORE = _lookup_map(list(tables.LOWERCASE) + [(p, c) for c, p in _PLACEHOLDERS])
_ASCII_END = 0x80
# Characters whose lowercase is not done by the ASCII-only pass, with and without placeholders to restore.
NON_ASCII_LOWER_CLASS = _char_class(_ranges(k for k in _LOWER_KEYS if k >= _ASCII_END))
NON_ASCII_LOWER_OR_PLACEHOLDER_CLASS = _char_class(
    _ranges([k for k in _LOWER_KEYS if k >= _ASCII_END] + list(_RESTORE_KEYS)))
PLACEHOLDER_CLASS = _char_class(_ranges(_RESTORE_KEYS))


def map_code_points(texts: tf.Tensor, keys: np.ndarray, values: np.ndarray) -> tf.Tensor:
    """Replace each code point found in sorted `keys` by its `values` entry (a vectorised table lookup)."""
    code_points = tf.strings.unicode_decode(texts, "UTF-8")
    flat = code_points.flat_values
    keys_t, values_t = tf.constant(keys), tf.constant(values)
    index = tf.minimum(tf.searchsorted(keys_t, flat), len(keys) - 1)
    mapped = tf.where(tf.gather(keys_t, index) == flat, tf.gather(values_t, index), flat)
    return tf.strings.unicode_encode(code_points.with_flat_values(mapped), "UTF-8")


def apply_where(texts: tf.Tensor, needs: tf.Tensor, fn) -> tf.Tensor:
    """`fn` applied only to the strings of a 1-D tensor where `needs` is True; the others are left as they are."""
    index = tf.where(needs)
    return tf.tensor_scatter_nd_update(texts, index, fn(tf.gather_nd(texts, index)))


def sanitize_utf8(texts: tf.Tensor) -> tf.Tensor:
    """Replace invalid UTF-8 by U+FFFD (which cleaning then deletes), as Python's decode(errors="replace").

    A cheap RE2 scan finds the invalid strings, so the costly transcode runs on them alone. RE2's "." also
    matches encoded surrogates (ED A0 80) and code points above U+10FFFF (F4 90 80 80), which Python's decoder
    rejects, so the scan spells out the valid scalar values instead.
    """
    shape = tf.shape(texts)
    flat = tf.reshape(texts, [-1])
    valid = tf.strings.regex_full_match(flat, VALID_UTF8_PATTERN)
    flat = apply_where(flat, tf.logical_not(valid), lambda t: tf.strings.unicode_transcode(
        t, "UTF-8", "UTF-8", errors="replace", replacement_char=REPLACEMENT_CHARACTER))
    return tf.reshape(flat, shape)


def apply_where_present(texts: tf.Tensor, pattern: str, fn) -> tf.Tensor:
    """`fn` applied only to the strings of a 1-D tensor that contain `pattern` (a cheap RE2 scan finds them).

    Keeps costly per-code-point steps off the common path: most text needs none of them.
    """
    return apply_where(texts, tf.strings.regex_full_match(texts, "(?s).*" + pattern + ".*"), fn)


def normalize(texts: tf.Tensor, lowercase: bool = True, strip_accents: bool | None = None,
              tokenize_chinese_chars: bool = True) -> tf.Tensor:
    """BERT-normalise a string tensor of any shape (valid UTF-8 expected; see `sanitize_utf8`).

    Args:
        texts: tf.string tensor.
        lowercase: lower-case (the "uncased" models).
        strip_accents: NFD and drop non-spacing marks; None means "same as lowercase", as in BERT.
        tokenize_chinese_chars: put spaces around CJK ideographs so each becomes a word.
    """
    strip_accents = lowercase if strip_accents is None else strip_accents
    texts = tf.strings.regex_replace(texts, REMOVED_CLASS, "")
    texts = tf.strings.regex_replace(texts, WHITESPACE_CLASS, " ")
    if tokenize_chinese_chars:
        texts = tf.strings.regex_replace(texts, "(" + CHINESE_CLASS + ")", " \\1 ")
    shape = tf.shape(texts)
    texts = tf.reshape(texts, [-1])
    if strip_accents:
        texts = apply_where_present(texts, KEEP_UNDECOMPOSED_CLASS,
                                    lambda t: map_code_points(t, _PROTECT_KEYS, _PROTECT_VALUES))
        texts = tf_text.normalize_utf8(texts, "NFD")
        texts = tf.strings.regex_replace(texts, NONSPACING_MARK_CLASS, "")
    if lowercase:
        if not strip_accents:  # the one lowercase that yields two characters (stripping removes its mark)
            texts = tf.strings.regex_replace(texts, "\u0130", "i\u0307")
        texts = tf.strings.lower(texts)  # ASCII only: changes the bytes A-Z and nothing else
        keys, values = _LOWER_AND_RESTORE if strip_accents else (_LOWER_KEYS, _LOWER_VALUES)
        pattern = NON_ASCII_LOWER_OR_PLACEHOLDER_CLASS if strip_accents else NON_ASCII_LOWER_CLASS
        texts = apply_where_present(texts, pattern, lambda t: map_code_points(t, keys, values))
    elif strip_accents:
        texts = apply_where_present(texts, PLACEHOLDER_CLASS,
                                    lambda t: map_code_points(t, _RESTORE_KEYS, _RESTORE_VALUES))
    return tf.reshape(texts, shape)


def split_words(texts: tf.Tensor) -> tf.RaggedTensor:
    """Split normalised 1-D text on spaces (dropped) and punctuation (kept as one-character words).

    Normalisation left " " as the only whitespace, so spacing out punctuation and splitting on whitespace runs
    (twice as fast as a regex split) gives the same words.
    """
    return tf.strings.split(tf.strings.regex_replace(texts, "(" + PUNCTUATION_CLASS + ")", " \\1 "))
