"""BERT's optimizers: AdamW (or LAMB for large batches) with linear warmup, linear decay and global-norm clipping."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import tensorflow as tf
from keras import ops
from keras.src.optimizers.base_optimizer import clip_by_global_norm

from bert_keras.errors import InvalidInputError

OPTIMIZERS = ("adamw", "lamb")
# BERT applies no weight decay to LayerNorm scales/offsets and biases (Keras variable names gamma/beta/bias).
NO_DECAY_NAMES = ("bias", "gamma", "beta")


@keras.saving.register_keras_serializable(package="bert_keras")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak_learning_rate` over `warmup_steps`, then linear decay to `end_learning_rate`
    at `decay_steps` (constant after), as in Google's BERT optimization.py."""

    def __init__(self, peak_learning_rate: float, decay_steps: int, warmup_steps: int = 0,
                 end_learning_rate: float = 0.0):
        if decay_steps < 1 or not 0 <= warmup_steps <= decay_steps:
            raise InvalidInputError(f"need 0 <= warmup_steps ({warmup_steps}) <= decay_steps ({decay_steps}), "
                                    "decay_steps >= 1")
        self.peak_learning_rate, self.decay_steps = peak_learning_rate, decay_steps
        self.warmup_steps, self.end_learning_rate = warmup_steps, end_learning_rate

    def __call__(self, step):
        step = ops.cast(step, "float32")
        decayed = self.end_learning_rate + (self.peak_learning_rate - self.end_learning_rate) * (
            1.0 - ops.minimum(step, float(self.decay_steps)) / float(self.decay_steps))
        if not self.warmup_steps:
            return decayed
        warmup = self.peak_learning_rate * step / float(self.warmup_steps)
        return ops.where(step < float(self.warmup_steps), warmup, decayed)

    def get_config(self) -> dict[str, Any]:
        return {"peak_learning_rate": self.peak_learning_rate, "decay_steps": self.decay_steps,
                "warmup_steps": self.warmup_steps, "end_learning_rate": self.end_learning_rate}


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Optimizer settings (defaults: BERT's AdamW with eps 1e-6, weight decay 0.01, clip global norm 1.0).

    Args:
        name: "adamw", or "lamb" (layer-wise adaptive rates, for batch sizes in the thousands).
        learning_rate: peak learning rate.
        train_steps: total optimizer steps (the decay ends here).
        warmup_steps: linear warmup steps.
        end_learning_rate: learning rate at `train_steps`.
        weight_decay: decoupled weight decay, not applied to LayerNorm and bias variables.
        beta_1, beta_2, epsilon: Adam moments.
        global_clipnorm: clip gradients by global norm (None: no clipping).
    """

    name: str = "adamw"
    learning_rate: float = 1e-4
    train_steps: int = 10000
    warmup_steps: int = 1000
    end_learning_rate: float = 0.0
    weight_decay: float = 0.01
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-6
    global_clipnorm: float | None = 1.0

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise InvalidInputError(f"optimizer {self.name!r} is unknown; expected one of {OPTIMIZERS}")
        if not self.learning_rate > 0:
            raise InvalidInputError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.train_steps < 1 or not 0 <= self.warmup_steps <= self.train_steps:
            raise InvalidInputError(f"need train_steps >= 1 and 0 <= warmup_steps <= train_steps, got train_steps="
                                    f"{self.train_steps}, warmup_steps={self.warmup_steps}")


# ------------------------------------------------------------------------------------------------------------
# Keras 3 workaround: under a multi-replica strategy, Keras' TensorFlow optimizer clips each replica's gradient
# (its share of the global batch) by `global_clipnorm` BEFORE summing them across replicas, so a clipped step
# differs from the same step on one device (the summed gradient can reach N x the clip norm, and its direction
# changes). These subclasses sum first, then clip the global gradient, as one device does. They touch three
# private methods of keras.src.backend.tensorflow.optimizer.TFOptimizer (`_backend_update_step`,
# `_all_reduce_sum_gradients`, `_distributed_tf_update_step`) and keras.src's `clip_by_global_norm`; with one
# replica they are Keras' own code path.
# tests/training/test_strategies.py checks mirrored == one device with clipping active.

def _replicas_in_sync() -> int:
    context = tf.distribute.get_replica_context()
    return context.num_replicas_in_sync if context is not None else 1


class _ClipAfterAllReduce:
    """Mixin for a Keras optimizer: global-norm clipping of the all-reduced gradient (see above)."""

    def _clips_after_all_reduce(self) -> bool:
        return bool(self.global_clipnorm) and _replicas_in_sync() > 1

    def _clip_gradients(self, grads):
        if self._clips_after_all_reduce():
            return grads  # clipped in _backend_update_step, once summed across replicas
        return super()._clip_gradients(grads)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if not self._clips_after_all_reduce():
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        variables = [v.value if isinstance(v, keras.Variable) else v for v in trainable_variables]
        reduced = self._all_reduce_sum_gradients(list(zip(grads, variables)))
        clipped = clip_by_global_norm([g for g, _ in reduced], self.global_clipnorm)
        tf.__internal__.distribute.interim.maybe_merge_call(
            self._distributed_tf_update_step, self._distribution_strategy,
            [(g, v) for g, (_, v) in zip(clipped, reduced)], learning_rate)


@keras.saving.register_keras_serializable(package="bert_keras")
class AdamW(_ClipAfterAllReduce, keras.optimizers.AdamW):
    """keras.optimizers.AdamW whose global-norm clipping is the same on N replicas as on one device."""


@keras.saving.register_keras_serializable(package="bert_keras")
class Lamb(_ClipAfterAllReduce, keras.optimizers.Lamb):
    """keras.optimizers.Lamb whose global-norm clipping is the same on N replicas as on one device."""


def create_optimizer(config: OptimizerConfig) -> keras.optimizers.Optimizer:
    """The Keras optimizer `config` describes, with BERT's schedule and weight-decay exclusions."""
    schedule = WarmupLinearDecay(config.learning_rate, config.train_steps, config.warmup_steps,
                                 config.end_learning_rate)
    options = dict(learning_rate=schedule, beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon,
                   weight_decay=config.weight_decay, global_clipnorm=config.global_clipnorm)
    optimizer = AdamW(**options) if config.name == "adamw" else Lamb(**options)
    if config.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY_NAMES))
    return optimizer
