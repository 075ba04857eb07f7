"""Pretraining end to end on real text: a learned vocab, MLM + NSP through model.fit, held-out MLM accuracy
against the unigram baseline; resume after SIGKILL; precision flags; clear errors for bad settings."""

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest

from bert_keras.assets.corpora import movie_reviews, review_documents, write_pretraining_corpus
from bert_keras.checkpoints import load_checkpoint
from bert_keras.cli import main
from bert_keras.config import BertConfig
from bert_keras.data.pair_config import PairConfig
from bert_keras.data.pretraining import build_pretraining_arrays, pretraining_dataset
from bert_keras.errors import InvalidInputError
from bert_keras.modeling.attention_locality import attention_locality, locality_summary
from bert_keras.serving_contract import ENCODER_INPUTS
from bert_keras.text import BertTokenizer
from bert_keras.text.masking import MaskedLMMasker
from bert_keras.text.vocab_learning import learn_wordpiece_vocab, write_vocab_file
from bert_keras.training.pretraining import build_pretraining
from bert_keras.training.pretraining_config import HISTORY_FILE, PretrainingConfig

TRAIN_DOCUMENTS, HELD_OUT_DOCUMENTS = 2000, 300
VOCAB_SIZE = 4000
SEQ = 64
PREDICTIONS = 10
KILL_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """Real reviews as a pretraining corpus, held-out reviews, a vocab learned from the corpus, a small config."""
    root = tmp_path_factory.mktemp("pretraining")
    corpus = write_pretraining_corpus(str(root / "corpus.txt"), review_documents(limit=TRAIN_DOCUMENTS))
    held_out = write_pretraining_corpus(str(root / "held_out.txt"),
                                        review_documents(limit=HELD_OUT_DOCUMENTS, skip=TRAIN_DOCUMENTS))
    vocab = write_vocab_file(learn_wordpiece_vocab([corpus], VOCAB_SIZE), str(root / "vocab.txt"))
    bert_config = str(root / "bert_config.json")
    BertConfig(vocab_size=VOCAB_SIZE, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
               intermediate_size=256, max_position_embeddings=SEQ).save_hf_json(bert_config)
    return dict(root=root, corpus=corpus, held_out=held_out, vocab=vocab, bert_config=bert_config)


def _config(assets, output_dir, **changes) -> PretrainingConfig:
    settings = dict(vocab=assets["vocab"], inputs=[assets["corpus"]], bert_config=assets["bert_config"],
                    output_dir=str(output_dir), max_seq_length=SEQ, max_predictions_per_seq=PREDICTIONS,
                    batch_size=32, train_steps=1000, steps_per_epoch=250, warmup_steps=100, learning_rate=4e-3,
                    verbose=0)
    settings.update(changes)
    return PretrainingConfig(**settings)


def _held_out_batches(assets):
    pairs = build_pretraining_arrays([assets["held_out"]], BertTokenizer(assets["vocab"]),
                                     PairConfig(max_seq_length=SEQ, seed=1))
    masker = MaskedLMMasker(assets["vocab"], max_predictions=PREDICTIONS)
    return pretraining_dataset(pairs, masker, 32, shuffle_buffer=0, repeat=False, seed=7)


@pytest.fixture(scope="module")
def trained(assets, tmp_path_factory):
    """A 1,000-step pretraining run on the real reviews, with its exported encoder."""
    run = build_pretraining(_config(assets, tmp_path_factory.mktemp("trained") / "run"))
    run.model.fit(run.dataset, **run.fit_kwargs)
    return run, run.export_encoder()


def test_pretraining_on_real_reviews_beats_the_unigram_baseline(assets, trained):
    run, _ = trained
    with open(os.path.join(run.config.output_dir, HISTORY_FILE), newline="") as f:
        history = list(csv.DictReader(f))
    assert len(history) == 4
    first, last = float(history[0]["mlm_loss"]), float(history[-1]["mlm_loss"])
    assert last < first - 0.4, f"MLM loss per epoch: {[round(float(r['mlm_loss']), 3) for r in history]}"

    held_out = _held_out_batches(assets)
    results = run.model.evaluate(held_out, return_dict=True, verbose=0)
    targets = np.concatenate([y["mlm"].numpy()[w["mlm"].numpy() > 0] for _, y, w in held_out])
    # The best constant guess: always the most frequent target token ("the" on these reviews).
    unigram_accuracy = np.bincount(targets).max() / len(targets)
    assert len(targets) > 2000
    assert results["mlm_accuracy"] > 2.0 * unigram_accuracy, (results, unigram_accuracy)
    assert results["mlm_loss"] < math.log(VOCAB_SIZE) - 2.0  # far below a uniform guess (8.29 nats)


