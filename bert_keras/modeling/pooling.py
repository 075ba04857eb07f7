"""Sentence vectors from token vectors."""

from __future__ import annotations

from keras import ops


def mean_pool(sequence_output, padding_mask):
    """Mean of the token vectors where `padding_mask` is 1 (sentence-transformers' pooling), `[batch, hidden]`."""
    mask = ops.cast(ops.expand_dims(padding_mask, -1), sequence_output.dtype)
    total = ops.sum(sequence_output * mask, axis=1)
    return total / ops.maximum(ops.sum(mask, axis=1), 1e-9)


def l2_normalize(vectors):
    """Unit-length rows (cosine similarity becomes a dot product)."""
    return vectors / ops.maximum(ops.sqrt(ops.sum(vectors * vectors, axis=-1, keepdims=True)), 1e-12)
