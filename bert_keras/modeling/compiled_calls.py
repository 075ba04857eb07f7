"""Cached tf.functions of a model's inference paths, kept outside the Keras object (an attribute holding a
tf.function would be tracked by Keras) and freed with the model."""

from __future__ import annotations

import weakref
from typing import Callable

import keras
import tensorflow as tf

_FUNCTIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def cached_function(model: keras.Model, name: str, build: Callable[[], Callable]) -> Callable:
    """`build()` (a tf.function over `model`) made once per model and `name`, then reused: one trace, not one
    per call."""
    functions = _FUNCTIONS.setdefault(model, {})
    if name not in functions:
        functions[name] = build()
    return functions[name]


def inference_function(model: keras.Model) -> Callable:
    """The model's inference call as a cached tf.function (one trace per padded width, at most a few)."""
    return cached_function(model, "call", lambda: tf.function(lambda inputs: model(inputs, training=False),
                                                              reduce_retracing=True))


def text_spec() -> tf.TensorSpec:
    """A batch of strings `[batch]`."""
    return tf.TensorSpec([None], tf.string)
