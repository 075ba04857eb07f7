"""BertTaskModel: the shared base of the fine-tuning models (an encoder plus a head, with a built-in loss)."""

from __future__ import annotations

from typing import Any

import keras

from bert_keras.modeling.losses import replicas_in_sync

ENCODER_INPUTS = ("token_ids", "segment_ids", "padding_mask")


def encoder_inputs() -> dict[str, keras.KerasTensor]:
    """Symbolic int32 `[batch, length]` inputs named as `BertEncoder` expects them."""
    return {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in ENCODER_INPUTS}


class BertTaskModel(keras.Model):
    """A functional model over a `BertEncoder` whose default loss is `task_loss` (normalised over the global
    batch, so every tf.distribute strategy optimises the one-device loss). A `loss` passed to `compile`
    replaces it; `default_metrics()` are compiled when neither loss nor metrics are given.

    Subclasses build their graph, call `super().__init__(inputs=..., outputs=...)`, set `self.encoder`, and
    define `task_loss(y, y_pred, sample_weight)`, `default_metrics()` and `task_config()` (their constructor
    arguments besides the encoder).
    """

    def compile(self, optimizer="adam", loss=None, metrics=None, weighted_metrics=None, **kwargs) -> None:
        """Keras compile with the task's loss and metrics as defaults."""
        if loss is None and metrics is None and weighted_metrics is None:
            metrics, weighted_metrics = self.default_metrics()
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, weighted_metrics=weighted_metrics,
                        **kwargs)

    def default_metrics(self) -> tuple[Any, Any]:
        """(metrics, weighted_metrics) compiled by default."""
        return None, None

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Recompile a loaded model (Keras skips this for models that override compile)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self._compile_loss is not None:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        replicas = replicas_in_sync()
        total = self.task_loss(y, y_pred, sample_weight)
        for extra in self.losses:
            total = total + self._aggregate_additional_loss(extra) * replicas
        return total / replicas

    def __init_subclass__(cls, **kwargs):
        # The loss is required; an abc.ABCMeta base would break Keras' own __new__, so check it here.
        super().__init_subclass__(**kwargs)
        if not callable(getattr(cls, "task_loss", None)):
            raise TypeError(f"{cls.__name__} must define task_loss(y, y_pred, sample_weight)")

    def task_config(self) -> dict[str, Any]:
        return {}

    def get_config(self) -> dict[str, Any]:
        return {"encoder": keras.saving.serialize_keras_object(self.encoder), "name": self.name,
                "trainable": self.trainable, **self.task_config()}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)
