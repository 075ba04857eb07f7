"""Loss reductions that give every replica its share of the single-device loss under tf.distribute."""

from __future__ import annotations

import tensorflow as tf
from keras import ops


def global_sum(value):
    """Sum of `value` over all replicas in sync (itself outside a distribution strategy)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def replicas_in_sync() -> int:
    """Replicas of the current strategy (1 outside one)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def global_weighted_mean(values, weights=None, normalize_by_count: bool = False):
    """This replica's share of sum(values * weights) / global normaliser, scaled for Keras' replica division.

    Keras divides each replica's loss by the number of replicas and sums the gradients, so returning
    ``local_sum / global_normaliser * replicas`` makes N replicas optimise exactly the one-device loss.

    Args:
        values: per-element losses (any shape).
        weights: per-element weights of the same shape (None: all ones). Zero weights drop elements.
        normalize_by_count: divide by the global element count instead of the global weight sum (Keras'
            `class_weight` semantics: weights scale the loss rather than define the average).
    """
    values = ops.cast(values, "float32")
    weights = ops.ones_like(values) if weights is None else ops.cast(weights, "float32")
    normaliser = ops.cast(ops.size(values), "float32") if normalize_by_count else ops.sum(weights)
    return ops.sum(values * weights) / ops.maximum(global_sum(normaliser), 1.0) * replicas_in_sync()
