"""The `bert-keras` command line: `convert` on a tiny transformers checkpoint, checked with transformers."""

import os
import subprocess
import sys

import pytest
from hf_bert_reference import keras_outputs, max_diffs, random_batch, random_hf_bert, torch_outputs, write_hf_checkpoint

from bert_keras.cli import main

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def reference_model():
    return random_hf_bert(seed=0)


@pytest.fixture(scope="module")
def hf_dir(reference_model, tmp_path_factory):
    directory = tmp_path_factory.mktemp("hf_input")
    write_hf_checkpoint(reference_model, directory)
    return directory


@pytest.fixture(scope="module")
def batch(reference_model):
    return random_batch(reference_model.config.vocab_size, [7, 4])


def test_convert_hf_to_hf_is_loaded_by_transformers(reference_model, hf_dir, batch, tmp_path, capsys):
    import transformers

    output = tmp_path / "converted"
    assert main(["convert", "--input", str(hf_dir), "--output", str(output)]) == 0

    assert sorted(os.listdir(output)) == ["config.json", "model.safetensors", "vocab.txt"]
    assert (output / "vocab.txt").read_text() == (hf_dir / "vocab.txt").read_text()
    converted = transformers.BertModel.from_pretrained(output).eval()
    diffs = max_diffs(torch_outputs(converted, batch), torch_outputs(reference_model, batch), batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs
    assert "converted hf checkpoint" in capsys.readouterr().out


def test_convert_to_keras_file(reference_model, hf_dir, batch, tmp_path):
    import keras

    output = tmp_path / "keras_out"
    assert main(["convert", "--input", str(hf_dir), "--from", "hf", "--output", str(output), "--to", "keras"]) == 0

    assert sorted(os.listdir(output)) == ["encoder.keras", "vocab.txt"]
    encoder = keras.saving.load_model(output / "encoder.keras")
    diffs = max_diffs(keras_outputs(encoder, batch), torch_outputs(reference_model, batch), batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs


@pytest.mark.parametrize("extra_args, message", [
    (["--exact-gelu"], "--exact-gelu applies to google and keras_hub"),
    (["--from", "google"], "bert_config.json"),
])
def test_convert_usage_errors_are_one_line_with_status_2(hf_dir, tmp_path, capsys, extra_args, message):
    status = main(["convert", "--input", str(hf_dir), "--output", str(tmp_path / "out"), *extra_args])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert err.startswith("bert-keras convert: error:") and err.count("\n") == 1
    assert "Traceback" not in err


def test_convert_refuses_a_non_empty_output_dir(hf_dir, tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    assert main(["convert", "--input", str(hf_dir), "--output", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_convert_reports_a_mismatched_checkpoint_on_one_line(hf_dir, tmp_path, capsys):
    from safetensors.numpy import load_file, save_file

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((hf_dir / "config.json").read_text())
    tensors = load_file(hf_dir / "model.safetensors")
    del tensors["pooler.dense.bias"]
    save_file(tensors, broken / "model.safetensors")

    assert main(["convert", "--input", str(broken), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "missing (1): pooler.dense.bias" in err


def test_console_script_help():
    script = os.path.join(os.path.dirname(sys.executable), "bert-keras")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "convert" in result.stdout


# ------------------------------------------------------------------------------- vocab, pretrain-data, pretrain

@pytest.fixture(scope="module")
def review_corpus(tmp_path_factory):
    from bert_keras.assets.corpora import review_documents, write_pretraining_corpus

    root = tmp_path_factory.mktemp("cli_corpus")
    return write_pretraining_corpus(str(root / "corpus.txt"), review_documents(limit=200))


def test_vocab_command_writes_a_vocab_both_tokenizers_load(review_corpus, tmp_path, capsys):
    import tensorflow as tf
    from hf_bert_reference import hf_reference_tokenizer

    from bert_keras.assets.corpora import review_sentences
    from bert_keras.text import BertTokenizer

    out = tmp_path / "vocab.txt"
    assert main(["vocab", "--input", review_corpus, "--output", str(out), "--vocab-size", "900",
                 "--num-reserved", "3"]) == 0
    assert f"wrote 900 tokens to {out} (uncased)" in capsys.readouterr().out
    tokens = out.read_text(encoding="utf-8").splitlines()
    assert len(tokens) == 900
    assert tokens[:8] == ["[PAD]", "[unused0]", "[unused1]", "[unused2]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    held_out = review_sentences(50, skip=5000)
    ours = BertTokenizer(str(out))(tf.constant(held_out)).to_list()
    theirs = hf_reference_tokenizer(str(out))(held_out, add_special_tokens=False)["input_ids"]
    assert ours == theirs


def test_vocab_command_refuses_to_overwrite(review_corpus, tmp_path, capsys):
    out = tmp_path / "vocab.txt"
    out.write_text("keep me\n", encoding="utf-8")
    assert main(["vocab", "--input", review_corpus, "--output", str(out), "--vocab-size", "900"]) == 2
    assert "exists (pass --overwrite to replace it)" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "keep me\n"


def test_pretrain_data_shards_feed_pretrain(review_corpus, minilm_vocab, tmp_path, capsys):
    import csv

    from bert_keras.config import BertConfig

    shards = tmp_path / "shards"
    assert main(["pretrain-data", "--input", review_corpus, "--vocab", minilm_vocab, "--output-dir", str(shards),
                 "--max-seq-length", "32", "--num-shards", "2"]) == 0
    assert "in 2 shards" in capsys.readouterr().out
    assert len(list(shards.glob("pretraining-*.tfrecord"))) == 2
    config = tmp_path / "config.json"
    BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
               max_position_embeddings=32).save_hf_json(config)
    out = tmp_path / "run"
    assert main(["pretrain", "--data-dir", str(shards), "--vocab", minilm_vocab, "--bert-config", str(config),
                 "--output-dir", str(out), "--max-seq-length", "32", "--max-predictions-per-seq", "5",
                 "--batch-size", "8", "--train-steps", "4", "--steps-per-epoch", "2", "--warmup-steps", "1",
                 "--verbose", "0"]) == 0
    with open(out / "history.csv", newline="") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1"]
    assert (out / "encoder" / "config.json").exists()
    # Shards written with another vocab are refused, naming both.
    other_vocab = tmp_path / "other_vocab.txt"
    other_vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n", encoding="utf-8")
    assert main(["pretrain", "--data-dir", str(shards), "--vocab", str(other_vocab), "--output-dir",
                 str(tmp_path / "run2"), "--max-seq-length", "32", "--model-size", "tiny"]) == 2
    assert "was tokenized with a different vocab" in capsys.readouterr().err
