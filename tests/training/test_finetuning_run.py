"""Fine-tuning end to end through `bert-keras finetune / evaluate / predict` on real data (tiny encoder, real
MiniLM vocab): every task's outputs, metrics that agree with independent computations, and bad input."""

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bert_keras.assets.corpora import movie_reviews, review_sentences
from bert_keras.assets.splits import review_cloze_qa
from bert_keras.cli import main
from bert_keras.config import BertConfig
from bert_keras.data.conll import read_conll, write_conll

SEQ = 64
COMMON = ["--max-seq-length", str(SEQ), "--batch-size", "16", "--learning-rate", "1e-3", "--verbose", "0"]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, minilm_vocab):
    """A tiny random encoder with the real MiniLM vocab, as an HF checkpoint (what users start from)."""
    import keras

    from bert_keras.checkpoints import save_hf_checkpoint
    from bert_keras.modeling import BertEncoder

    keras.utils.set_random_seed(0)
    directory = tmp_path_factory.mktemp("tiny_checkpoint")
    config = BertConfig.named("tiny", vocab_size=30522, max_position_embeddings=SEQ)
    save_hf_checkpoint(BertEncoder(config), directory, vocab_path=minilm_vocab, lowercase=True)
    return str(directory)


@pytest.fixture(scope="module")
def review_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("reviews")
    rows = movie_reviews()
    rng = np.random.default_rng(0)
    picked = [rows[i] for i in rng.choice(len(rows), 400, replace=False)]
    paths = {}
    for name, part in (("train", picked[:320]), ("test", picked[320:])):
        paths[name] = str(root / f"{name}.csv")
        with open(paths[name], "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows((text, "pos" if label else "neg") for text, label in part)
    return paths


def _run(args, capsys=None):
    status = main(args)
    return status, (capsys.readouterr() if capsys else None)


def _finetune(task, checkpoint, train, output, *extra):
    args = ["finetune", "--task", task, "--init-checkpoint", checkpoint, "--train-file", train,
            "--output-dir", str(output), *COMMON, *extra]
    assert main(args) == 0
    with open(os.path.join(output, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def classifier_run(tiny_checkpoint, review_files, tmp_path_factory):
    output = tmp_path_factory.mktemp("classify") / "run"
    metrics = _finetune("classify", tiny_checkpoint, review_files["train"], output, "--test-file",
                        review_files["test"], "--epochs", "2", "--class-weights", "balanced", "--tail-tokens", "16")
    return output, metrics


def test_classifier_run_writes_model_metrics_and_history(classifier_run):
    output, metrics = classifier_run
    assert sorted(os.listdir(output / "model")) == ["config.json", "labels.txt", "model.weights.h5", "task.json",
                                                    "vocab.txt"]
    assert (output / "model" / "labels.txt").read_text() == "neg\npos\n"
    assert metrics["best_epoch"] in (1, 2) and len(metrics["validation_history"]) == 2
    assert metrics["train_examples"] == 288  # 320 minus the 10% held out for validation
    assert metrics["test"]["examples"] == 80
    best = max(h["accuracy"] for h in metrics["validation_history"])
    assert metrics["validation"]["accuracy"] == pytest.approx(best)  # the best epoch's weights were kept
    with open(output / "history.csv", newline="") as f:
        assert "val_accuracy" in next(csv.reader(f))


def test_evaluate_and_predict_agree_with_the_run(classifier_run, review_files, tmp_path, capsys):
    output, metrics = classifier_run
    scores = tmp_path / "scores.json"
    assert main(["evaluate", "--model", str(output / "model"), "--data", review_files["test"],
                 "--output", str(scores)]) == 0
    assert json.loads(scores.read_text())["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    predictions = tmp_path / "predictions.jsonl"
    assert main(["predict", "--model", str(output / "model"), "--data", review_files["test"],
                 "--output", str(predictions)]) == 0
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    with open(review_files["test"], newline="", encoding="utf-8") as f:
        gold = [row["label"] for row in csv.DictReader(f)]
    assert len(rows) == len(gold)
    assert np.mean([r["label"] == g for r, g in zip(rows, gold)]) == pytest.approx(metrics["test"]["accuracy"])
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-5 for r in rows)
    capsys.readouterr()
    assert main(["predict", "--model", str(output / "model"), "--text", "A wonderful film.", "Dreadful."]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["label"] in ("neg", "pos") for line in lines] == [True, True]


def test_early_stopping_ends_the_run_when_validation_stops_improving(tiny_checkpoint, review_files, tmp_path):
    """A learning rate of 1e-12 leaves the validation accuracy unchanged: with patience 1 the run stops after
    epoch 2 of 6, and epoch 1 (the first best) is the one kept."""
    metrics = _finetune("classify", tiny_checkpoint, review_files["train"], tmp_path / "run", "--epochs", "6",
                        "--steps-per-epoch", "2", "--learning-rate", "1e-12", "--early-stopping-patience", "1")
    assert [h["epoch"] for h in metrics["validation_history"]] == [1, 2]
    assert metrics["best_epoch"] == 1


def _tree(directory):
    """{relative path: bytes} of every file below `directory`."""
    return {str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def test_finetune_refuses_to_replace_a_finished_run(classifier_run, tiny_checkpoint, review_files, tmp_path, capsys):
    """A second run into a finished run's directory is refused in one line naming the directory, what it holds
    and --overwrite; not a byte of the earlier run changes."""
    output = tmp_path / "run"
    shutil.copytree(classifier_run[0], output)
    before = _tree(output)
    args = ["finetune", "--task", "classify", "--init-checkpoint", tiny_checkpoint, "--train-file",
            review_files["train"], "--output-dir", str(output), *COMMON, "--epochs", "1"]
    status, captured = _run(args, capsys)
    assert status == 2
    error = captured.err.strip()
    assert "\n" not in error and str(output) in error and "--overwrite" in error, error
    assert "a finished fine-tuning run" in error and "model/" in error and "metrics.json" in error, error
    assert _tree(output) == before


@pytest.mark.parametrize("entries, what", [
    ({"notes.txt": "mine"}, "files that are not a fine-tuning run"),
    ({"finetuning_config.json": "{}", "best.weights.h5": "h5", "logs/train/events.out.tfevents.1": "events"},
     "an unfinished fine-tuning run"),
])
def test_finetune_refuses_a_foreign_or_interrupted_directory(tiny_checkpoint, review_files, tmp_path, capsys,
                                                             entries, what):
    """A directory that is not a run to resume (foreign files, or a run stopped before its first backup) is
    refused like any other."""
    output = tmp_path / "run"
    for name, text in entries.items():
        (output / name).parent.mkdir(parents=True, exist_ok=True)
        (output / name).write_text(text)
    status, captured = _run(["finetune", "--task", "classify", "--init-checkpoint", tiny_checkpoint,
                             "--train-file", review_files["train"], "--output-dir", str(output), *COMMON], capsys)
    assert status == 2
    assert what in captured.err and str(output) in captured.err and "--overwrite" in captured.err, captured.err
    assert _tree(output) == {name: text.encode() for name, text in entries.items()}


class _Crash(Exception):
    pass


def _crash_after(step):
    """A callback that kills fit after `step` optimizer steps, as a SIGKILL would (no epoch end runs)."""
    import keras

    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations) >= step:
                raise _Crash(step)
    return Crash()


def _fit(config, crash_at=None):
    from bert_keras.training.finetuning import build_finetuning

    run = build_finetuning(config)
    callbacks = run.fit_kwargs["callbacks"] + ([_crash_after(crash_at)] if crash_at else [])
    run.model.fit(run.train_dataset, **{**run.fit_kwargs, "callbacks": callbacks})
    return run, run.finish()


@pytest.mark.parametrize("crash_at", [4, 6])  # at an epoch end, mid-epoch (a --backup-every-steps backup)
def test_an_interrupted_run_resumes_and_ends_as_an_uninterrupted_one(tiny_checkpoint, review_files, tmp_path,
                                                                     crash_at):
    """Rerunning the same settings after a crash resumes from the last backup: the same weights, validation
    history, best epoch and test scores as a run never stopped (dropout on), and the backups are gone at the end.
    Early stopping counts the epochs before the crash: patience 2 stops both runs at the same epoch."""
    from bert_keras.training.finetuning_config import FinetuningConfig

    def config(output):
        return FinetuningConfig(task="classify", init_checkpoint=tiny_checkpoint, train_file=review_files["train"],
                                test_file=review_files["test"], output_dir=str(output), max_seq_length=SEQ,
                                batch_size=16, learning_rate=1e-3, epochs=6, steps_per_epoch=4, max_train_examples=96,
                                early_stopping_patience=2, backup_every_steps=2, verbose=0)

    whole, expected = _fit(config(tmp_path / "whole"))
    epochs = [entry["epoch"] for entry in expected["validation_history"]]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) < 6, epochs  # early stopping stopped it
    with pytest.raises(_Crash):
        _fit(config(tmp_path / "crashed"), crash_at=crash_at)
    assert not (tmp_path / "crashed" / "metrics.json").exists()
    again, got = _fit(config(tmp_path / "crashed"))
    assert got["validation_history"] == expected["validation_history"]
    assert got["best_epoch"] == expected["best_epoch"] and got["test"] == expected["test"]
    for want, have in zip(whole.model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-6)
    assert not (tmp_path / "crashed" / "backup").exists()
    with open(tmp_path / "crashed" / "history.csv", newline="") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == [str(e["epoch"] - 1) for e in
                                                              expected["validation_history"]]


def test_resuming_with_other_settings_is_refused_and_changes_nothing(tiny_checkpoint, review_files, tmp_path,
                                                                      capsys):
    """A rerun into an interrupted run's directory with another schedule would resume the backup on it: refused
    in one line naming the file and the setting, and not a byte of the interrupted run changes."""
    from bert_keras.training.finetuning_config import FinetuningConfig

    output = tmp_path / "run"
    with pytest.raises(_Crash):
        _fit(FinetuningConfig(task="classify", init_checkpoint=tiny_checkpoint, train_file=review_files["train"],
                              output_dir=str(output), max_seq_length=SEQ, batch_size=16, learning_rate=1e-3,
                              epochs=2, steps_per_epoch=2, max_train_examples=32, verbose=0), crash_at=3)
    before = _tree(output)
    status, captured = _run(["finetune", "--task", "classify", "--init-checkpoint", tiny_checkpoint,
                             "--train-file", review_files["train"], "--output-dir", str(output), *COMMON,
                             "--epochs", "3", "--steps-per-epoch", "2", "--max-train-examples", "32"], capsys)
    assert status == 2
    error = captured.err.strip()
    assert "\n" not in error and "finetuning_config.json" in error and "epochs=2 there, 3 now" in error, error
    assert _tree(output) == before


def test_overwrite_replaces_the_run_without_mixing_the_old_one_in(classifier_run, tiny_checkpoint, review_files,
                                                                 tmp_path):
    """--overwrite removes the old run's outputs (TensorBoard logs included) before the new run writes, and leaves
    files that are not fine-tuning outputs alone."""
    output = tmp_path / "run"
    shutil.copytree(classifier_run[0], output)
    (output / "notes.txt").write_text("mine")
    old_logs = {str(p.relative_to(output)) for p in (output / "logs").rglob("*") if p.is_file()}
    assert old_logs
    metrics = _finetune("classify", tiny_checkpoint, review_files["train"], output, "--epochs", "1",
                        "--steps-per-epoch", "1", "--max-train-examples", "32", "--overwrite")
    assert metrics["train_examples"] == 32 and len(metrics["validation_history"]) == 1
    assert "test" not in metrics  # the old run's test scores are gone with its metrics.json
    new_logs = {str(p.relative_to(output)) for p in (output / "logs").rglob("*") if p.is_file()}
    assert new_logs and not new_logs & old_logs
    with open(output / "history.csv", newline="") as f:
        assert len(list(csv.reader(f))) == 2  # the header and the new run's one epoch
    assert (output / "notes.txt").read_text() == "mine"
    assert (output / "model" / "model.weights.h5").exists()


def test_build_finetuning_enforces_the_same_rule(tiny_checkpoint, review_files, tmp_path):
    """The Python API refuses what the command refuses, and --overwrite never deletes an input of the run."""
    from bert_keras.errors import InvalidInputError, OutputExistsError
    from bert_keras.training.finetuning import build_finetuning
    from bert_keras.training.finetuning_config import FinetuningConfig

    output = tmp_path / "run"
    shutil.copytree(tiny_checkpoint, output / "model")
    (output / "metrics.json").write_text("{}")
    config = dict(task="classify", train_file=review_files["train"], output_dir=str(output), max_seq_length=SEQ)
    with pytest.raises(OutputExistsError, match=rf"{output} already holds a finished fine-tuning run \("):
        build_finetuning(FinetuningConfig(init_checkpoint=tiny_checkpoint, **config))
    before = _tree(output)
    with pytest.raises(InvalidInputError, match=rf"init_checkpoint {output / 'model'}.* inside {output / 'model'}"):
        build_finetuning(FinetuningConfig(init_checkpoint=str(output / "model"), **config), overwrite=True)
    assert _tree(output) == before


def test_classifier_learns_its_training_data(tiny_checkpoint, review_files):
    """64 real reviews, fitted until memorised: the loss and gradients reach every part of the model."""
    import keras

    from bert_keras.checkpoints import load_checkpoint
    from bert_keras.checkpoints.task_spec import TaskSpec
    from bert_keras.data.classification import read_classification_file
    from bert_keras.tasks.classification import ClassificationTask
    from bert_keras.text import BertTokenizer

    keras.utils.set_random_seed(0)  # independent of what ran before (4 of 4 seeds memorise with these settings)
    loaded = load_checkpoint(tiny_checkpoint)
    task = ClassificationTask(TaskSpec("classify", max_seq_length=SEQ), BertTokenizer(loaded.vocab_path))
    examples = read_classification_file(review_files["train"]).subset(range(64))
    task.learn_labels(examples)
    model = task.build_model(loaded.encoder)
    model.compile(optimizer=keras.optimizers.Adam(5e-4))
    model.fit(task.dataset(examples, 16, training=True).repeat(), epochs=1, steps_per_epoch=160, shuffle=False,
              verbose=0)
    assert task.evaluate(model, examples)["accuracy"] >= 0.95


def test_sentence_pair_and_multi_label_classification(tiny_checkpoint, tmp_path):
    """Real sentences as pairs (same review or not), labelled with a set of tags, from JSONL; mixed bfloat16."""
    sentences = review_sentences(240)
    rng = np.random.default_rng(1)
    path = tmp_path / "pairs.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(0, 238, 2):
            other = int(rng.integers(0, 240))
            second = sentences[i + 1] if i % 4 == 0 else sentences[other]
            labels = ["adjacent"] if i % 4 == 0 else []
            labels += ["long"] if len(sentences[i]) > 80 else []
            f.write(json.dumps({"a": sentences[i], "b": second, "tags": labels}) + "\n")
    output = tmp_path / "run"
    metrics = _finetune("classify", tiny_checkpoint, str(path), output, "--text-column", "a",
                        "--text-pair-column", "b", "--label-column", "tags", "--multi-label", "--epochs", "1",
                        "--precision", "mixed_bfloat16")
    assert set(metrics["validation"]) >= {"subset_accuracy", "micro_f1", "macro_f1"}
    assert (output / "model" / "labels.txt").read_text() == "adjacent\nlong\n"
    predictions = tmp_path / "p.jsonl"
    assert main(["predict", "--model", str(output / "model"), "--data", str(path), "--output",
                 str(predictions)]) == 0
    first = json.loads(predictions.read_text().splitlines()[0])
    assert set(first["probabilities"]) == {"adjacent", "long"}


@pytest.fixture(scope="module")
def wnut_files(tmp_path_factory):
    from bert_keras.assets import asset_path

    root = tmp_path_factory.mktemp("wnut")
    sentences = read_conll(asset_path("wnut_ner"))
    write_conll(str(root / "train.conll"), sentences[:1200])
    write_conll(str(root / "test.conll"), sentences[1200:1400])
    return {"train": str(root / "train.conll"), "test": str(root / "test.conll")}


def test_ner_run_predicts_a_tag_per_word(tiny_checkpoint, wnut_files, tmp_path):
    from bert_keras.tasks import load_trained_task

    output = tmp_path / "run"
    metrics = _finetune("ner", tiny_checkpoint, wnut_files["train"], output, "--test-file", wnut_files["test"],
                        "--epochs", "1", "--max-train-examples", "320")
    assert set(metrics["test"]) >= {"precision", "recall", "f1", "word_accuracy", "per_type"}
    assert (output / "model" / "labels.txt").read_text().splitlines()[0] == "O"
    trained = load_trained_task(str(output / "model"))
    data = trained.task.read(wnut_files["test"])
    predictions = tmp_path / "p.jsonl"
    assert main(["predict", "--model", str(output / "model"), "--data", wnut_files["test"], "--output",
                 str(predictions)]) == 0
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert [r["tags"] for r in rows] == trained.task.predicted_tags(trained.model, data)
    assert [r["words"] for r in rows] == [s.words for s in data.sentences]
    # unlabelled input (one column: words only) predicts the same tags
    words_only = tmp_path / "words.conll"
    words_only.write_text("\n".join("".join(w + "\n" for w in s.words) for s in data.sentences[:5]),
                          encoding="utf-8")
    unlabelled = tmp_path / "unlabelled.jsonl"
    assert main(["predict", "--model", str(output / "model"), "--data", str(words_only), "--output",
                 str(unlabelled)]) == 0
    assert [json.loads(line)["tags"] for line in unlabelled.read_text().splitlines()] == \
        [r["tags"] for r in rows[:5]]


def test_entity_metrics_through_the_pipeline_equal_seqeval(tiny_checkpoint, wnut_files):
    """Real WNUT sentences through features -> model -> first pieces -> word tags -> our entity metrics, against
    seqeval on the very same predicted tags. The head is scaled up so the untrained model predicts many, often
    ill-formed, entities of every type (I- after O, type switches): the chunk rules all come into play."""
    import keras
    from seqeval.metrics import f1_score, precision_score, recall_score

    from bert_keras.checkpoints import load_checkpoint
    from bert_keras.checkpoints.task_spec import TaskSpec
    from bert_keras.data.ner import tag_vocabulary
    from bert_keras.tasks.ner import NerTask
    from bert_keras.text import BertTokenizer

    keras.utils.set_random_seed(0)  # the head's initial weights: independent of what ran before
    loaded = load_checkpoint(tiny_checkpoint)
    task = NerTask(TaskSpec("ner", max_seq_length=SEQ), BertTokenizer(loaded.vocab_path))
    data = task.read(wnut_files["test"])
    task.labels = tag_vocabulary(task.read(wnut_files["train"]).sentences)
    model = task.build_model(loaded.encoder)
    head = model.get_layer("token_classifier")
    head.kernel.assign(head.kernel.numpy() * 200.0)
    head.bias.assign(np.zeros_like(head.bias.numpy()))
    predicted = task.predicted_tags(model, data)
    gold = [s.tags for s in data.sentences]
    assert sum(t.startswith("I-") and (i == 0 or s[i - 1] == "O") for s in predicted for i, t in enumerate(s)) > 20
    ours = task.evaluate(model, data)
    assert ours["f1"] == pytest.approx(f1_score(gold, predicted), abs=1e-12)
    assert ours["precision"] == pytest.approx(precision_score(gold, predicted), abs=1e-12)
    assert ours["recall"] == pytest.approx(recall_score(gold, predicted), abs=1e-12)
    assert ours["f1"] > 0  # some predicted entities are right, so the comparison is not 0 == 0


def test_qa_run_predicts_spans_of_the_context(tiny_checkpoint, tmp_path):
    train, test = tmp_path / "train.json", tmp_path / "test.json"
    train.write_text(json.dumps(review_cloze_qa(160)), encoding="utf-8")
    test.write_text(json.dumps(review_cloze_qa(40, skip_reviews=5000, seed=1)), encoding="utf-8")
    output = tmp_path / "run"
    metrics = _finetune("qa", tiny_checkpoint, str(train), output, "--test-file", str(test), "--epochs", "1",
                        "--max-query-length", "24", "--doc-stride", "24")
    assert set(metrics["test"]) >= {"exact_match", "f1", "total"} and metrics["test"]["total"] == 40
    predictions = tmp_path / "p.jsonl"
    assert main(["predict", "--model", str(output / "model"), "--data", str(test), "--output",
                 str(predictions)]) == 0
    contexts = {qa["id"]: p["context"] for p in json.loads(test.read_text())["data"][0]["paragraphs"]
                for qa in p["qas"]}
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    for row in rows:
        if row["answer"]:
            assert contexts[row["id"]][row["start"]:row["end"]] == row["answer"]
    # questions without answers (what a user predicts on) give the same predictions
    questions = json.loads(test.read_text())
    for paragraph in questions["data"][0]["paragraphs"]:
        for qa in paragraph["qas"]:
            del qa["answers"]
    unanswered = tmp_path / "questions.json"
    unanswered.write_text(json.dumps(questions), encoding="utf-8")
    assert main(["predict", "--model", str(output / "model"), "--data", str(unanswered), "--output",
                 str(tmp_path / "q.jsonl")]) == 0
    assert [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()] == rows


def test_mirrored_two_replicas_fine_tunes(tiny_checkpoint, wnut_files, tmp_path):
    """Two logical CPU devices must be set up before TensorFlow starts, so this runs in its own process."""
    output = tmp_path / "mirrored"
    result = subprocess.run(
        [sys.executable, "-m", "bert_keras.cli", "finetune", "--task", "ner", "--init-checkpoint", tiny_checkpoint,
         "--train-file", wnut_files["train"], "--output-dir", str(output), "--strategy", "mirrored",
         "--cpu-replicas", "2", "--epochs", "1", *COMMON],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((output / "metrics.json").read_text())
    assert 0.0 <= metrics["validation"]["f1"] <= 1.0


def test_two_multi_worker_processes_fine_tune(tiny_checkpoint, review_files, tmp_path):
    """MultiWorkerMirroredStrategy over two processes on 127.0.0.1: both finish, only the chief writes, and both
    score the whole validation set (the same figure on each)."""
    import socket

    sockets = [socket.socket() for _ in range(2)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    cluster = {"worker": [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]}
    for s in sockets:
        s.close()
    output = tmp_path / "mwms"
    processes = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "bert_keras.cli", "finetune", "--task", "classify", "--init-checkpoint",
             tiny_checkpoint, "--train-file", review_files["train"], "--output-dir", str(output), "--strategy",
             "multi_worker", "--epochs", "1", "--max-train-examples", "96", *COMMON[:-2], "--verbose", "2"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [p.communicate(timeout=300)[0] for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    for p, out in zip(processes, outputs):
        assert p.returncode == 0, out[-4000:]
    metrics = json.loads((output / "metrics.json").read_text())
    lines = [[line.split(" (")[0] for line in out.splitlines() if line.startswith("epoch 1 validation")]
             for out in outputs]
    assert lines[0] and lines[0] == lines[1], lines
    assert metrics["train_examples"] == 96
    assert (output / "model" / "model.weights.h5").exists()


@pytest.mark.parametrize("files, extra, message", [
    ({"train.csv": "text,label\n" + "good,pos\nbad,neg\n" * 5, "test.csv": "text,label\nd,meh\n"},
     ["--test-file", "{test}"], r"test.csv:2: label 'meh' is not one of the model's labels \['neg', 'pos'\]"),
    ({"train.csv": "review,label\na,pos\n"}, [], r"train.csv:2: no column 'text'"),
    ({"train.csv": ""}, [], r"train.csv: empty file"),
])
def test_classification_bad_input_fails_before_training(tiny_checkpoint, tmp_path, capsys, files, extra, message):
    _bad_input("classify", tiny_checkpoint, tmp_path, capsys, files, extra, message)


def test_malformed_conll_reports_file_and_line(tiny_checkpoint, tmp_path, capsys):
    _bad_input("ner", tiny_checkpoint, tmp_path, capsys, {"train.conll": "Paris\tB-LOC\n\nis O\nnice\n"}, [],
               r"train.conll:4: expected a word and a tag")


def test_a_tag_outside_the_given_scheme_names_file_line_and_scheme(tiny_checkpoint, tmp_path, capsys):
    _bad_input("ner", tiny_checkpoint, tmp_path, capsys, {"train.conll": "北\tB-LOC\n京\tE-LOC\n\n"},
               ["--tag-scheme", "bio"], r"train.conll:2: tag 'E-LOC' is not O or B/I-TYPE \(IOB2\)")


def test_msra_bmes_run_keeps_its_scheme_from_training_to_the_saved_model(tiny_checkpoint, tmp_path):
    from bert_keras.assets import asset_path
    from bert_keras.tasks import load_trained_task

    sentences = read_conll(asset_path("msra_train"))
    write_conll(str(tmp_path / "train.conll"), sentences[:200])
    write_conll(str(tmp_path / "test.conll"), sentences[200:260])
    output = tmp_path / "run"
    metrics = _finetune("ner", tiny_checkpoint, str(tmp_path / "train.conll"), output, "--test-file",
                        str(tmp_path / "test.conll"), "--epochs", "1", "--tag-scheme", "BMES")
    assert metrics["test"]["tag_scheme"] == "BMES"
    assert json.loads((output / "model" / "task.json").read_text())["tag_scheme"] == "BMES"
    labels = (output / "model" / "labels.txt").read_text().splitlines()
    assert labels == ["O"] + [f"{p}-{t}" for p in "BMES" for t in ("LOC", "ORG", "PER")]
    loaded = load_trained_task(str(output / "model"))
    assert loaded.task.scheme.name == "BMES"
    # Every training word is one character: the model splits raw text into characters, and decodes strictly.
    assert (loaded.model.tag_scheme, loaded.model.word_split) == ("BMES", "characters")
    assert loaded.model.decoding_scheme.name == "BMES"
    predictions = loaded.task.predict(loaded.model, loaded.task.read(str(tmp_path / "test.conll")))
    entities = [(p, e) for p in predictions for e in p["entities"]]
    assert all(e["text"] == "".join(p["words"][e["start"]:e["end"]]) for p, e in entities)  # no spaces in Chinese
    texts = ["".join(p["words"]) for p in predictions[:8]]
    assert [[(e["type"], e["start"], e["end"]) for e in r["entities"]] for r in loaded.model.predict_entities(texts)] \
        == [[(e["type"], e["start"], e["end"]) for e in p["entities"]] for p in predictions[:8]]


def test_squad_answer_not_in_context(tiny_checkpoint, tmp_path, capsys):
    data = {"data": [{"paragraphs": [{"context": "The cat sat.", "qas": [
        {"id": "q1", "question": "Who sat?", "answers": [{"text": "The dog", "answer_start": 0}]}]}]}]}
    _bad_input("qa", tiny_checkpoint, tmp_path, capsys, {"train.json": json.dumps(data)}, ["--max-query-length", "24"],
               r"question 'q1': answer 'The dog' is not in the context at answer_start 0")


def _bad_input(task, checkpoint, tmp_path, capsys, files, extra, message):
    import re

    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / name
        paths[name].write_text(content, encoding="utf-8")
    train = str(paths[next(iter(files))])
    extra = [a.format(**{os.path.splitext(k)[0]: str(v) for k, v in paths.items()}) for a in extra]
    output = tmp_path / "run"
    assert main(["finetune", "--task", task, "--init-checkpoint", checkpoint, "--train-file", train,
                 "--output-dir", str(output), *COMMON, *extra]) == 2
    error = capsys.readouterr().err
    assert re.search(message, error), error
    assert not os.path.exists(output / "model")


def test_evaluate_rejects_a_directory_that_is_not_a_model(tmp_path, capsys):
    assert main(["evaluate", "--model", str(tmp_path), "--data", str(tmp_path / "x.csv")]) == 2
    assert "no task.json" in capsys.readouterr().err


def test_xla_and_tpu_runs_pad_training_batches_to_a_few_widths(review_files, minilm_dir, minilm_vocab, tmp_path):
    """Under XLA every batch width is a new program to compile; rounding widths up to multiples of 32 leaves at
    most max_seq_length / 32 of them (2 here), and each batch still holds the same real tokens."""
    from bert_keras.checkpoints.task_spec import TaskSpec
    from bert_keras.data.labels import LabelVocabulary
    from bert_keras.tasks.classification import ClassificationTask
    from bert_keras.text import BertTokenizer
    from bert_keras.training.finetuning_config import XLA_PAD_MULTIPLE, FinetuningConfig

    def multiple(**fields):
        return FinetuningConfig(task="classify", init_checkpoint=minilm_dir, train_file=review_files["train"],
                                output_dir=str(tmp_path), **fields).padding_multiple

    assert (multiple(), multiple(jit_compile=True), multiple(strategy="tpu")) == (1, XLA_PAD_MULTIPLE, XLA_PAD_MULTIPLE)
    assert multiple(jit_compile=True, pad_to_multiple_of=8) == 8
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        multiple(pad_to_multiple_of=0)
    task = ClassificationTask(TaskSpec(task="classify", max_seq_length=SEQ), BertTokenizer(minilm_vocab),
                              LabelVocabulary(["neg", "pos"]))
    data = task.read(review_files["train"])
    plain = [x for x, *_ in task.dataset(data, 16, training=True, pad_to_multiple_of=1)]
    bucketed = [x for x, *_ in task.dataset(data, 16, training=True, pad_to_multiple_of=32)]
    assert len({x["token_ids"].shape[1] for x in plain}) > 2  # length-grouped batches of many widths ...
    assert {x["token_ids"].shape[1] for x in bucketed} <= {32, 64}  # ... now in two
    real_tokens = lambda batches: sorted(int(x["padding_mask"].numpy().sum()) for x in batches)  # noqa: E731
    assert real_tokens(plain) == real_tokens(bucketed)
