"""BERT's optimizer set-up: the warmup/decay schedule by hand, weight-decay exclusions, clipping, settings errors."""

import keras
import numpy as np
import pytest

from bert_keras.training.optimizer import OptimizerConfig, WarmupLinearDecay, create_optimizer


def test_schedule_warms_up_linearly_then_decays_linearly_to_the_end_rate():
    schedule = WarmupLinearDecay(1e-3, decay_steps=100, warmup_steps=10, end_learning_rate=1e-5)
    steps = [0, 5, 10, 55, 100, 150]
    # Hand values: warmup peak*s/10; decay end + (peak - end) * (1 - s/100); constant after 100.
    expected = [0.0, 5e-4, 1e-5 + (1e-3 - 1e-5) * 0.9, 1e-5 + (1e-3 - 1e-5) * 0.45, 1e-5, 1e-5]
    np.testing.assert_allclose([float(schedule(s)) for s in steps], expected, rtol=1e-6, atol=1e-12)


def test_schedule_serializes():
    schedule = WarmupLinearDecay(2e-5, decay_steps=50, warmup_steps=5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert float(restored(20)) == pytest.approx(float(schedule(20)))


@pytest.mark.parametrize("name", ["adamw", "lamb"])
def test_weight_decay_skips_layer_norm_and_biases(name):
    """With zero gradients Adam's step is 0, so only decoupled weight decay moves a variable."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    outputs = keras.layers.LayerNormalization()(keras.layers.Dense(3)(inputs))
    model = keras.Model(inputs, keras.layers.Embedding(5, 3)(keras.ops.cast(outputs, "int32")))
    optimizer = create_optimizer(OptimizerConfig(name=name, learning_rate=0.1, train_steps=10, warmup_steps=0,
                                                 weight_decay=0.5, global_clipnorm=None))
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    optimizer.apply_gradients([(np.zeros(v.shape, "float32"), v) for v in model.trainable_variables])
    for variable in model.trainable_variables:
        leaf = variable.path.rsplit("/", 1)[-1]
        if leaf in ("bias", "gamma", "beta"):
            np.testing.assert_array_equal(variable.numpy(), before[variable.path])
        else:  # kernel, embeddings: w <- w - w * wd * lr (Keras' decoupled decay) with lr 0.1 at step 0
            np.testing.assert_allclose(variable.numpy(), before[variable.path] * (1 - 0.5 * 0.1), rtol=1e-6)


def test_global_norm_clipping_is_configured_and_can_be_turned_off():
    assert create_optimizer(OptimizerConfig(train_steps=10, warmup_steps=0)).global_clipnorm == 1.0
    assert create_optimizer(OptimizerConfig(train_steps=10, warmup_steps=0, global_clipnorm=None)).global_clipnorm \
        is None


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "sgd"}, "optimizer 'sgd' is unknown"), ({"learning_rate": 0.0}, "learning_rate"),
    ({"train_steps": 10, "warmup_steps": 20}, "warmup_steps")])
def test_bad_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OptimizerConfig(**kwargs)
