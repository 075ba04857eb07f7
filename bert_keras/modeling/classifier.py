"""BertClassifier: sequence classification (one or two segments; single-label or multi-label) on [CLS]."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from bert_keras.modeling.heads import dense_logits
from bert_keras.modeling.losses import global_weighted_mean
from bert_keras.modeling.task_model import BertTaskModel, encoder_inputs


@keras.saving.register_keras_serializable(package="bert_keras")
class BertClassifier(BertTaskModel):
    """Encoder -> pooled [CLS] output -> dropout -> dense logits, as BERT's run_classifier.

    Inputs: the encoder's `token_ids`, `segment_ids`, `padding_mask`. Output: float32 logits `[batch, classes]`.
    Default loss: softmax cross-entropy against int labels `[batch]` (single-label), or per-class sigmoid
    cross-entropy against multi-hot labels `[batch, classes]` (`multi_label=True`), averaged over the global
    batch; `sample_weight` (e.g. class weights) scales each example's term, as Keras' `class_weight` does.

    Args:
        encoder: a `BertEncoder`.
        num_classes: number of labels.
        multi_label: independent yes/no decision per label instead of one label per example.
        dropout: dropout before the output layer (None: the encoder config's hidden_dropout_prob).
    """

    def __init__(self, encoder, num_classes: int, multi_label: bool = False, dropout: float | None = None,
                 **kwargs):
        if num_classes < 1 or (num_classes < 2 and not multi_label):
            raise ValueError(f"num_classes must be >= 2 (>= 1 for multi_label), got {num_classes}")
        config = encoder.config
        dropout = config.hidden_dropout_prob if dropout is None else dropout
        inputs = encoder_inputs()
        pooled = encoder(inputs)["pooled_output"]
        logits = dense_logits(pooled, num_classes, config.initializer_range, dropout, name="classifier")
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder = encoder
        self.num_classes, self.multi_label, self.dropout = num_classes, multi_label, dropout

    def task_loss(self, y, y_pred, sample_weight):
        if self.multi_label:
            per_label = ops.binary_crossentropy(ops.cast(y, "float32"), y_pred, from_logits=True)
            per_example = ops.mean(per_label, axis=-1)
        else:
            per_example = keras.losses.sparse_categorical_crossentropy(y, y_pred, from_logits=True)
        return global_weighted_mean(per_example, sample_weight, normalize_by_count=True)

    def default_metrics(self):
        if self.multi_label:  # logits: > 0 is probability > 0.5
            return [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)], None
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")], None

    def task_config(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "multi_label": self.multi_label, "dropout": self.dropout}
