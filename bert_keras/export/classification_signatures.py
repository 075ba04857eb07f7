"""Serving signatures of a fine-tuned classifier: raw text, token ids, and TF Serving's Classify (tf.Example)."""

from __future__ import annotations

import keras
import tensorflow as tf

from bert_keras.export.signatures import Endpoint, TaskSignatures, text_spec
from bert_keras.modeling.classifier import classification_outputs
from bert_keras.serving_contract import (
    CLASSIFY_INPUTS,
    CLASSIFY_OUTPUT_CLASSES,
    CLASSIFY_OUTPUT_SCORES,
    CLASSIFY_OUTPUTS,
    CLASSIFY_SIGNATURE,
    EXAMPLE_TEXT_FEATURE,
    EXAMPLE_TEXT_PAIR_FEATURE,
    TEXT,
    TEXT_PAIR,
)
from bert_keras.text import BertPreprocessor


class ClassificationSignatures(TaskSignatures):
    """`serving_default` (text [, text_pair] -> probabilities, label_ids, labels, logits), `predict_ids`,
    `tokenize`, and `classify` (serialized tf.Example with a "text" [and "text_pair"] bytes feature -> classes,
    scores), which TF Serving's Classify RPC calls.

    Single-label: `label_ids` int32 `[batch]` (argmax), `labels` string `[batch]`. Multi-label: one yes/no per
    label at probability > 0.5: `label_ids` int32 `[batch, labels]` (1 = yes), `labels` string `[batch, labels]`
    (the name where yes, "" elsewhere).

    Args:
        model: a `BertClassifier`.
        preprocessor: the `BertPreprocessor` (padding "longest": a request pads to its own longest text).
        label_names: names in id order.
        multi_label: the model's mode.
        pair: the model takes a second text.
    """

    def __init__(self, model: keras.Model, preprocessor: BertPreprocessor, label_names: list[str], multi_label: bool,
                 pair: bool):
        super().__init__(model, preprocessor.tokenizer, preprocessor.packer.sequence_length, preprocessor)
        self.label_names, self.multi_label, self.pair = list(label_names), multi_label, pair

    def text_specs(self) -> list[tf.TensorSpec]:
        return [text_spec(TEXT)] + ([text_spec(TEXT_PAIR)] if self.pair else [])

    def ids_outputs(self, inputs: dict[str, tf.Tensor], logits: tf.Tensor) -> dict[str, tf.Tensor]:
        return classification_outputs(logits, self.label_names, self.multi_label)

    def text_endpoint(self) -> Endpoint:
        model, preprocessor, ids_outputs = self.model, self.preprocessor, self.ids_outputs

        def serve(*texts):
            inputs = preprocessor(*texts)
            return ids_outputs(inputs, model(inputs, training=False))

        return serve, self.text_specs()

    def endpoints(self) -> dict[str, Endpoint]:
        model, preprocessor, ids_outputs = self.model, self.preprocessor, self.ids_outputs
        names, pair = self.label_names, self.pair

        def classify(serialized):
            features = {EXAMPLE_TEXT_FEATURE: tf.io.FixedLenFeature([], tf.string)}
            if pair:
                features[EXAMPLE_TEXT_PAIR_FEATURE] = tf.io.FixedLenFeature([], tf.string)
            parsed = tf.io.parse_example(serialized, features)
            texts = [parsed[EXAMPLE_TEXT_FEATURE]] + ([parsed[EXAMPLE_TEXT_PAIR_FEATURE]] if pair else [])
            inputs = preprocessor(*texts)
            scores = ids_outputs(inputs, model(inputs, training=False))[CLASSIFY_OUTPUTS.probabilities]
            classes = tf.broadcast_to(tf.constant(names), tf.shape(scores))
            return {CLASSIFY_OUTPUT_CLASSES: classes, CLASSIFY_OUTPUT_SCORES: scores}

        endpoints = super().endpoints()
        endpoints[CLASSIFY_SIGNATURE] = (classify, [tf.TensorSpec([None], tf.string, name=CLASSIFY_INPUTS)])
        return endpoints
