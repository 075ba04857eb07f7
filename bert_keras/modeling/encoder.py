"""BertEncoder: token + position + segment embeddings, post-LN transformer blocks and the pooler."""

from __future__ import annotations

import os
from typing import Any

import keras
from keras import ops
from keras_hub.layers import PositionEmbedding

from bert_keras.checkpoints import load_checkpoint
from bert_keras.config import BertConfig
from bert_keras.errors import InvalidInputError
from bert_keras.modeling.transformer_layer import BertTransformerLayer
from bert_keras.serving_contract import ENCODER_INPUTS, PADDING_MASK, SEGMENT_IDS, TOKEN_IDS

# Added to attention logits at padding positions; softmax runs in float32, so this is exp() == 0 exactly.
MASK_BIAS = -1e9


@keras.saving.register_keras_serializable(package="bert_keras")
class AttentionBias(keras.layers.Layer):
    """Turns a `[batch, length]` padding mask (1 = token, 0 = pad) into a `[batch, 1, 1, length]` float32 bias."""

    def call(self, padding_mask):
        mask = ops.cast(padding_mask, "float32")
        return ops.expand_dims(ops.expand_dims((1.0 - mask) * MASK_BIAS, 1), 1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1, 1, input_shape[1])


@keras.saving.register_keras_serializable(package="bert_keras")
class BertPositionEmbedding(PositionEmbedding):
    """keras-hub's learned `PositionEmbedding`, with a clear error for a sequence longer than its table.

    The check runs whenever the length is known when the layer is called (eager calls, fixed-shape graphs);
    with a dynamic length the slice op still fails, with a less descriptive message.
    """

    def call(self, inputs, start_index=0, positions=None):
        length = inputs.shape[-2]
        if positions is None and length is not None and start_index + length > self.sequence_length:
            raise InvalidInputError(f"Sequence length {length} exceeds max_position_embeddings={self.sequence_length}; "
                                    f"truncate inputs to at most {self.sequence_length} tokens")
        return super().call(inputs, start_index=start_index, positions=positions)


@keras.saving.register_keras_serializable(package="bert_keras")
class BertEncoder(keras.Model):
    """The BERT encoder as a Keras functional model.

    Inputs are a dict of int32 `[batch, length]` tensors `token_ids`, `segment_ids` and `padding_mask`
    (1 for tokens, 0 for padding); any `length` up to `config.max_position_embeddings` works. Outputs are a dict
    with `sequence_output` `[batch, length, hidden]` and `pooled_output` `[batch, hidden]` (tanh dense on [CLS]).

    Args:
        config: a `BertConfig` (or its dict form).

    Examples:
    ```python
    encoder = bert_keras.BertEncoder(bert_keras.BertConfig.named("tiny", vocab_size=100))
    ids = np.array([[2, 7, 9, 3]])
    out = encoder({"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": np.ones_like(ids)})
    out["sequence_output"].shape  # (1, 4, 128)
    encoder = bert_keras.BertEncoder.from_preset(bert_keras.assets.asset_path("minilm"))  # real weights
    ```
    """

    def __init__(self, config: BertConfig | dict[str, Any], **kwargs):
        if isinstance(config, dict):
            config = BertConfig.from_dict(config)
        dtype = kwargs.pop("dtype", None)
        init = keras.initializers.TruncatedNormal(stddev=config.initializer_range)
        inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
                  for name in ENCODER_INPUTS}
        self.token_embedding = keras.layers.Embedding(
            config.vocab_size, config.hidden_size, embeddings_initializer=init, dtype=dtype, name="token_embedding")
        self.position_embedding = BertPositionEmbedding(
            sequence_length=config.max_position_embeddings, initializer=init, dtype=dtype, name="position_embedding")
        self.segment_embedding = keras.layers.Embedding(
            config.type_vocab_size, config.hidden_size, embeddings_initializer=init, dtype=dtype,
            name="segment_embedding")
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=config.layer_norm_eps, dtype=dtype, name="embeddings_layer_norm")
        self.transformer_layers = [
            BertTransformerLayer(
                num_heads=config.num_attention_heads, intermediate_size=config.intermediate_size,
                activation=config.hidden_act, hidden_dropout=config.hidden_dropout_prob,
                attention_dropout=config.attention_probs_dropout_prob, layer_norm_eps=config.layer_norm_eps,
                initializer_range=config.initializer_range, dtype=dtype, name=f"transformer_layer_{i}")
            for i in range(config.num_hidden_layers)]
        self.pooler = keras.layers.Dense(
            config.hidden_size, activation="tanh", kernel_initializer=init, dtype=dtype, name="pooler")

        tokens = self.token_embedding(inputs[TOKEN_IDS])
        x = keras.layers.Add(dtype=dtype, name="embeddings_add")(
            [tokens, self.position_embedding(tokens), self.segment_embedding(inputs[SEGMENT_IDS])])
        x = self.embeddings_layer_norm(x)
        x = keras.layers.Dropout(config.hidden_dropout_prob, dtype=dtype, name="embeddings_dropout")(x)
        bias = AttentionBias(dtype="float32", name="attention_bias")(inputs[PADDING_MASK])
        for layer in self.transformer_layers:
            x = layer(x, bias)
        pooled = self.pooler(x[:, 0, :])
        super().__init__(inputs=inputs, outputs={"sequence_output": x, "pooled_output": pooled}, dtype=dtype,
                         **kwargs)
        self.config = config

    def attention_probabilities(self, inputs: dict[str, Any]) -> list:
        """Every layer's attention probabilities for `inputs` (the encoder's input dict): a list, first layer
        first, of float32 `[batch, heads, length, length]` tensors (rows are queries; as at inference)."""
        # A throwaway functional view of this graph up to each block's input (kept off `self`, so it never joins the
        # model's tracked layers or saved weights).
        layer_inputs = [self.get_layer("embeddings_dropout").output]
        layer_inputs += [layer.output for layer in self.transformer_layers[:-1]]
        bias, layer_inputs = keras.Model(self.input, [self.get_layer("attention_bias").output, layer_inputs])(inputs)
        return [layer.attention_probabilities(x, bias) for layer, x in zip(self.transformer_layers, layer_inputs)]

    @classmethod
    def from_preset(cls, source: str | os.PathLike, revision: str | None = None, **kwargs) -> "BertEncoder":
        """The encoder of any checkpoint `load_checkpoint` reads (local HF / Google / keras-hub / bert-keras
        directory, or a hub name), with its weights; `kwargs` go to the format's loader (e.g. `exact_gelu`)."""
        return load_checkpoint(os.fspath(source), revision=revision, **kwargs).encoder

    def get_config(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "name": self.name, "trainable": self.trainable,
                "dtype": keras.dtype_policies.serialize(self.dtype_policy)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "BertEncoder":
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
