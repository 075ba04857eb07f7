"""The locality scaffold: slopes, schedule and penalty by hand; its effect on attention is softmax algebra on the
unscaffolded probabilities; at strength 0 and after detaching, the encoder is exactly plain BERT."""

import re

import keras
import numpy as np
import pytest
from hf_bert_reference import random_batch, random_hf_bert

from bert_keras.checkpoints import load_hf_checkpoint
from bert_keras.errors import InvalidInputError
from bert_keras.modeling.locality_scaffold import LocalityScaffold, scaffold_slopes, scaffold_strength

LENGTHS = [12, 5, 9]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hf_scaffold")
    random_hf_bert(seed=5).save_pretrained(directory)
    return load_hf_checkpoint(directory).encoder


@pytest.fixture(scope="module")
def batch(encoder):
    return random_batch(encoder.config.vocab_size, LENGTHS, seed=3)


def test_slopes_shrink_fourfold_per_head_and_leave_the_last_head_free():
    assert scaffold_slopes(4) == [4.0, 1.0, 0.25, 0.0]
    assert scaffold_slopes(2) == [4.0, 0.0]
    assert scaffold_slopes(1) == [4.0]


@pytest.mark.parametrize("step, expected", [(0, 1.0), (100, 1.0), (150, 0.75), (200, 0.5), (300, 0.0), (900, 0.0)])
def test_strength_holds_for_a_third_then_fades_linearly(step, expected):
    # 300 steps: full strength to step 100, then 1 - (step - 100) / 200.
    assert float(scaffold_strength(step, 300)) == pytest.approx(expected)


def test_penalty_is_slope_times_distance_beyond_the_neighbours():
    step = keras.Variable(150, dtype="int64", trainable=False)
    bias = np.asarray(LocalityScaffold(300, step).bias(2, 4))
    assert bias.shape == (2, 4, 4)
    # Head 0 (slope 4) at strength 0.75: distances 0, 1 cost nothing, 2 costs 3, 3 costs 6.
    np.testing.assert_allclose(bias[0, 0], [0, 0, -3, -6])
    np.testing.assert_allclose(bias[0, 2], [-3, 0, 0, 0])
    np.testing.assert_allclose(bias[1], 0)  # the last head is free


def test_scaffolded_attention_is_the_plain_attention_reweighted_by_the_penalty(encoder, batch):
    plain = np.asarray(encoder.attention_probabilities(batch)[0])
    scaffold = LocalityScaffold(10, keras.Variable(0, dtype="int64", trainable=False))
    scaffold.attach(encoder)
    try:
        scaffolded = np.asarray(encoder.attention_probabilities(batch)[0])
    finally:
        LocalityScaffold.detach(encoder)
    heads, length = plain.shape[1], plain.shape[-1]
    distance = np.abs(np.arange(length)[:, None] - np.arange(length)[None, :])
    penalty = -np.asarray(scaffold_slopes(heads))[:, None, None] * np.maximum(distance - 1, 0)
    # Layer 0's inputs do not depend on the scaffold, so softmax(s + b) = softmax(s) * exp(b), renormalised.
    expected = plain * np.exp(penalty)[None]
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(scaffolded, expected, atol=1e-6)
    assert scaffolded[0, 0, 0, 5] < 1e-6 < plain[0, 0, 0, 5]  # slope 4, distance 5: e^-16 of what it was


def test_a_faded_or_detached_scaffold_leaves_plain_bert(encoder, batch):
    plain = encoder(batch)["sequence_output"]
    step = keras.Variable(10, dtype="int64", trainable=False)
    LocalityScaffold(10, step).attach(encoder)
    try:
        np.testing.assert_array_equal(encoder(batch)["sequence_output"], plain)  # step 10 of 10: strength 0
        step.assign(0)
        assert not np.allclose(encoder(batch)["sequence_output"], plain, atol=1e-3)
    finally:
        LocalityScaffold.detach(encoder)
    assert all(layer.locality_scaffold is None for layer in encoder.transformer_layers)
    np.testing.assert_array_equal(encoder(batch)["sequence_output"], plain)


def test_attaching_adds_no_weights(encoder):
    before = [w.path for w in encoder.weights]
    LocalityScaffold(10, keras.Variable(0, dtype="int64", trainable=False)).attach(encoder)
    try:
        assert [w.path for w in encoder.weights] == before
    finally:
        LocalityScaffold.detach(encoder)


def test_zero_steps_is_refused():
    with pytest.raises(InvalidInputError, match="locality scaffold steps must be >= 1, got 0"):
        LocalityScaffold(0, keras.Variable(0, dtype="int64", trainable=False))


def test_the_docstring_example_runs():
    import bert_keras

    code = re.search(r"```python\n(.*?)```", LocalityScaffold.__doc__, flags=re.S).group(1)
    namespace = {"bert_keras": bert_keras, "keras": keras, "LocalityScaffold": LocalityScaffold}
    exec("\n".join(line[4:] for line in code.splitlines()), namespace)
    assert all(layer.locality_scaffold is None for layer in namespace["encoder"].transformer_layers)
