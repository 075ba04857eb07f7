"""BertTextEmbedder: raw text -> sentence vectors (pooled [CLS] and the mean over tokens), for feature extraction."""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from bert_keras.checkpoints import load_checkpoint
from bert_keras.modeling import task_inputs
from bert_keras.modeling.compiled_calls import cached_function, text_spec
from bert_keras.modeling.encoder import BertEncoder
from bert_keras.modeling.pooling import mean_pool
from bert_keras.modeling.task_model import deserialize_preprocessor, encoder_inputs, preprocessor_for
from bert_keras.serving_contract import EMBED_OUTPUTS
from bert_keras.text import BertPreprocessor


def sentence_vectors(outputs: dict, padding_mask) -> dict:
    """`pooled_output` (the tanh pooler on [CLS]) and `mean_pooled` (sentence-transformers' pooling) as float32
    `[batch, hidden]`, whatever the encoder computes in: what the exported embedding signature returns."""
    sequence = ops.cast(outputs["sequence_output"], "float32")
    return {EMBED_OUTPUTS.pooled_output: ops.cast(outputs["pooled_output"], "float32"),
            EMBED_OUTPUTS.mean_pooled: mean_pool(sequence, padding_mask)}


@keras.saving.register_keras_serializable(package="bert_keras")
class BertTextEmbedder(keras.Model):
    """A `BertEncoder` with its preprocessor: strings in, sentence vectors out.

    Outputs (a dict of float32 `[batch, hidden]`): `pooled_output` and `mean_pooled`. `predict` / `embed` take
    raw strings; the encoder stays reachable as `.encoder` for custom heads or a `tf.GradientTape` loop.

    Args:
        encoder: a `BertEncoder`.
        preprocessor: its `BertPreprocessor`.

    Examples:
    ```python
    embedder = bert_keras.BertTextEmbedder.from_preset(bert_keras.assets.asset_path("minilm"))
    vectors = embedder.embed(["A wonderful film.", "A great movie."])["mean_pooled"]
    ```
    """

    def __init__(self, encoder: BertEncoder, preprocessor: BertPreprocessor | None = None, **kwargs):
        inputs = encoder_inputs()
        outputs = sentence_vectors(encoder(inputs), inputs["padding_mask"])
        outputs = {k: keras.layers.Activation("linear", dtype="float32", name=k)(v) for k, v in outputs.items()}
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.encoder = encoder
        self.preprocessor = deserialize_preprocessor(preprocessor)

    @classmethod
    def from_preset(cls, source: str | os.PathLike, sequence_length: int | None = None,
                    lowercase: bool | None = None, revision: str | None = None) -> "BertTextEmbedder":
        """The checkpoint's encoder and tokenizer from any source `BertClassifier.from_preset` takes."""
        loaded = load_checkpoint(os.fspath(source), revision=revision)
        return cls(loaded.encoder, preprocessor_for(loaded, os.fspath(source), sequence_length, lowercase))

    def embed(self, texts, batch_size: int = task_inputs.DEFAULT_BATCH_SIZE) -> dict[str, np.ndarray]:
        """Sentence vectors of raw `texts`: {"pooled_output", "mean_pooled"} as numpy `[texts, hidden]`."""
        texts = task_inputs.as_text_array(texts)
        preprocessor = self.preprocessor
        function = cached_function(self, "embed", lambda: tf.function(
            lambda t: self(preprocessor(t), training=False), input_signature=[text_spec()]))
        batches = [function(tf.constant(texts[i:i + batch_size])) for i in range(0, len(texts), batch_size)]
        names = (EMBED_OUTPUTS.pooled_output, EMBED_OUTPUTS.mean_pooled)
        return {k: np.concatenate([b[k].numpy() for b in batches]) for k in names}

    def predict(self, x, batch_size=None, verbose="auto", **kwargs):
        """Keras predict on raw strings (or tokenized dicts)."""
        if isinstance(x, tf.data.Dataset) or task_inputs.is_tokenized(x):
            return super().predict(x, batch_size=batch_size, verbose=verbose, **kwargs)
        return self.embed(x, batch_size or task_inputs.DEFAULT_BATCH_SIZE)

    def get_config(self) -> dict[str, Any]:
        return {"encoder": keras.saving.serialize_keras_object(self.encoder), "name": self.name,
                "trainable": self.trainable,
                "preprocessor": None if self.preprocessor is None else
                keras.saving.serialize_keras_object(self.preprocessor)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "BertTextEmbedder":
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)
