"""tf.data of variable-length rows (token ids, labels) that `padded_batch` can pad to each batch's longest row."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf

from bert_keras.errors import InvalidInputError
from bert_keras.text.packer import padded_width


def variable_length_dataset(columns: Mapping[str, Sequence[Sequence[float]]], dtypes: Mapping[str, str],
                            fixed: Mapping[str, Sequence[int]] | None = None) -> tf.data.Dataset:
    """A dataset of dicts, one per row: each variable-length column as a 1-D tensor, each `fixed` column a scalar.

    Rows are stored as one flat constant plus offsets and sliced in the pipeline, so elements are plain tensors
    (slicing a RaggedTensor yields ragged elements, which `padded_batch` does not accept).
    """
    names = list(columns)
    count = len(columns[names[0]])
    lengths = np.array([len(row) for row in columns[names[0]]], np.int64)
    for name in names:
        if len(columns[name]) != count or any(len(r) != n for r, n in zip(columns[name], lengths)):
            raise ValueError(f"column {name!r} has rows of other lengths than column {names[0]!r}")
    starts = tf.constant(np.concatenate([[0], np.cumsum(lengths)[:-1]]) if count else np.zeros(0, np.int64))
    sizes = tf.constant(lengths)
    flat = {name: tf.constant(np.concatenate([np.asarray(r) for r in columns[name]]) if count else [],
                              dtype=dtypes[name]) for name in names}
    scalars = {name: tf.constant(np.asarray(values), dtype=tf.int32) for name, values in (fixed or {}).items()}

    def row(index):
        span = tf.range(starts[index], starts[index] + sizes[index])
        element = {name: tf.gather(values, span) for name, values in flat.items()}
        element.update({name: values[index] for name, values in scalars.items()})
        return element

    return tf.data.Dataset.range(count).map(row, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def padded_batches(dataset: tf.data.Dataset, batch_size: int, shuffle: bool = False, seed: int = 0,
                   options: tf.data.Options | None = None, pad_to_multiple_of: int = 1,
                   max_width: int | None = None) -> tf.data.Dataset:
    """Shuffle (a fresh order each pass) all of `dataset`'s rows if asked, pad each batch to its longest row
    (rounded up to a multiple of `pad_to_multiple_of`, never past `max_width`), apply tf.data `options`,
    prefetch. Padding is 0 everywhere: [PAD] ids, mask 0, weight 0."""
    if shuffle:
        dataset = dataset.shuffle(max(int(dataset.cardinality()), 1), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.padded_batch(batch_size)
    if pad_to_multiple_of > 1:
        if max_width is None:
            raise InvalidInputError("padded_batches: pad_to_multiple_of needs max_width (the longest row allowed)")

        def widen(*element):  # tuple elements arrive as separate arguments
            tensors = tf.nest.flatten(element)
            width = padded_width(tf.shape(next(t for t in tensors if t.shape.rank == 2))[1], pad_to_multiple_of,
                                 max_width)
            widened = tf.nest.pack_sequence_as(element, [
                tf.pad(t, [[0, 0], [0, width - tf.shape(t)[1]]]) if t.shape.rank == 2 else t for t in tensors])
            return widened if len(widened) > 1 else widened[0]

        dataset = dataset.map(widen)
    if options is not None:
        dataset = dataset.with_options(options)
    return dataset.prefetch(tf.data.AUTOTUNE)
