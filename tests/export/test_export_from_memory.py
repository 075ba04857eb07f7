"""A task model trained in a Python script: saved as .keras and reloaded in a fresh process after only
`import bert_keras`, written as a model directory without optimizer state, and exported from memory or from its
.keras file; the SavedModel (run as TF Serving runs it) equals the model's own readable outputs."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import transformers
from export_helpers import run_fresh, string_input
from hf_bert_reference import hf_task_checkpoint

import bert_keras
from bert_keras.checkpoints.task_directory import WEIGHTS_FILE, save_task_model

TEXTS = ["A wonderful film, full of life.", "Dull and far too long.", "I laughed, I cried: see it!",
         "Naïve but charming.", "Nothing happens for two hours."]
LABELS = ["positive", "negative", "positive", "positive", "negative"]
RELOAD = """
import json, sys
import keras
import bert_keras
model = keras.models.load_model(sys.argv[1])
json.dump({"logits": model.predict(sys.argv[3:], verbose=0).tolist(), "labels": model.labels,
           "predicted": [r["label"] for r in model.predict_labels(sys.argv[3:])]}, open(sys.argv[2], "w"))
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory, minilm_vocab):
    """A classifier fine-tuned for a few steps on raw strings, compiled (so it has optimizer slots)."""
    directory, _ = hf_task_checkpoint(tmp_path_factory.mktemp("hf"), transformers.BertForSequenceClassification,
                                      minilm_vocab, num_labels=2)
    keras.utils.set_random_seed(0)
    model = bert_keras.BertClassifier.from_preset(directory, labels=["negative", "positive"], sequence_length=32)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    model.fit(TEXTS, LABELS, batch_size=2, epochs=1, verbose=0)
    return model


def _weight_bytes(model) -> int:
    return sum(int(np.prod(v.shape)) * 4 for v in model.weights)


