"""BertQuestionAnswerer: extractive QA, scoring every token as the answer's start and end."""

from __future__ import annotations

import keras

from bert_keras.modeling.heads import SpanHead
from bert_keras.modeling.losses import global_weighted_mean
from bert_keras.modeling.task_model import BertTaskModel, encoder_inputs

START, END = "start", "end"  # output names; also the keys of y (token positions of the answer span)


@keras.saving.register_keras_serializable(package="bert_keras")
class BertQuestionAnswerer(BertTaskModel):
    """Encoder -> `SpanHead`, as BERT's run_squad.

    Inputs: the encoder's `token_ids`, `segment_ids` (question 0, context 1), `padding_mask`. Outputs:
    `{"start": logits, "end": logits}`, float32 `[batch, length]`, padding at -1e9. Default loss: the mean of
    the start and end cross-entropies against int positions `y = {"start": [batch], "end": [batch]}`
    (position 0, [CLS], marks "no answer in this window"), averaged over the global batch. The encoder's
    pooler, which this head does not use, is set non-trainable.

    Args:
        encoder: a `BertEncoder`.
    """

    def __init__(self, encoder, **kwargs):
        encoder.pooler.trainable = False  # this head does not use the pooled output: nothing to train there
        inputs = encoder_inputs()
        sequence = encoder(inputs)["sequence_output"]
        start, end = SpanHead(encoder.config.initializer_range, name="span_head")(sequence, inputs["padding_mask"])
        outputs = {START: keras.layers.Activation("linear", dtype="float32", name=START)(start),
                   END: keras.layers.Activation("linear", dtype="float32", name=END)(end)}
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.encoder = encoder

    def task_loss(self, y, y_pred, sample_weight):
        if not isinstance(y, dict) or START not in y or END not in y:
            raise ValueError(f"BertQuestionAnswerer expects y = {{'{START}': positions, '{END}': positions}}, "
                             f"got {type(y).__name__}")
        losses = [keras.losses.sparse_categorical_crossentropy(y[k], y_pred[k], from_logits=True)
                  for k in (START, END)]
        return global_weighted_mean((losses[0] + losses[1]) / 2.0)

    def default_metrics(self):
        accuracy = {k: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")] for k in (START, END)}
        return accuracy, None
