"""BertTokenClassifier: a label for every token (named-entity recognition, tagging)."""

from __future__ import annotations

from typing import Any

import keras

from bert_keras.modeling.heads import dense_logits
from bert_keras.modeling.losses import global_weighted_mean
from bert_keras.modeling.task_model import BertTaskModel, encoder_inputs


@keras.saving.register_keras_serializable(package="bert_keras")
class BertTokenClassifier(BertTaskModel):
    """Encoder -> sequence output -> dropout -> dense logits per token.

    Inputs: the encoder's `token_ids`, `segment_ids`, `padding_mask`. Output: float32 logits
    `[batch, length, labels]`. Default loss: cross-entropy against int labels `[batch, length]`, averaged over
    the tokens whose `sample_weight` is non-zero in the global batch (the data readers weight the first
    WordPiece of each word 1 and everything else 0). Logs the weighted `token_accuracy`. The encoder's pooler,
    which this head does not use, is set non-trainable.

    Args:
        encoder: a `BertEncoder`.
        num_labels: number of token labels (e.g. BIO tags).
        dropout: dropout before the output layer (None: the encoder config's hidden_dropout_prob).
    """

    def __init__(self, encoder, num_labels: int, dropout: float | None = None, **kwargs):
        if num_labels < 2:
            raise ValueError(f"num_labels must be >= 2, got {num_labels}")
        config = encoder.config
        dropout = config.hidden_dropout_prob if dropout is None else dropout
        encoder.pooler.trainable = False  # this head does not use the pooled output: nothing to train there
        inputs = encoder_inputs()
        sequence = encoder(inputs)["sequence_output"]
        logits = dense_logits(sequence, num_labels, config.initializer_range, dropout, name="token_classifier")
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder = encoder
        self.num_labels, self.dropout = num_labels, dropout

    def task_loss(self, y, y_pred, sample_weight):
        per_token = keras.losses.sparse_categorical_crossentropy(y, y_pred, from_logits=True)
        return global_weighted_mean(per_token, sample_weight)

    def default_metrics(self):
        return None, [keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")]

    def task_config(self) -> dict[str, Any]:
        return {"num_labels": self.num_labels, "dropout": self.dropout}
