"""What task models accept in fit / evaluate / predict, turned into batched tf.data before their preprocessor runs.

Accepted `x`: one string (a batch of one), a list / tuple / numpy array of strings, a pair `(first, second)` of
such sequences for two-segment tasks, a dict of already-tokenized encoder inputs, or a `tf.data.Dataset` of any
of these (unbatched elements are batched here; batched ones are kept). `y` and `sample_weight` ride along as
Keras packs them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from bert_keras.errors import InvalidInputError
from bert_keras.serving_contract import ENCODER_INPUTS, TOKEN_IDS

DEFAULT_BATCH_SIZE = 32


def is_tokenized(x: Any) -> bool:
    """True for a dict of encoder inputs (token ids and friends): the preprocessor is skipped."""
    return isinstance(x, dict) and TOKEN_IDS in x


def is_text_pair(x: Any) -> bool:
    """True for `(first_texts, second_texts)`: a tuple of two sequences (not two plain strings)."""
    return (isinstance(x, tuple) and len(x) == 2
            and all(isinstance(s, (list, tuple, np.ndarray, tf.Tensor)) for s in x))


def as_text_array(texts: Any, what: str = "x") -> np.ndarray:
    """A 1-D numpy object array of Python strings from a string or a sequence of strings."""
    if isinstance(texts, (str, bytes)):
        texts = [texts]
    if isinstance(texts, tf.Tensor):
        texts = texts.numpy()
    array = np.asarray(texts, dtype=object)
    if array.ndim != 1:
        raise InvalidInputError(f"{what}: expected a string or a 1-D sequence of strings, got shape {array.shape}")
    for index, value in enumerate(array):
        if not isinstance(value, (str, bytes)):
            raise InvalidInputError(f"{what}[{index}]: expected a string, got {type(value).__name__} {value!r}")
    return array


def text_segments(x: Any) -> tuple[np.ndarray, ...]:
    """In-memory raw text as one or two equal-length segment arrays."""
    if is_text_pair(x):
        first, second = as_text_array(x[0], "x[0]"), as_text_array(x[1], "x[1]")
        if len(first) != len(second):
            raise InvalidInputError(f"a text pair needs as many second texts as first texts: got {len(first)} and "
                                    f"{len(second)}")
        return first, second
    if isinstance(x, tuple) and len(x) == 2 and all(isinstance(s, (str, bytes)) for s in x):
        return as_text_array([x[0]], "x[0]"), as_text_array([x[1]], "x[1]")
    return (as_text_array(x),)


def check_lengths(examples: int, y: Any = None, sample_weight: Any = None) -> None:
    """A ValueError naming both counts when `y` or `sample_weight` does not have one entry per example."""
    for name, values in (("labels (y)", y), ("sample_weight", sample_weight)):
        if values is not None and len(values) != examples:
            raise InvalidInputError(f"got {examples} examples but {len(values)} {name}: they must match one to one")


def names_to_ids(values: tf.Tensor, names: list[str], what: str = "label") -> tf.Tensor:
    """String labels `[n]` of a tf.data pipeline -> int32 ids in `names`; a name not among them fails the step
    with the names and the values in the message."""
    table = tf.constant(names)
    matches = tf.equal(values[:, None], table[None, :])
    check = tf.debugging.Assert(tf.reduce_all(tf.reduce_any(matches, axis=1)),
                                [f"{what} not among the model labels", table, "got", values], summarize=50)
    with tf.control_dependencies([check]):
        return tf.argmax(tf.cast(matches, tf.int32), axis=1, output_type=tf.int32)


def is_tokenized_dataset(dataset: tf.data.Dataset) -> bool:
    """True for a dataset of batched encoder inputs (a dict with `token_ids` of rank 2, alone or first)."""
    spec = dataset.element_spec
    first = spec[0] if isinstance(spec, tuple) else spec
    return isinstance(first, dict) and TOKEN_IDS in first and first[TOKEN_IDS].shape.rank == 2


def _element_is_unbatched(dataset: tf.data.Dataset) -> bool:
    spec = dataset.element_spec
    first = spec[0] if isinstance(spec, tuple) else spec
    while isinstance(first, tuple):
        first = first[0]
    if isinstance(first, dict):
        first = first.get(TOKEN_IDS, next(iter(first.values())))
    return first.shape.rank == 0 or (first.dtype != tf.string and first.shape.rank == 1)


def batched(dataset: tf.data.Dataset, batch_size: int | None) -> tf.data.Dataset:
    """`dataset` batched by `batch_size` (default 32) unless its elements already are batches."""
    if _element_is_unbatched(dataset):
        return dataset.batch(batch_size or DEFAULT_BATCH_SIZE)
    return dataset


def in_memory_dataset(x: Any, y: Any = None, sample_weight: Any = None, batch_size: int | None = None,
                      shuffle: bool = False, seed: int | None = None) -> tf.data.Dataset:
    """Batched tf.data of (x[, y[, sample_weight]]) from in-memory raw texts, text pairs or tokenized dicts.

    Elements are always tuples, so a text pair without labels is the one-tuple ((first, second),), never (x, y).
    """
    if sample_weight is not None and y is None:
        raise InvalidInputError("sample_weight needs labels (y)")
    if is_tokenized(x):
        features: Any = {k: np.asarray(v) for k, v in x.items() if k in ENCODER_INPUTS or k == "mask_positions"}
        examples = len(features[TOKEN_IDS])
    else:
        segments = text_segments(x)
        features, examples = (segments if len(segments) == 2 else segments[0]), len(segments[0])
    check_lengths(examples, y, sample_weight)
    columns = [features] + [np.asarray(v) for v in (y, sample_weight) if v is not None]
    dataset = tf.data.Dataset.from_tensor_slices(tuple(columns))
    if shuffle:
        dataset = dataset.shuffle(examples, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size or DEFAULT_BATCH_SIZE)
