"""Task heads that sit on the BERT encoder's outputs."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from bert_keras.errors import InvalidInputError
from bert_keras.modeling.activations import get_activation

PADDING_LOGIT = -1e9  # added to span logits at padding positions


@keras.saving.register_keras_serializable(package="bert_keras")
class MaskedLMHead(keras.layers.Layer):
    """BERT's masked-LM head: gather the target positions, dense + activation + LayerNorm, then vocab logits.

    The output projection is the token embedding matrix transposed (weights tied, as in BERT) plus a per-token
    bias, when `token_embedding` is given; otherwise the head owns a `[hidden, vocab]` kernel.

    Args:
        vocabulary_size: number of output classes (the vocab size).
        activation: `hidden_act` name of the transform (BERT uses the encoder's activation).
        layer_norm_eps: epsilon of the transform's LayerNorm.
        initializer_range: stddev of the truncated-normal initializer.
        token_embedding: the encoder's `keras.layers.Embedding` to tie the output weights to.

    Call: `sequence_output` `[batch, length, hidden]` and int `mask_positions` `[batch, predictions]` ->
    float32 logits `[batch, predictions, vocabulary_size]`.
    """

    def __init__(self, vocabulary_size: int, activation: str = "gelu", layer_norm_eps: float = 1e-12,
                 initializer_range: float = 0.02, token_embedding: keras.layers.Embedding | None = None, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.activation = activation
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.token_embedding = token_embedding

    def build(self, sequence_output_shape, mask_positions_shape=None):
        hidden = sequence_output_shape[-1]
        init = keras.initializers.TruncatedNormal(stddev=self.initializer_range)
        self.transform = keras.layers.Dense(hidden, activation=get_activation(self.activation),
                                            kernel_initializer=init, dtype=self.dtype_policy, name="transform")
        self.transform.build((None, None, hidden))
        self.layer_norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_eps, dtype=self.dtype_policy,
                                                          name="layer_norm")
        self.layer_norm.build((None, None, hidden))
        if self.token_embedding is None:
            self.output_kernel = self.add_weight(name="output_kernel", shape=(hidden, self.vocabulary_size),
                                                 initializer=init)
        elif tuple(self.token_embedding.embeddings.shape) != (self.vocabulary_size, hidden):
            raise InvalidInputError(f"token_embedding has shape {tuple(self.token_embedding.embeddings.shape)}, "
                                    f"expected ({self.vocabulary_size}, {hidden}) to tie the masked-LM output")
        self.output_bias = self.add_weight(name="output_bias", shape=(self.vocabulary_size,), initializer="zeros")

    def call(self, sequence_output, mask_positions):
        gathered = ops.take_along_axis(sequence_output, ops.expand_dims(ops.cast(mask_positions, "int32"), -1),
                                       axis=1)
        hidden = self.layer_norm(self.transform(gathered))
        if self.token_embedding is None:
            kernel = ops.cast(self.output_kernel, self.compute_dtype)
        else:
            kernel = ops.transpose(ops.cast(self.token_embedding.embeddings, self.compute_dtype))
        logits = ops.matmul(hidden, kernel)
        return ops.cast(logits, "float32") + self.output_bias

    def compute_output_shape(self, sequence_output_shape, mask_positions_shape=None):
        predictions = mask_positions_shape[1] if mask_positions_shape else None
        return (sequence_output_shape[0], predictions, self.vocabulary_size)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        # A tied embedding is not serialisable on its own: the owning task model rebuilds the tie.
        config.update(vocabulary_size=self.vocabulary_size, activation=self.activation,
                      layer_norm_eps=self.layer_norm_eps, initializer_range=self.initializer_range)
        return config


def dense_logits(inputs, units: int, initializer_range: float, dropout: float, name: str):
    """Dropout, then a dense layer named `name` (truncated-normal kernel), then float32 logits named "logits":
    the output layer of BERT's classification and token-classification heads (float32 under mixed precision)."""
    x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(inputs)
    x = keras.layers.Dense(units, kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
                           name=name)(x)
    return keras.layers.Activation("linear", dtype="float32", name="logits")(x)


@keras.saving.register_keras_serializable(package="bert_keras")
class SpanHead(keras.layers.Layer):
    """Extractive-QA head: one dense layer scores every token as answer start and as answer end.

    Padding positions get a -1e9 logit (softmax probability 0), so they can never be chosen and the loss
    normalises over real tokens only, whatever the padded length.

    Args:
        initializer_range: stddev of the truncated-normal initializer.

    Call: `sequence_output` `[batch, length, hidden]` and `padding_mask` `[batch, length]` -> (start_logits,
    end_logits), float32 `[batch, length]` each.
    """

    def __init__(self, initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.initializer_range = initializer_range

    def build(self, sequence_output_shape, padding_mask_shape=None):
        self.dense = keras.layers.Dense(
            2, kernel_initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_range),
            dtype=self.dtype_policy, name="dense")
        self.dense.build(sequence_output_shape)

    def call(self, sequence_output, padding_mask):
        logits = ops.cast(self.dense(sequence_output), "float32")
        bias = (1.0 - ops.cast(padding_mask, "float32")) * PADDING_LOGIT
        return logits[..., 0] + bias, logits[..., 1] + bias

    def compute_output_shape(self, sequence_output_shape, padding_mask_shape=None):
        return sequence_output_shape[:2], sequence_output_shape[:2]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(initializer_range=self.initializer_range)
        return config
