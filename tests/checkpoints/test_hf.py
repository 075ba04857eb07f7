"""Hugging Face checkpoints: real MiniLM weights and tiny random models against transformers' BertModel."""

import os

import numpy as np
import pytest
from hf_bert_reference import (
    hf_reference_tokenizer,
    keras_outputs,
    max_diffs,
    random_batch,
    random_hf_bert,
    torch_outputs,
)

from bert_keras.checkpoints import load_hf_checkpoint, save_hf_checkpoint
from bert_keras.checkpoints.layout import encoder_tensors
from bert_keras.errors import CheckpointMismatchError

BATCH_LENGTHS = [24, 5, 13, 1, 18]  # mixed lengths, so most rows are padded
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def reference_model():
    return random_hf_bert(hidden_act="gelu", seed=0)


@pytest.fixture(scope="module")
def batch(reference_model):
    return random_batch(reference_model.config.vocab_size, BATCH_LENGTHS)


@pytest.fixture(scope="module")
def saved_dir(reference_model, tmp_path_factory):
    directory = tmp_path_factory.mktemp("hf_bert")
    reference_model.save_pretrained(directory)
    return directory


# ---- (a) real weights on real text ----

def test_minilm_matches_transformers_on_real_sentences(minilm_dir, minilm_vocab):
    import transformers

    from bert_keras.assets.corpora import review_sentences

    sentences = review_sentences(40)
    encoded = hf_reference_tokenizer(minilm_vocab)(sentences, padding=True, truncation=True, max_length=128,
                                                   return_tensors="np")
    batch = {"token_ids": encoded["input_ids"].astype(np.int32),
             "segment_ids": encoded["token_type_ids"].astype(np.int32),
             "padding_mask": encoded["attention_mask"].astype(np.int32)}
    lengths = batch["padding_mask"].sum(axis=1)
    assert len(set(lengths)) > 10 and lengths.min() < lengths.max() / 2  # a genuinely mixed-length batch

    loaded = load_hf_checkpoint(minilm_dir)
    reference = transformers.BertModel.from_pretrained(minilm_dir).eval()
    expected = torch_outputs(reference, batch)
    ours = keras_outputs(loaded.encoder, batch)

    sequence_diff, pooled_diff = max_diffs(ours, expected, batch["padding_mask"])
    padding_diff = float(np.abs(ours[0] - expected[0])[batch["padding_mask"] == 0].max())
    print(f"MiniLM vs transformers: sequence {sequence_diff:.2e}, pooled {pooled_diff:.2e}, "
          f"padding positions {padding_diff:.2e}")
    assert sequence_diff < 1e-4
    assert pooled_diff < 1e-4
    # Padding positions carry no meaning, but they are computed the same way too (the masks differ only in the
    # large negative constant).
    assert padding_diff < 1e-3
    assert loaded.vocab_path == minilm_vocab
    assert loaded.lowercase is True  # from tokenizer_config.json


# ---- (b) checkpoints written by transformers ----