def test_the_export_is_a_bert_for_pretraining_checkpoint_transformers_runs(assets, trained):
    import torch
    import transformers

    run, encoder_dir = trained
    x = {k: v[:4].numpy() for k, v in next(iter(_held_out_batches(assets)))[0].items()}
    ours = run.model(x)
    reference = transformers.BertForPreTraining.from_pretrained(encoder_dir).eval()
    with torch.no_grad():
        out = reference(input_ids=torch.tensor(x["token_ids"], dtype=torch.long),
                        token_type_ids=torch.tensor(x["segment_ids"], dtype=torch.long),
                        attention_mask=torch.tensor(x["padding_mask"], dtype=torch.long))
    mlm = np.take_along_axis(out.prediction_logits.numpy(), x["mask_positions"][:, :, None], axis=1)
    np.testing.assert_allclose(np.asarray(ours["mlm"]), mlm, atol=2e-4)
    np.testing.assert_allclose(np.asarray(ours["nsp"]), out.seq_relationship_logits.numpy(), atol=2e-5)


def test_init_checkpoint_continues_with_the_encoder_and_both_heads(assets, trained, tmp_path):
    run, encoder_dir = trained
    loaded = load_checkpoint(encoder_dir)
    assert loaded.config.hidden_size == 64 and loaded.vocab_path is not None
    resumed = build_pretraining(_config(assets, tmp_path / "continued", bert_config=None,
                                        init_checkpoint=encoder_dir, train_steps=2, steps_per_epoch=2))
    for a, b in zip(run.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def _held_out_locality(assets, encoder) -> dict:
    features = next(iter(_held_out_batches(assets)))[0]
    inputs = {k: features[k].numpy() for k in ENCODER_INPUTS}
    return locality_summary(attention_locality(encoder, inputs))


def test_a_locality_scaffold_leaves_a_plain_bert_that_reads_neighbours(assets, trained, tmp_path):
    """The same 1,000 steps with the scaffold on for the first 600: once it has faded, the model (no penalty, no
    extra weights) attends to a neighbour far more than the run without it. (Its MLM accuracy here, 400 steps after
    the fade on this 2-layer hidden-64 model, is not yet above the plain run's: the Chinese benchmark measures that
    at scale.)"""
    run = build_pretraining(_config(assets, tmp_path / "scaffolded", locality_scaffold_steps=600))
    run.model.fit(run.dataset, **run.fit_kwargs)
    loaded = load_checkpoint(run.export_encoder())
    assert [w.shape for w in loaded.encoder.weights] == [w.shape for w in trained[0].model.encoder.weights]
    plain, scaffolded = _held_out_locality(assets, trained[0].model.encoder), _held_out_locality(assets,
                                                                                                loaded.encoder)
    assert scaffolded["strongest_neighbour_vs_uniform"] > max(3.0, 2 * plain["strongest_neighbour_vs_uniform"]), (
        plain, scaffolded)


def test_a_resumed_run_resumes_the_scaffold_where_it_was(assets, tmp_path):
    """The strength follows the optimizer's step counter, which the backup restores: after a run stopped at step 4
    of 8, the rerun's first step sees the strength of step 4 (hold 2 of 8 steps, then 1 - (4 - 2) / 6), not 1."""
    strengths = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            strengths.append(float(self.model.encoder.transformer_layers[0].locality_scaffold.strength()))

    settings = dict(train_steps=8, steps_per_epoch=4, warmup_steps=1, locality_scaffold_steps=8)
    first = build_pretraining(_config(assets, tmp_path / "resumed", **settings))
    first.model.fit(first.dataset, **{**first.fit_kwargs, "epochs": 1})
    again = build_pretraining(_config(assets, tmp_path / "resumed", **settings))
    again.model.fit(again.dataset, **{**again.fit_kwargs, "callbacks": [*again.fit_kwargs["callbacks"], Record()]})
    assert strengths[0] == pytest.approx(1 - 2 / 6) and strengths[-1] == pytest.approx(1 - 5 / 6), strengths
    assert len(strengths) == 4


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_a_resumed_run_ends_with_the_weights_of_a_run_never_stopped(assets, tmp_path, dropout):
    """A rerun continues the data stream at the step it resumes from (the pairs, their order and their masks),
    and dropout's random stream with it, so stopping and resuming changes nothing: restarting the stream would
    train on its first batches twice and never on the ones after."""
    bert_config = str(tmp_path / f"bert_config_{dropout}.json")
    BertConfig.from_json_file(assets["bert_config"]).replace(
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout).save_hf_json(bert_config)
    settings = dict(bert_config=bert_config, train_steps=6, steps_per_epoch=3, warmup_steps=1)
    whole = build_pretraining(_config(assets, tmp_path / "whole", **settings))
    whole.model.fit(whole.dataset, **whole.fit_kwargs)
    first = build_pretraining(_config(assets, tmp_path / "stopped", **settings))
    first.model.fit(first.dataset, **{**first.fit_kwargs, "epochs": 1})
    again = build_pretraining(_config(assets, tmp_path / "stopped", **settings))
    again.model.fit(again.dataset, **again.fit_kwargs)
    assert int(again.model.optimizer.iterations) == 6
    for expected, got in zip(whole.model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_rerun_with_other_settings_is_refused_before_it_touches_the_run(assets, tmp_path):
    """Rerunning into an output directory resumes its backup; a changed schedule would silently resume it on
    another one, so it is refused naming the file and the field, and the saved settings stay the first run's.
    Changing only how the run reports (verbose) still resumes."""
    out = tmp_path / "run"
    build_pretraining(_config(assets, out, train_steps=8, steps_per_epoch=4))
    saved = (out / "pretraining_config.json").read_text()
    with pytest.raises(InvalidInputError, match=r"pretraining_config\.json: .*other settings \(train_steps=8 "
                                                r"there, 12 now\); rerun with the same settings"):
        build_pretraining(_config(assets, out, train_steps=12, steps_per_epoch=4))
    assert (out / "pretraining_config.json").read_text() == saved
    again = build_pretraining(_config(assets, out, train_steps=8, steps_per_epoch=4, verbose=1))
    assert again.config.verbose == 1


def test_a_scaffold_longer_than_the_run_is_named(assets, tmp_path, capsys):
    with pytest.raises(InvalidInputError, match=r"locality_scaffold_steps \(1200\) must be between 0 and "
                                                r"train_steps \(1000\)"):
        _config(assets, tmp_path / "out", locality_scaffold_steps=1200)
    status = main(["pretrain", "--input", assets["corpus"], "--vocab", assets["vocab"], "--output-dir",
                   str(tmp_path / "cli"), "--train-steps", "10", "--steps-per-epoch", "10",
                   "--locality-scaffold-steps", "11"])
    assert status == 2 and not (tmp_path / "cli").exists()
    assert "locality_scaffold_steps (11) must be between 0 and train_steps (10)" in capsys.readouterr().err


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "bert_keras.cli", *args]


def test_the_pretrained_encoder_is_a_fine_tuning_starting_point(trained, tmp_path):
    """OUTPUT/encoder goes straight into `bert-keras finetune` (learned vocab and casing come with it)."""
    _, encoder_dir = trained
    train = tmp_path / "train.csv"
    with open(train, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        rows = movie_reviews()[-4365:-4165]  # the last 100 positive and first 100 negative Rotten Tomatoes rows
        writer.writerows((text, "pos" if label else "neg") for text, label in rows)
    output = tmp_path / "classifier"
    assert main(["finetune", "--task", "classify", "--init-checkpoint", encoder_dir, "--train-file", str(train),
                 "--output-dir", str(output), "--max-seq-length", str(SEQ), "--epochs", "1", "--verbose", "0"]) == 0
    spec = json.loads((output / "model" / "task.json").read_text())
    assert spec["source_checkpoint"] == os.path.abspath(encoder_dir) and spec["lowercase"] is True
    assert (output / "model" / "vocab.txt").read_text() == open(os.path.join(encoder_dir, "vocab.txt")).read()


def test_a_run_killed_mid_epoch_resumes_from_its_last_backup_and_finishes(assets, tmp_path):
    out = tmp_path / "killed"
    train_steps, per_epoch = 600, 200
    command = _cli(["pretrain", "--input", assets["corpus"], "--vocab", assets["vocab"],
                    "--bert-config", assets["bert_config"], "--output-dir", str(out), "--max-seq-length", str(SEQ),
                    "--max-predictions-per-seq", str(PREDICTIONS), "--batch-size", "16",
                    "--train-steps", str(train_steps), "--steps-per-epoch", str(per_epoch),
                    "--warmup-steps", "10", "--backup-every-steps", "25", "--verbose", "2"])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    state_file = out / "backup" / "backup_state.json"
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + KILL_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            if state_file.exists() and json.loads(state_file.read_text())["global_step"] >= 250:
                break  # mid-epoch 2: past the epoch-1 boundary and at least one in-epoch backup
            time.sleep(0.05)
        assert process.poll() is None, f"the run ended before it could be killed:\n{process.communicate()[0]}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    killed_at = json.loads(state_file.read_text())
    assert 250 <= killed_at["global_step"] < train_steps
    # Every backup and checkpoint that carries a final name is complete (h5 files open and hold weights).
    for path in [*out.glob("backup/backup-*.weights.h5"), *out.glob("checkpoints/epoch-*.weights.h5")]:
        with h5py.File(path, "r") as f:
            assert len(f.keys()) > 0, path
    assert (out / "backup" / killed_at["file"]).exists()

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=KILL_TIMEOUT_S)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"Resuming from {out / 'backup' / killed_at['file']}: step {killed_at['global_step']}" in resumed.stdout
    final = json.loads(state_file.read_text())
    assert final["global_step"] == train_steps
    assert not list(out.rglob(".partial-*"))
    assert sorted(p.name for p in (out / "checkpoints").glob("epoch-*.weights.h5")) == [
        f"epoch-{i:04d}.weights.h5" for i in range(1, train_steps // per_epoch + 1)]
    assert (out / "encoder" / "model.safetensors").exists()
    with open(out / HISTORY_FILE, newline="") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs[-1] == train_steps // per_epoch - 1


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_runs_train_with_finite_losses(assets, tmp_path, precision):
    run = build_pretraining(_config(assets, tmp_path / precision, precision=precision, train_steps=4,
                                    steps_per_epoch=4, warmup_steps=1))
    history = run.model.fit(run.dataset, **run.fit_kwargs).history
    compute_dtype = run.model.encoder.layers[-1].compute_dtype
    assert keras.mixed_precision.dtype_policy().name == "float32"  # the global policy is left as it was
    assert compute_dtype == precision.removeprefix("mixed_")
    assert all(np.isfinite(v) for v in history["loss"])
    assert isinstance(run.model.optimizer, keras.optimizers.LossScaleOptimizer) == (precision == "mixed_float16")


def test_xla_flag_compiles_the_train_step(assets, tmp_path):
    run = build_pretraining(_config(assets, tmp_path / "xla", jit_compile=True, train_steps=3, steps_per_epoch=3,
                                    warmup_steps=1))
    assert run.model.jit_compile is True
    history = run.model.fit(run.dataset, **run.fit_kwargs).history
    assert np.isfinite(history["loss"][-1])


def _vocab_without(assets, tmp_path, token):
    tokens = open(assets["vocab"], encoding="utf-8").read().splitlines()
    path = tmp_path / f"vocab_without_{token.strip('[]')}.txt"
    path.write_text("\n".join(t for t in tokens if t != token) + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("token", ["[CLS]", "[SEP]", "[MASK]"])
def test_a_vocab_missing_a_special_token_is_named(assets, tmp_path, token):
    vocab = _vocab_without(assets, tmp_path, token)
    with pytest.raises(ValueError, match=re.escape(vocab) + ".*" + re.escape(token)):
        build_pretraining(_config(assets, tmp_path / "out", vocab=vocab))


def test_max_seq_length_above_the_models_positions_is_named(assets, tmp_path):
    with pytest.raises(ValueError, match=rf"max_seq_length 128 exceeds the model's max_position_embeddings {SEQ}"):
        build_pretraining(_config(assets, tmp_path / "out", max_seq_length=128))


def test_cli_errors_are_one_line(assets, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    result = subprocess.run(_cli(["pretrain", "--input", str(empty), "--vocab", assets["vocab"], "--bert-config",
                                  assets["bert_config"], "--output-dir", str(tmp_path / "o"),
                                  "--max-seq-length", str(SEQ)]),
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 2
    assert f"bert-keras pretrain: error: the corpus is empty: no text in {empty}" in result.stderr
