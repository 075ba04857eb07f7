"""What every export's serving signatures share: input specs, the token-id endpoint and text helpers.

A task's signatures are built by a `TaskSignatures` subclass: it names the Keras objects the archive must track
and returns its endpoints as (function, input signature) pairs. Functions are made in factories (closures over
the model), never with default arguments, which SavedModel cannot encode.
"""

from __future__ import annotations

import abc
from typing import Callable

import keras
import tensorflow as tf

from bert_keras.serving_contract import DEFAULT_SIGNATURE, ENCODER_INPUTS, IDS_SIGNATURE, TEXT, TOKENIZE_SIGNATURE
from bert_keras.text import BertPreprocessor, BertTokenizer

Endpoint = tuple[Callable, list]


def text_spec(name: str = TEXT) -> tf.TensorSpec:
    """A batch of UTF-8 strings `[batch]`."""
    return tf.TensorSpec([None], tf.string, name=name)


def ids_spec() -> dict[str, tf.TensorSpec]:
    """The encoder inputs: int32 `[batch, length]` each."""
    return {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in ENCODER_INPUTS}


class TaskSignatures(abc.ABC):
    """The serving signatures of one task model.

    Args:
        model: the Keras task model (inputs: the encoder's `ENCODER_INPUTS`).
        tokenizer: its `BertTokenizer` (exact mode).
        max_seq_length: the longest packed sequence.
        preprocessor: for tasks whose model input is one packed text (pair): the `BertPreprocessor`, which
            also gives a `tokenize` signature (text -> encoder inputs) for clients that run the ids themselves.
    """

    def __init__(self, model: keras.Model, tokenizer: BertTokenizer, max_seq_length: int,
                 preprocessor: BertPreprocessor | None = None):
        self.model, self.tokenizer, self.max_seq_length = model, tokenizer, max_seq_length
        self.preprocessor = preprocessor

    def trackables(self) -> list:
        """Objects holding resources (lookup tables) the endpoints use. The model's variables are tracked by
        ExportArchive.add_endpoint from the traced functions; tracking the model as well would store every
        weight twice (the Keras variable and its tf.Variable)."""
        return [self.preprocessor or self.tokenizer]

    @abc.abstractmethod
    def text_endpoint(self) -> Endpoint:
        """The default signature: raw strings in, readable task outputs."""

    @abc.abstractmethod
    def ids_outputs(self, inputs: dict[str, tf.Tensor], outputs) -> dict[str, tf.Tensor]:
        """Named tensors (logits and friends) from encoder inputs and the model's outputs on them."""

    def text_specs(self) -> list[tf.TensorSpec]:
        """The string inputs of the default and `tokenize` signatures."""
        return [text_spec(TEXT)]

    def endpoints(self) -> dict[str, Endpoint]:
        """{signature name: (function, input signature)}; the default signature first."""
        model, ids_outputs, preprocessor = self.model, self.ids_outputs, self.preprocessor

        def predict_ids(inputs):
            return ids_outputs(inputs, model(inputs, training=False))

        def tokenize(*texts):
            return preprocessor(*texts)

        endpoints = {DEFAULT_SIGNATURE: self.text_endpoint(), IDS_SIGNATURE: (predict_ids, [ids_spec()])}
        if preprocessor is not None:
            endpoints[TOKENIZE_SIGNATURE] = (tokenize, self.text_specs())
        return endpoints
