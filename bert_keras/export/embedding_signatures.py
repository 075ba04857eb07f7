"""Serving signatures of a bare encoder: text -> sentence vectors (pooled [CLS] and mean over tokens)."""

from __future__ import annotations

import keras
import tensorflow as tf

from bert_keras.export.signatures import Endpoint, TaskSignatures
from bert_keras.modeling.text_embedder import sentence_vectors
from bert_keras.serving_contract import PADDING_MASK
from bert_keras.text import BertPreprocessor


class EmbeddingSignatures(TaskSignatures):
    """`serving_default`: text -> `pooled_output` (the tanh pooler on [CLS]) and `mean_pooled` (mean of the last
    layer over the text's tokens, sentence-transformers' pooling), float32 `[batch, hidden]`; `predict_ids`:
    encoder inputs -> the same; `tokenize`: text -> encoder inputs.

    Args:
        encoder: a `BertEncoder`.
        preprocessor: its `BertPreprocessor` (padding "longest").
    """

    def __init__(self, encoder: keras.Model, preprocessor: BertPreprocessor):
        super().__init__(encoder, preprocessor.tokenizer, preprocessor.packer.sequence_length, preprocessor)

    def ids_outputs(self, inputs: dict[str, tf.Tensor], outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return sentence_vectors(outputs, inputs[PADDING_MASK])

    def text_endpoint(self) -> Endpoint:
        model, preprocessor, ids_outputs = self.model, self.preprocessor, self.ids_outputs

        def serve(text):
            inputs = preprocessor(text)
            return ids_outputs(inputs, model(inputs, training=False))

        return serve, self.text_specs()
