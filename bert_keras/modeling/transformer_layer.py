"""One post-LayerNorm BERT transformer block, with BERT's own sub-layer names and dropouts."""

from __future__ import annotations

import math

import keras
from keras import ops

from bert_keras.modeling.activations import get_activation


@keras.saving.register_keras_serializable(package="bert_keras")
class BertTransformerLayer(keras.layers.Layer):
    """Self-attention + feed-forward, each followed by dropout, residual add and LayerNorm (post-LN).

    Keeps BERT's separate attention-probability and hidden dropouts and the checkpoint's activation, and
    names its sub-layers as the checkpoints do, so weights map one to one.

    Args:
        num_heads: number of attention heads.
        intermediate_size: feed-forward width.
        activation: a `hidden_act` name from `bert_keras.config.ACTIVATIONS`.
        hidden_dropout: dropout on the two residual branches.
        attention_dropout: dropout on the attention probabilities.
        layer_norm_eps: LayerNorm epsilon.
        initializer_range: stddev of the truncated-normal kernel initializer.

    Call arguments:
        inputs: float tensor `[batch, length, hidden]`.
        attention_bias: float tensor `[batch, 1, 1, length]`, 0 for real tokens and a large negative value for
            padding; added to the attention logits.
    """

    def __init__(self, num_heads: int, intermediate_size: int, activation: str = "gelu",
                 hidden_dropout: float = 0.1, attention_dropout: float = 0.1, layer_norm_eps: float = 1e-12,
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.activation = activation
        self.hidden_dropout = hidden_dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range

    def _dense(self, units: int, name: str, activation=None) -> keras.layers.Dense:
        return keras.layers.Dense(
            units, activation=activation, name=name, dtype=self.dtype_policy,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_range))

    def _layer_norm(self, name: str) -> keras.layers.LayerNormalization:
        return keras.layers.LayerNormalization(epsilon=self.layer_norm_eps, name=name, dtype=self.dtype_policy)

    def build(self, inputs_shape, attention_bias_shape=None):
        input_shape = inputs_shape
        hidden = input_shape[-1]
        if hidden % self.num_heads:
            raise ValueError(f"hidden size {hidden} is not divisible by num_heads {self.num_heads}")
        self.head_size = hidden // self.num_heads
        self.query = self._dense(hidden, "query")
        self.key = self._dense(hidden, "key")
        self.value = self._dense(hidden, "value")
        self.attention_output = self._dense(hidden, "attention_output")
        self.attention_layer_norm = self._layer_norm("attention_layer_norm")
        self.intermediate = self._dense(self.intermediate_size, "intermediate", get_activation(self.activation))
        self.output_dense = self._dense(hidden, "output")
        self.output_layer_norm = self._layer_norm("output_layer_norm")
        self.attention_probs_dropout = keras.layers.Dropout(self.attention_dropout)
        self.attention_output_dropout = keras.layers.Dropout(self.hidden_dropout)
        self.output_dropout = keras.layers.Dropout(self.hidden_dropout)
        for layer in (self.query, self.key, self.value, self.attention_layer_norm, self.output_layer_norm):
            layer.build(input_shape)
        self.attention_output.build(input_shape)
        self.intermediate.build(input_shape)
        self.output_dense.build(tuple(input_shape[:-1]) + (self.intermediate_size,))

    def _split_heads(self, x, batch, length):
        return ops.reshape(x, (batch, length, self.num_heads, self.head_size))

    def call(self, inputs, attention_bias, training=None):
        x = inputs
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        hidden = self.num_heads * self.head_size
        query = self._split_heads(self.query(x), batch, length)
        key = self._split_heads(self.key(x), batch, length)
        value = self._split_heads(self.value(x), batch, length)
        scores = ops.einsum("bqhd,bkhd->bhqk", query, key)
        # Softmax in float32 (mixed precision safe); the bias is 0 or a large negative for padding (Keras
        # autocasts it to the compute dtype on the way in: under mixed_float16 -1e9 arrives as -inf, still 0 after
        # the softmax).
        scores = ops.cast(scores, "float32") * (1.0 / math.sqrt(self.head_size)) + ops.cast(attention_bias, "float32")
        probs = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)
        probs = self.attention_probs_dropout(probs, training=training)
        context = ops.reshape(ops.einsum("bhqk,bkhd->bqhd", probs, value), (batch, length, hidden))
        attended = self.attention_output_dropout(self.attention_output(context), training=training)
        x = self.attention_layer_norm(x + attended)
        ffn = self.output_dropout(self.output_dense(self.intermediate(x)), training=training)
        return self.output_layer_norm(x + ffn)

    def compute_output_shape(self, inputs_shape, attention_bias_shape=None):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, intermediate_size=self.intermediate_size,
                      activation=self.activation, hidden_dropout=self.hidden_dropout,
                      attention_dropout=self.attention_dropout, layer_norm_eps=self.layer_norm_eps,
                      initializer_range=self.initializer_range)
        return config