def test_keras_file_reloads_in_a_fresh_process(trained, tmp_path):
    path = str(tmp_path / "clf.keras")
    trained.save(path)
    out = str(tmp_path / "out.json")
    done = subprocess.run([sys.executable, "-c", RELOAD, path, out, *TEXTS], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.load(open(out))
    np.testing.assert_allclose(result["logits"], trained.predict(TEXTS, verbose=0), atol=1e-6)
    assert result["labels"] == ["negative", "positive"]
    assert result["predicted"] == [r["label"] for r in trained.predict_labels(TEXTS)]


def test_model_directory_holds_weights_only_and_loads_back(trained, tmp_path):
    directory = str(tmp_path / "model")
    save_task_model(directory, trained)
    size = os.path.getsize(os.path.join(directory, WEIGHTS_FILE))
    assert size < 1.05 * _weight_bytes(trained)  # Adam's two slots would triple it
    again = bert_keras.BertClassifier.from_preset(directory)
    assert again.labels == ["negative", "positive"]
    np.testing.assert_allclose(again.predict(TEXTS, verbose=0), trained.predict(TEXTS, verbose=0), atol=1e-6)
    with pytest.raises(FileExistsError):  # nothing is silently replaced
        save_task_model(directory, trained)
    with pytest.raises(ValueError, match="holds a BertClassifier, not a BertTokenClassifier"):
        bert_keras.BertTokenClassifier.from_preset(directory)


def test_export_from_memory_and_from_keras_file_equal_the_model(trained, tmp_path):
    keras_path = str(tmp_path / "clf.keras")
    trained.save(keras_path)
    base = str(tmp_path / "exports")
    from_memory = bert_keras.export.export_saved_model(trained, base, "memory")
    from_file = bert_keras.export.export_saved_model(keras_path, base, "file")
    variables = os.path.join(from_memory.path, "variables", "variables.data-00000-of-00001")
    assert os.path.getsize(variables) < 1.05 * _weight_bytes(trained)  # each weight stored once
    jobs = {name: {"path": export.path, "signature": "serving_default", "inputs": {"text": string_input(TEXTS)}}
            for name, export in (("memory", from_memory), ("file", from_file))}
    results = run_fresh(jobs, str(tmp_path))
    expected = trained.predict_labels(TEXTS)
    for name in jobs:
        for side in ("eager", "session"):
            outputs = results[name][side]
            assert [v.decode() for v in outputs["labels"]] == [r["label"] for r in expected]
            np.testing.assert_allclose(outputs["probabilities"],
                                       [[r["probabilities"]["negative"], r["probabilities"]["positive"]]
                                        for r in expected], atol=1e-6)


def test_token_classifier_and_question_answerer_outputs_equal_their_exports(tmp_path_factory, minilm_vocab):
    root = tmp_path_factory.mktemp("hf_tasks")
    ner_dir, _ = hf_task_checkpoint(root, transformers.BertForTokenClassification, minilm_vocab, num_labels=3)
    qa_dir, _ = hf_task_checkpoint(root, transformers.BertForQuestionAnswering, minilm_vocab)
    tagger = bert_keras.BertTokenClassifier.from_preset(ner_dir, labels=["O", "B-LOC", "I-LOC"], sequence_length=16)
    reader = bert_keras.BertQuestionAnswerer.from_preset(qa_dir, sequence_length=32, doc_stride=8)
    sentences = ["Anna flew from Rome to New York yesterday evening with her two brothers.", "Ça va?"]
    questions = ["Where did Anna fly?", "Who flew?"]
    contexts = ["Anna flew from Rome to New York yesterday evening with her two brothers and a dog."] * 2
    base = str(root / "exports")
    ner_export = bert_keras.export.export_saved_model(tagger, base, "ner")
    qa_export = bert_keras.export.export_saved_model(reader, base, "qa")
    results = run_fresh({
        "ner": {"path": ner_export.path, "signature": "serving_default", "inputs": {"text": string_input(sentences)}},
        "qa": {"path": qa_export.path, "signature": "serving_default",
               "inputs": {"question": string_input(questions), "context": string_input(contexts)}}},
        str(root))
    tagged = tagger.predict_entities(sentences)
    served = results["ner"]["session"]
    for row, result in enumerate(tagged):
        words = result["words"]
        assert [w["label"] for w in words] == [v.decode() for v in served["labels"][row][:len(words)]]
        assert [w["start"] for w in words] == served["start"][row][:len(words)].tolist()
        np.testing.assert_allclose([w["score"] for w in words], served["scores"][row][:len(words)], atol=1e-6)
    assert any(len(r["words"]) > 6 for r in tagged)  # the first sentence overflows 16 pieces: words are cut
    answers = reader.answer(questions, contexts)
    served = results["qa"]["session"]
    assert [a["answer"] for a in answers] == [v.decode() for v in served["answer"]]
    np.testing.assert_allclose([a["score"] for a in answers], served["score"], atol=1e-5)
    for answer, context in zip(answers, contexts):
        assert answer["answer"] == (context[answer["start"]:answer["end"]] if answer["has_answer"] else "")


def test_a_mean_pooling_classifier_keeps_its_pooling_in_its_directory_and_export(tmp_path_factory, minilm_vocab,
                                                                               tmp_path):
    directory, _ = hf_task_checkpoint(tmp_path_factory.mktemp("hf_mean"), transformers.BertForSequenceClassification,
                                      minilm_vocab, num_labels=2)
    model = bert_keras.BertClassifier.from_preset(directory, labels=["negative", "positive"], sequence_length=32,
                                                  pooling="mean")
    saved = str(tmp_path / "model")
    save_task_model(saved, model)
    again = bert_keras.BertClassifier.from_preset(saved)
    assert again.pooling == "mean"
    np.testing.assert_allclose(again.predict(TEXTS, verbose=0), model.predict(TEXTS, verbose=0), atol=1e-6)
    export = bert_keras.export.export_saved_model(saved, str(tmp_path / "exports"), "mean")
    job = {"path": export.path, "signature": "serving_default", "inputs": {"text": string_input(TEXTS)}}
    results = run_fresh({"mean": job}, str(tmp_path))
    for side in ("eager", "session"):
        np.testing.assert_allclose(results["mean"][side]["logits"], model.predict(TEXTS, verbose=0), atol=1e-5)
