"""One post-LayerNorm BERT transformer block, with BERT's own sub-layer names and dropouts."""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from bert_keras.errors import InvalidInputError
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
        # A LocalityScaffold while one pretrains this block (bert_keras.modeling.locality_scaffold); never saved.
        self.locality_scaffold = None

    def _dense(self, units: int, name: str) -> keras.layers.Dense:
        return keras.layers.Dense(
            units, name=name, dtype=self.dtype_policy,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_range))

    def _layer_norm(self, name: str) -> keras.layers.LayerNormalization:
        return keras.layers.LayerNormalization(epsilon=self.layer_norm_eps, name=name, dtype=self.dtype_policy)

    def build(self, inputs_shape, attention_bias_shape=None):
        input_shape = inputs_shape
        hidden = input_shape[-1]
        if hidden % self.num_heads:
            raise InvalidInputError(f"hidden size {hidden} is not divisible by num_heads {self.num_heads}")
        self.head_size = hidden // self.num_heads
        self.query = self._dense(hidden, "query")
        self.key = self._dense(hidden, "key")
        self.value = self._dense(hidden, "value")
        self.attention_output = self._dense(hidden, "attention_output")
        self.attention_layer_norm = self._layer_norm("attention_layer_norm")
        self.intermediate = self._dense(self.intermediate_size, "intermediate")  # activation applied in call
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

    def _project(self, dense: keras.layers.Dense, tokens, activation=None):
        """`tokens @ kernel + bias` (then the activation) on a 2-D `[tokens, features]` tensor, as MatMul +
        BiasAdd: the pattern TensorFlow's oneDNN graph rewrite fuses with the activation into one kernel (a
        Dense on 3-D inputs reshapes around the MatMul and adds the bias separately, which blocks the fusion)."""
        projected = tf.nn.bias_add(tf.matmul(tokens, ops.cast(dense.kernel, self.compute_dtype)),
                                   ops.cast(dense.bias, self.compute_dtype))
        return projected if activation is None else activation(projected)

    def _heads(self, dense: keras.layers.Dense, tokens, batch, length):
        """Project `[batch * length, hidden]` tokens and split them into heads: `[batch, heads, length, size]`."""
        projected = ops.reshape(self._project(dense, tokens), (batch, length, self.num_heads, self.head_size))
        return ops.transpose(projected, (0, 2, 1, 3))

    def _attention(self, x, attention_bias, batch, length):
        """Float32 attention probabilities `[batch, heads, length, length]` of the `[batch * length, hidden]`
        tokens `x`."""
        query = self._heads(self.query, x, batch, length)
        key = self._heads(self.key, x, batch, length)
        scores = tf.matmul(query, key, transpose_b=True)
        # Softmax in float32 (mixed precision safe); the bias is 0 or a large negative for padding (Keras
        # autocasts it to the compute dtype on the way in: under mixed_float16 -1e9 arrives as -inf, still 0 after
        # the softmax).
        scores = ops.cast(scores, "float32") * (1.0 / math.sqrt(self.head_size)) + ops.cast(attention_bias, "float32")
        if self.locality_scaffold is not None:
            scores = scores + self.locality_scaffold.bias(self.num_heads, length)
        return ops.softmax(scores, axis=-1)

    def attention_probabilities(self, inputs, attention_bias):
        """What each token attends to: float32 `[batch, heads, length, length]` softmax probabilities (rows are
        queries, columns keys; as at inference, no dropout), for inspecting what a model has learned."""
        batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        return self._attention(ops.reshape(inputs, (-1, self.num_heads * self.head_size)), attention_bias,
                               batch, length)

    def call(self, inputs, attention_bias, training=None):
        batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        hidden = self.num_heads * self.head_size
        x = ops.reshape(inputs, (-1, hidden))  # every dense runs on [batch * length, hidden]
        value = self._heads(self.value, x, batch, length)
        probs = ops.cast(self._attention(x, attention_bias, batch, length), self.compute_dtype)
        probs = self.attention_probs_dropout(probs, training=training)
        context = ops.reshape(ops.transpose(ops.matmul(probs, value), (0, 2, 1, 3)), (-1, hidden))
        attended = self.attention_output_dropout(self._project(self.attention_output, context), training=training)
        x = self.attention_layer_norm(x + attended)
        intermediate = self._project(self.intermediate, x, get_activation(self.activation))
        ffn = self.output_dropout(self._project(self.output_dense, intermediate), training=training)
        return ops.reshape(self.output_layer_norm(x + ffn), (batch, length, hidden))

    def compute_output_shape(self, inputs_shape, attention_bias_shape=None):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, intermediate_size=self.intermediate_size,
                      activation=self.activation, hidden_dropout=self.hidden_dropout,
                      attention_dropout=self.attention_dropout, layer_norm_eps=self.layer_norm_eps,
                      initializer_range=self.initializer_range)
        return config
