"""bert-keras' .keras checkpoint directory: `bert-keras convert --to keras` output loads back through
load_checkpoint with transformers' outputs and the source's casing."""

import os

import pytest
from hf_bert_reference import (
    hf_reference_tokenizer,
    keras_outputs,
    max_diffs,
    random_batch,
    random_hf_bert,
    torch_outputs,
    write_hf_checkpoint,
)

from bert_keras.checkpoints import detect_format, load_checkpoint, load_keras_checkpoint
from bert_keras.cli import main

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def reference_model():
    return random_hf_bert(seed=6)


@pytest.fixture(scope="module")
def converted(reference_model, tmp_path_factory):
    """A cased HF checkpoint (tokenizer_config.json from transformers), converted by the CLI to keras."""
    source = tmp_path_factory.mktemp("hf_cased")
    write_hf_checkpoint(reference_model, source)
    hf_reference_tokenizer(str(source / "vocab.txt"), lowercase=False).save_pretrained(source)
    output = tmp_path_factory.mktemp("keras_out") / "converted"
    assert main(["convert", "--input", str(source), "--output", str(output), "--to", "keras"]) == 0
    return source, output


def test_converted_directory_loads_with_transformers_outputs(reference_model, converted):
    source, output = converted
    assert sorted(os.listdir(output)) == ["encoder.keras", "tokenizer_config.json", "vocab.txt"]
    assert detect_format(output) == "keras"
    loaded = load_checkpoint(output)
    batch = random_batch(reference_model.config.vocab_size, [9, 3, 6])
    diffs = max_diffs(keras_outputs(loaded.encoder, batch), torch_outputs(reference_model, batch),
                      batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs
    assert loaded.config.hidden_act == reference_model.config.hidden_act
    assert loaded.vocab_path == os.path.join(output, "vocab.txt")
    assert loaded.lowercase is False  # the source's tokenizer_config.json said cased


def test_casing_file_is_what_transformers_reads(converted):
    from transformers import AutoTokenizer

    _, output = converted
    tokenizer = AutoTokenizer.from_pretrained(output)
    assert tokenizer("Word0", add_special_tokens=False)["input_ids"] == [tokenizer.unk_token_id]  # not lower-cased


def test_keras_directory_converts_back_to_hf(reference_model, converted, tmp_path):
    import transformers

    _, output = converted
    assert main(["convert", "--input", str(output), "--output", str(tmp_path / "hf"), "--from", "keras"]) == 0
    again = transformers.BertModel.from_pretrained(tmp_path / "hf").eval()
    batch = random_batch(reference_model.config.vocab_size, [5, 8])
    diffs = max_diffs(torch_outputs(again, batch), torch_outputs(reference_model, batch), batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs


def test_directory_without_encoder_keras_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no encoder.keras"):
        load_keras_checkpoint(tmp_path)
