"""keras-hub BertBackbone import: the backbone's own outputs are the reference."""

import numpy as np
import pytest
from hf_bert_reference import WEIGHT_STDDEV, keras_outputs, max_diffs, random_batch

from bert_keras.checkpoints import load_checkpoint, load_keras_hub_backbone

VOCAB_SIZE = 99
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def backbone():
    import keras_hub

    backbone = keras_hub.models.BertBackbone(vocabulary_size=VOCAB_SIZE, num_layers=2, num_heads=2, hidden_dim=32,
                                             intermediate_dim=64, dropout=0.0, max_sequence_length=24)
    # Every weight random (biases and LayerNorms included) and large enough for the GELU forms to differ.
    rng = np.random.default_rng(5)
    for variable in backbone.weights:
        noise = rng.normal(0.0, WEIGHT_STDDEV, variable.shape).astype(np.float32)
        variable.assign(1.0 + noise / 2 if variable.path.endswith("gamma") else noise)
    return backbone


@pytest.fixture(scope="module")
def batch():
    return random_batch(VOCAB_SIZE, [24, 3, 17, 9])


@pytest.fixture(scope="module")
def expected(backbone, batch):
    out = backbone(batch, training=False)
    return np.asarray(out["sequence_output"]), np.asarray(out["pooled_output"])


def test_backbone_object_imports_with_equal_outputs(backbone, batch, expected):
    loaded = load_keras_hub_backbone(backbone)
    diffs = max_diffs(keras_outputs(loaded.encoder, batch), expected, batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs
    assert loaded.config.hidden_dropout_prob == 0.0


def test_saved_preset_directory_imports_with_equal_outputs(backbone, batch, expected, tmp_path):
    backbone.save_to_preset(tmp_path)
    loaded = load_checkpoint(tmp_path)  # detected as a keras-hub preset
    diffs = max_diffs(keras_outputs(loaded.encoder, batch), expected, batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs


def test_exact_gelu_differs_by_the_tanh_erf_gap(backbone, batch, expected):
    loaded = load_keras_hub_backbone(backbone, hidden_act="gelu")
    sequence_diff, pooled_diff = max_diffs(keras_outputs(loaded.encoder, batch), expected, batch["padding_mask"])
    assert 1e-6 < sequence_diff < 1e-2
    assert pooled_diff < 1e-2


def test_missing_preset_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a local keras-hub preset"):
        load_keras_hub_backbone(str(tmp_path / "bert_base_en"))


# ---- the preset's tokenizer decides the casing ----

CASED_TEXTS = ["Paris is in France", "the MEETING at Noon"]


@pytest.fixture(scope="module")
def presets_by_casing(minilm_vocab, tmp_path_factory):
    """Tiny presets saved by keras-hub with a BertTokenizer of each casing (the real MiniLM vocab)."""
    import keras_hub

    directories = {}
    for lowercase in (False, True):
        tokenizer = keras_hub.models.BertTokenizer(vocabulary=minilm_vocab, lowercase=lowercase)
        backbone = keras_hub.models.BertBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1,
                                                 num_heads=2, hidden_dim=16, intermediate_dim=32,
                                                 max_sequence_length=8)
        directory = tmp_path_factory.mktemp(f"preset_lowercase_{lowercase}")
        backbone.save_to_preset(directory)
        tokenizer.save_to_preset(directory)
        directories[lowercase] = directory
    return directories


@pytest.mark.parametrize("lowercase", [False, True])
def test_preset_tokenizer_casing_is_kept_and_tokenizes_as_keras_hub(presets_by_casing, lowercase):
    import keras_hub

    from bert_keras.text import BertTokenizer

    directory = presets_by_casing[lowercase]
    loaded = load_checkpoint(directory)
    assert loaded.lowercase is lowercase and loaded.tokenizer_lowercase is lowercase
    reference = keras_hub.models.BertTokenizer.from_preset(str(directory))  # keras-hub's own reading
    expected = [[int(i) for i in row] for row in reference(CASED_TEXTS)]
    ours = BertTokenizer(loaded.vocab_path, lowercase=loaded.tokenizer_lowercase)
    assert ours.tokenize(CASED_TEXTS).to_list() == expected
    other_casing = BertTokenizer(loaded.vocab_path, lowercase=not loaded.tokenizer_lowercase)
    assert other_casing.tokenize(CASED_TEXTS).to_list() != expected  # the texts tell the casings apart


def test_preset_without_tokenizer_and_backbone_object_say_nothing_of_casing(backbone, tmp_path):
    backbone.save_to_preset(tmp_path)
    assert load_checkpoint(tmp_path).lowercase is None
    assert load_keras_hub_backbone(backbone).lowercase is None
