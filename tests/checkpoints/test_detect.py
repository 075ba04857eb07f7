"""load_checkpoint recognises Hugging Face, Google and keras-hub directories by their files."""

import pytest
from hf_bert_reference import (
    keras_outputs,
    max_diffs,
    random_batch,
    random_hf_bert,
    torch_outputs,
    with_activation,
    write_google_checkpoint,
)

from bert_keras.checkpoints import detect_format, load_checkpoint

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def reference_model():
    return random_hf_bert(seed=4)


@pytest.fixture(scope="module")
def batch(reference_model):
    return random_batch(reference_model.config.vocab_size, [12, 4])


def test_hf_directory(reference_model, batch, tmp_path):
    reference_model.save_pretrained(tmp_path)
    assert detect_format(tmp_path) == "hf"
    loaded = load_checkpoint(tmp_path)
    diffs = max_diffs(keras_outputs(loaded.encoder, batch), torch_outputs(reference_model, batch),
                      batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs


def test_google_directory(reference_model, batch, tmp_path):
    write_google_checkpoint(reference_model, tmp_path)
    assert detect_format(tmp_path) == "google"
    loaded = load_checkpoint(tmp_path, exact_gelu=True)  # loader options pass through
    diffs = max_diffs(keras_outputs(loaded.encoder, batch), torch_outputs(reference_model, batch),
                      batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs
    tanh_reference = torch_outputs(with_activation(reference_model, "gelu_new"), batch)
    diffs = max_diffs(keras_outputs(load_checkpoint(tmp_path).encoder, batch), tanh_reference,
                      batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs


def test_keras_hub_preset_directory(tmp_path):
    import keras_hub

    backbone = keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=16,
                                             intermediate_dim=32, max_sequence_length=8)
    backbone.save_to_preset(tmp_path)
    assert detect_format(tmp_path) == "keras_hub"
    loaded = load_checkpoint(tmp_path)
    assert (loaded.config.vocab_size, loaded.config.hidden_size, loaded.config.num_hidden_layers) == (50, 16, 1)


def test_directory_without_a_config_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="bert_config.json"):
        detect_format(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        detect_format(tmp_path / "nowhere")


def test_unknown_format_name_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="onnx"):
        load_checkpoint(tmp_path, format="onnx")