def test_save_pretrained_safetensors_loads_with_equal_outputs(reference_model, saved_dir, batch):
    loaded = load_hf_checkpoint(saved_dir)
    diffs = max_diffs(keras_outputs(loaded.encoder, batch), torch_outputs(reference_model, batch),
                      batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs
    assert loaded.config.hidden_act == "gelu"
    assert loaded.head_tensors == {}


def test_prefixed_pretraining_checkpoint_keeps_heads_aside(tmp_path, batch):
    import transformers

    pretraining = random_hf_bert(seed=1, model_class=transformers.BertForPreTraining)
    pretraining.save_pretrained(tmp_path)

    loaded = load_hf_checkpoint(tmp_path)
    diffs = max_diffs(keras_outputs(loaded.encoder, batch), torch_outputs(pretraining.bert, batch),
                      batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs
    assert "cls.predictions.transform.dense.weight" in loaded.head_tensors
    assert "cls.seq_relationship.weight" in loaded.head_tensors
    assert all(name.startswith("cls.") for name in loaded.head_tensors)
    np.testing.assert_array_equal(loaded.head_tensors["cls.predictions.bias"],
                                  pretraining.cls.predictions.bias.detach().numpy())


def test_pytorch_model_bin_loads_with_equal_outputs(reference_model, tmp_path, batch):
    import torch

    torch.save(reference_model.state_dict(), tmp_path / "pytorch_model.bin")
    reference_model.config.to_json_file(tmp_path / "config.json")

    loaded = load_hf_checkpoint(tmp_path)
    diffs = max_diffs(keras_outputs(loaded.encoder, batch), torch_outputs(reference_model, batch),
                      batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs


# ---- (c) our weights back to transformers ----

def test_save_hf_checkpoint_is_loaded_by_transformers_with_equal_outputs(saved_dir, tmp_path, batch):
    import transformers

    encoder = load_hf_checkpoint(saved_dir).encoder
    rng = np.random.default_rng(7)  # new weights, so nothing is left over from the source file
    for variable in encoder.weights:
        variable.assign(rng.normal(0.0, 0.2, variable.shape).astype(np.float32))
    vocab = tmp_path / "source_vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n")
    out_dir = save_hf_checkpoint(encoder, tmp_path / "exported", vocab_path=str(vocab))

    assert sorted(os.listdir(out_dir)) == ["config.json", "model.safetensors", "vocab.txt"]
    reference = transformers.BertModel.from_pretrained(out_dir).eval()
    diffs = max_diffs(keras_outputs(encoder, batch), torch_outputs(reference, batch), batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs


# ---- (d) errors ----

def test_missing_unexpected_and_misshaped_tensors_are_all_listed(saved_dir, tmp_path):
    from safetensors.numpy import load_file, save_file

    tensors = load_file(os.path.join(saved_dir, "model.safetensors"))
    del tensors["encoder.layer.1.attention.self.key.bias"]
    tensors["encoder.layer.0.attention.self.rotary.weight"] = np.zeros((4, 4), np.float32)
    tensors["encoder.layer.0.intermediate.dense.weight"] = np.zeros((63, 32), np.float32)  # expected (64, 32)
    save_file(tensors, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text((saved_dir / "config.json").read_text())

    with pytest.raises(CheckpointMismatchError) as raised:
        load_hf_checkpoint(tmp_path)
    message = str(raised.value)
    assert str(tmp_path) in message
    # Named as in the file, with the file's [out, in] shapes.
    assert "missing (1): encoder.layer.1.attention.self.key.bias" in message
    assert "unexpected (1): encoder.layer.0.attention.self.rotary.weight" in message
    assert "encoder.layer.0.intermediate.dense.weight is (63, 32), expected (64, 32)" in message


def test_unexpected_tensor_outside_the_bert_prefix_is_an_error(tmp_path):
    import transformers
    from safetensors.numpy import save_file

    model = random_hf_bert(seed=2, model_class=transformers.BertForPreTraining)
    model.config.to_json_file(tmp_path / "config.json")
    tensors = {name: tensor.numpy() for name, tensor in model.state_dict().items()}
    tensors["roberta.embeddings.word_embeddings.weight"] = np.zeros((2, 2), np.float32)
    save_file(tensors, tmp_path / "model.safetensors")

    with pytest.raises(CheckpointMismatchError, match="roberta.embeddings.word_embeddings.weight"):
        load_hf_checkpoint(tmp_path)


def test_missing_config_json_names_the_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_hf_checkpoint(tmp_path)


def test_missing_weights_file_names_the_directory(saved_dir, tmp_path):
    (tmp_path / "config.json").write_text((saved_dir / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_hf_checkpoint(tmp_path)


def test_canonical_weights_survive_a_save_load_round_trip(saved_dir, tmp_path):
    encoder = load_hf_checkpoint(saved_dir).encoder
    reloaded = load_hf_checkpoint(save_hf_checkpoint(encoder, tmp_path)).encoder
    original, again = encoder_tensors(encoder), encoder_tensors(reloaded)
    assert original.keys() == again.keys()
    for name in original:
        np.testing.assert_array_equal(original[name], again[name], err_msg=name)


def test_saved_casing_is_read_back_by_transformers_and_by_our_loader(saved_dir, minilm_vocab, tmp_path):
    from transformers import AutoTokenizer

    encoder = load_hf_checkpoint(saved_dir).encoder
    for lowercase in (True, False):
        out = save_hf_checkpoint(encoder, tmp_path / f"lower_{lowercase}", vocab_path=minilm_vocab,
                                 lowercase=lowercase)
        assert load_hf_checkpoint(out).lowercase is lowercase
        ids = AutoTokenizer.from_pretrained(out)("Paris", add_special_tokens=False)["input_ids"]
        assert (ids == [3000]) is lowercase  # "paris" is one uncased token; "Paris" is not in the vocab
