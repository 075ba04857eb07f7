"""Google's original TF1 checkpoints, written in the test by hand from a transformers model's weights."""

import numpy as np
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

from bert_keras.checkpoints import load_google_checkpoint
from bert_keras.errors import CheckpointMismatchError

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def reference_model():
    return random_hf_bert(hidden_act="gelu", seed=3)


@pytest.fixture(scope="module")
def batch(reference_model):
    return random_batch(reference_model.config.vocab_size, [24, 6, 15, 2])


@pytest.fixture(scope="module")
def google_dir(reference_model, tmp_path_factory):
    return write_google_checkpoint(reference_model, tmp_path_factory.mktemp("uncased_L-2_H-32_A-2"))


@pytest.fixture(scope="module")
def references(reference_model, batch):
    """transformers outputs of the same weights with the erf GELU ("gelu") and the tanh GELU ("gelu_new")."""
    return {"erf": torch_outputs(reference_model, batch),
            "tanh": torch_outputs(with_activation(reference_model, "gelu_new"), batch)}


def test_the_two_gelus_give_measurably_different_references(references, batch):
    # Otherwise the tests below could not tell which GELU the loader picked.
    assert min(max_diffs(references["erf"], references["tanh"], batch["padding_mask"])) > 10 * TOLERANCE


def test_default_reproduces_googles_tanh_gelu(google_dir, references, batch):
    loaded = load_google_checkpoint(google_dir)
    diffs = max_diffs(keras_outputs(loaded.encoder, batch), references["tanh"], batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs
    assert loaded.config.activation == "gelu_approximate"


def test_exact_gelu_matches_hugging_face_conversions(google_dir, references, batch):
    loaded = load_google_checkpoint(google_dir, exact_gelu=True)
    diffs = max_diffs(keras_outputs(loaded.encoder, batch), references["erf"], batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs
    assert loaded.config.activation == "gelu"


def test_tanh_gelu_checkpoint_converts_to_hf_that_transformers_runs(google_dir, references, batch, tmp_path):
    import transformers

    from bert_keras.checkpoints import save_hf_checkpoint

    loaded = load_google_checkpoint(google_dir)
    save_hf_checkpoint(loaded.encoder, tmp_path, vocab_path=loaded.vocab_path)
    converted = transformers.BertModel.from_pretrained(tmp_path).eval()
    diffs = max_diffs(torch_outputs(converted, batch), references["tanh"], batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs


def test_heads_vocab_and_casing_come_along(google_dir):
    loaded = load_google_checkpoint(google_dir)
    assert sorted(loaded.head_tensors) == ["cls/predictions/output_bias", "cls/seq_relationship/output_weights"]
    assert loaded.vocab_path == str(google_dir / "vocab.txt")
    assert loaded.lowercase is True  # the directory is named uncased_...


def test_unexpected_variable_outside_bert_is_an_error(reference_model, tmp_path):
    extra = {"electra/embeddings/word_embeddings": np.zeros((3, 3), np.float32)}
    write_google_checkpoint(reference_model, tmp_path, extra_variables=extra)
    with pytest.raises(CheckpointMismatchError, match="electra/embeddings/word_embeddings"):
        load_google_checkpoint(tmp_path)


def test_missing_and_misshaped_bert_variables_are_listed(reference_model, tmp_path):
    extra = {"bert/encoder/layer_1/output/dense/kernel": np.zeros((32, 64), np.float32),  # expected (64, 32)
             "bert/encoder/layer_2/output/dense/kernel": np.zeros((64, 32), np.float32)}
    write_google_checkpoint(reference_model, tmp_path, extra_variables=extra)
    with pytest.raises(CheckpointMismatchError) as raised:
        load_google_checkpoint(tmp_path)
    assert "encoder/layer_1/output/dense/kernel is (32, 64), expected (64, 32)" in str(raised.value)
    assert "unexpected (1): encoder/layer_2/output/dense/kernel" in str(raised.value)


def test_missing_bert_config_names_the_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_google_checkpoint(tmp_path)
