"""BertMaskedLM: the encoder with BERT's masked-LM head alone (fill-mask; MLM-only training)."""

from __future__ import annotations

import keras

from bert_keras.modeling.heads import MaskedLMHead
from bert_keras.modeling.losses import global_weighted_mean
from bert_keras.modeling.task_model import BertTaskModel, encoder_inputs


@keras.saving.register_keras_serializable(package="bert_keras")
class BertMaskedLM(BertTaskModel):
    """Encoder -> `MaskedLMHead` (output weights tied to the token embedding).

    Inputs: the encoder's `token_ids`, `segment_ids`, `padding_mask` and int32 `mask_positions`
    `[batch, predictions]`. Output: float32 vocab logits `[batch, predictions, vocab]`. Default loss:
    cross-entropy against the original ids `[batch, predictions]`, averaged over the targets whose
    `sample_weight` is non-zero in the global batch.

    Args:
        encoder: a `BertEncoder`.
    """

    def __init__(self, encoder, **kwargs):
        config = encoder.config
        inputs = encoder_inputs()
        inputs["mask_positions"] = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
        sequence = encoder({k: v for k, v in inputs.items() if k != "mask_positions"})["sequence_output"]
        head = MaskedLMHead(
            config.vocab_size, activation=config.hidden_act, layer_norm_eps=config.layer_norm_eps,
            initializer_range=config.initializer_range, token_embedding=encoder.token_embedding,
            name="masked_lm_head")
        logits = head(sequence, inputs["mask_positions"])
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder, self.masked_lm_head = encoder, head

    def task_loss(self, y, y_pred, sample_weight):
        per_target = keras.losses.sparse_categorical_crossentropy(y, y_pred, from_logits=True)
        return global_weighted_mean(per_target, sample_weight)

    def default_metrics(self):
        return None, [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
