"""BertEncoder: sequence lengths, serialization, dropout and padding invariance."""

import keras
import numpy as np
import pytest
from hf_bert_reference import keras_outputs, random_batch

from bert_keras.config import BertConfig
from bert_keras.modeling import BertEncoder

MAX_LENGTH = 16
CONFIG = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, max_position_embeddings=MAX_LENGTH)


def inputs(lengths, width=None):
    return random_batch(CONFIG.vocab_size, lengths, width=width)


@pytest.fixture(scope="module")
def encoder():
    keras.utils.set_random_seed(0)
    return BertEncoder(CONFIG)


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis -1")  # length 1: a one-key softmax
@pytest.mark.parametrize("length", [1, 7, MAX_LENGTH])
def test_any_length_up_to_max_positions_works(encoder, length):
    sequence, pooled = keras_outputs(encoder, inputs([length, length]))
    assert sequence.shape == (2, length, CONFIG.hidden_size)
    assert pooled.shape == (2, CONFIG.hidden_size)
    assert np.isfinite(sequence).all() and np.isfinite(pooled).all()


def test_longer_than_max_positions_is_an_error_naming_the_limit(encoder):
    with pytest.raises(ValueError, match=f"max_position_embeddings={MAX_LENGTH}"):
        encoder(inputs([MAX_LENGTH + 1]))


def test_pooled_output_is_tanh_dense_of_the_cls_position(encoder):
    sequence, pooled = keras_outputs(encoder, inputs([5, 9]))
    kernel, bias = (np.asarray(w) for w in encoder.pooler.weights)
    np.testing.assert_allclose(pooled, np.tanh(sequence[:, 0] @ kernel + bias), atol=1e-6)


def test_get_config_from_config_rebuilds_the_same_model(encoder):
    clone = BertEncoder.from_config(encoder.get_config())
    clone.set_weights(encoder.get_weights())
    batch = inputs([4, 11])
    for ours, theirs in zip(keras_outputs(encoder, batch), keras_outputs(clone, batch)):
        np.testing.assert_array_equal(ours, theirs)
    assert clone.config == CONFIG


def test_keras_file_save_and_load_gives_identical_outputs(encoder, tmp_path):
    path = tmp_path / "encoder.keras"
    encoder.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, BertEncoder)
    batch = inputs([4, 11])
    for ours, theirs in zip(keras_outputs(encoder, batch), keras_outputs(loaded, batch)):
        np.testing.assert_array_equal(ours, theirs)


def test_dropout_is_active_only_in_training(encoder):
    batch = inputs([9, 12])
    inference = [keras_outputs(encoder, batch) for _ in range(2)]
    np.testing.assert_array_equal(inference[0][0], inference[1][0])
    first, second = keras_outputs(encoder, batch, training=True), keras_outputs(encoder, batch, training=True)
    assert np.abs(first[0] - second[0]).max() > 1e-3
    assert np.abs(first[0] - inference[0][0]).max() > 1e-3


def test_outputs_at_real_positions_ignore_appended_padding(encoder):
    lengths = [3, 8, 12]
    short = keras_outputs(encoder, inputs(lengths))
    long = keras_outputs(encoder, inputs(lengths, width=MAX_LENGTH))
    for row, length in enumerate(lengths):
        np.testing.assert_allclose(long[0][row, :length], short[0][row, :length], atol=1e-5)
    np.testing.assert_allclose(long[1], short[1], atol=1e-5)


def test_padding_positions_do_not_leak_into_real_tokens(encoder):
    batch = inputs([6], width=10)
    changed = {name: array.copy() for name, array in batch.items()}
    changed["token_ids"][0, 6:] = np.arange(4) + 50  # different ids under the padding
    changed_sequence, original_sequence = keras_outputs(encoder, changed)[0], keras_outputs(encoder, batch)[0]
    np.testing.assert_allclose(changed_sequence[0, :6], original_sequence[0, :6], atol=1e-6)


def test_encoder_flops_equal_tensorflow_profilers_count_of_the_traced_matmuls(encoder):
    """TF's own profiler counts the FLOPs of every MatMul / BatchMatMulV2 in the traced encoder graph."""
    import tensorflow as tf
    from tensorflow.python.profiler import model_analyzer, option_builder

    from bert_keras.modeling.flops import encoder_flops

    batch, length = 3, 11
    spec = {k: tf.TensorSpec([batch, length], tf.int32) for k in ("token_ids", "segment_ids", "padding_mask")}
    graph = tf.function(lambda x: encoder(x)).get_concrete_function(spec).graph
    options = option_builder.ProfileOptionBuilder(option_builder.ProfileOptionBuilder.float_operation())
    options = options.with_empty_output().build()
    options["account_type_regexes"] = ["MatMul", "BatchMatMulV2"]
    profiled = model_analyzer.profile(graph, cmd="op", options=options).total_float_ops
    assert profiled == batch * encoder_flops(CONFIG, length)
    # all-MiniLM-L6-v2 at 128 tokens, by hand: 6 x (4*128*384^2 + 2*128^2*384 + 2*128*384*1536) + 384^2 MACs
    minilm = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                        intermediate_size=1536)
    assert encoder_flops(minilm, 128) == 2 * (6 * (75_497_472 + 12_582_912 + 150_994_944) + 147_456)
