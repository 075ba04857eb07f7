"""BertPretrainer: encoder + masked-LM head (tied to the token embedding) + next-sentence head, ready for fit."""

from __future__ import annotations

import os
from typing import Any

import keras

from bert_keras.checkpoints import load_checkpoint
from bert_keras.checkpoints.pretraining_heads import assign_pretraining_heads
from bert_keras.errors import InvalidInputError
from bert_keras.modeling.encoder import BertEncoder
from bert_keras.modeling.heads import MaskedLMHead
from bert_keras.modeling.losses import global_weighted_mean, replicas_in_sync

MLM, NSP = "mlm", "nsp"  # output names; also the keys of y and sample_weight
NSP_CLASSES = 2  # label 0: B follows A; 1: B is a random sentence (Google's convention)


@keras.saving.register_keras_serializable(package="bert_keras")
class BertPretrainer(keras.Model):
    """BERT's pretraining model: masked LM + next sentence prediction on a `BertEncoder`.

    Inputs: `token_ids`, `segment_ids`, `padding_mask` (int32 `[batch, length]`) and `mask_positions` (int32
    `[batch, predictions]`), as `bert_keras.data.pretraining` produces them. Outputs: `mlm` float32 logits
    `[batch, predictions, vocab]` and `nsp` float32 logits `[batch, 2]`.

    `compile()` defaults to BERT's objective: the masked-LM cross-entropy averaged over the real targets of the
    whole global batch (targets weighted by `sample_weight["mlm"]`) plus the next-sentence cross-entropy averaged
    over the global batch. Both are normalised by global counts across replicas, so a run under MirroredStrategy
    or MultiWorkerMirroredStrategy optimises exactly the single-device loss. Logs `mlm_loss`, `nsp_loss`,
    `mlm_accuracy` (over real targets) and `nsp_accuracy`. Passing your own `loss` to compile replaces all this.

    Args:
        encoder: the `BertEncoder` to pretrain.

    Examples:
    ```python
    pretrainer = bert_keras.BertPretrainer.from_preset(bert_keras.assets.asset_path("antiberty"))  # its MLM head
    pretrainer.compile(optimizer=keras.optimizers.AdamW(1e-4))  # then fit on bert_keras.data.pretraining batches
    ```
    """

    def __init__(self, encoder: BertEncoder, **kwargs):
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        config = encoder.config
        inputs = dict(encoder.input)
        inputs["mask_positions"] = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
        features = encoder({k: inputs[k] for k in ("token_ids", "segment_ids", "padding_mask")})
        mlm_head = MaskedLMHead(config.vocab_size, activation=config.hidden_act, layer_norm_eps=config.layer_norm_eps,
                                initializer_range=config.initializer_range, token_embedding=encoder.token_embedding,
                                name="masked_lm_head")
        nsp_head = keras.layers.Dense(
            NSP_CLASSES, kernel_initializer=keras.initializers.TruncatedNormal(stddev=config.initializer_range),
            name="next_sentence_head")
        outputs = {
            MLM: mlm_head(features["sequence_output"], inputs["mask_positions"]),
            NSP: keras.layers.Activation("linear", dtype="float32", name="nsp_logits")(
                nsp_head(features["pooled_output"])),
        }
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.encoder = encoder
        self.masked_lm_head, self.next_sentence_head = mlm_head, nsp_head
        self.mlm_loss_tracker = keras.metrics.Mean(name="mlm_loss")
        self.nsp_loss_tracker = keras.metrics.Mean(name="nsp_loss")

    def compile(self, optimizer="adam", loss=None, metrics=None, weighted_metrics=None, **kwargs) -> None:
        """Keras compile with BERT's losses and accuracies as defaults (see the class docstring)."""
        if loss is None and metrics is None:
            metrics = {NSP: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}
        if loss is None and weighted_metrics is None:
            weighted_metrics = {MLM: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, weighted_metrics=weighted_metrics,
                        **kwargs)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Recompile a loaded model (Keras skips this for models that override compile)."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self._compile_loss is not None:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        if not isinstance(y, dict) or MLM not in y or NSP not in y:
            raise InvalidInputError(f"BertPretrainer expects y = {{'{MLM}': mask_ids, '{NSP}': next_sentence_labels}}, "
                                    f"got {type(y).__name__}: {y!r}")
        weights = None if sample_weight is None else sample_weight.get(MLM)
        mlm_ce = keras.losses.sparse_categorical_crossentropy(y[MLM], y_pred[MLM], from_logits=True)
        mlm = global_weighted_mean(mlm_ce, weights)
        nsp = global_weighted_mean(keras.losses.sparse_categorical_crossentropy(y[NSP], y_pred[NSP], from_logits=True))
        replicas = replicas_in_sync()
        self.mlm_loss_tracker.update_state(mlm)
        self.nsp_loss_tracker.update_state(nsp)
        total = mlm + nsp
        for extra in self.losses:
            total = total + self._aggregate_additional_loss(extra) * replicas
        return total / replicas

    @classmethod
    def from_preset(cls, source: str | os.PathLike, revision: str | None = None) -> "BertPretrainer":
        """A pretrainer on any checkpoint `load_checkpoint` reads, with whichever of its masked-LM and
        next-sentence heads the checkpoint has (the others start fresh), to continue pretraining."""
        loaded = load_checkpoint(os.fspath(source), revision=revision)
        model = cls(loaded.encoder)
        assign_pretraining_heads(model, loaded.head_tensors, os.fspath(source))
        return model

    def get_config(self) -> dict[str, Any]:
        return {"encoder": keras.saving.serialize_keras_object(self.encoder), "name": self.name,
                "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "BertPretrainer":
        return cls(**config)
