"""The Python front door: task models built in one line from a checkpoint, taking raw strings in fit / evaluate /
predict, with readable outputs, checked against transformers (an HF fine-tuned checkpoint of each task, its own
tokenizer and model) and against the exported SavedModel (one post-processing implementation)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hf_bert_reference import hf_reference_tokenizer as _hf_tokenizer, hf_task_checkpoint as _hf_checkpoint

import bert_keras

TEXTS = ["A wonderful film, full of life.", "Dull and far too long.", "I laughed, I cried: see it!",
         "The plot makes no sense at all.", "Naïve but charming.", "Nothing happens for two hours."]
LABELS = ["positive", "negative", "positive", "negative", "positive", "negative"]
SECOND = ["Great.", "Bad.", "Fine.", "Awful.", "Good.", "Boring."]


@pytest.fixture(scope="module")
def hf_classifier(tmp_path_factory, minilm_vocab):
    import transformers

    return _hf_checkpoint(tmp_path_factory.mktemp("hf"), transformers.BertForSequenceClassification, minilm_vocab,
                          num_labels=2)


@pytest.fixture(scope="module")
def classifier(hf_classifier):
    return bert_keras.BertClassifier.from_preset(hf_classifier[0], labels=["negative", "positive"], sequence_length=32)


def test_from_preset_predict_on_raw_strings_equals_transformers(classifier, hf_classifier, minilm_vocab):
    import torch

    batch = _hf_tokenizer(minilm_vocab)(TEXTS, padding=True, truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        expected = hf_classifier[1](**batch).logits.numpy()
    np.testing.assert_allclose(classifier.predict(TEXTS, verbose=0), expected, atol=2e-5)
    np.testing.assert_allclose(classifier.predict(np.array(TEXTS), batch_size=4, verbose=0), expected, atol=2e-5)
    np.testing.assert_allclose(classifier.predict(TEXTS[2], verbose=0), expected[2:3], atol=2e-5)  # batch of one
    dataset = tf.data.Dataset.from_tensor_slices(TEXTS)
    np.testing.assert_allclose(classifier.predict(dataset, verbose=0), expected, atol=2e-5)
    tokenized = {"token_ids": batch["input_ids"].numpy(), "segment_ids": batch["token_type_ids"].numpy(),
                 "padding_mask": batch["attention_mask"].numpy()}
    np.testing.assert_allclose(classifier.predict(tokenized, verbose=0), expected, atol=2e-5)


def test_predict_labels_names_and_probabilities(classifier):
    logits = classifier.predict(TEXTS, verbose=0)
    results = classifier.predict_labels(TEXTS)
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    for row, result in zip(expected, results):
        assert result["label"] == ["negative", "positive"][int(row.argmax())]
        np.testing.assert_allclose([result["probabilities"]["negative"], result["probabilities"]["positive"]], row,
                                   atol=1e-6)


def test_evaluate_takes_label_names_ids_and_datasets(classifier):
    classifier.compile()
    by_name = classifier.evaluate(TEXTS, LABELS, verbose=0, return_dict=True)
    ids = [["negative", "positive"].index(label) for label in LABELS]
    by_id = classifier.evaluate(TEXTS, np.array(ids), verbose=0, return_dict=True)
    dataset = tf.data.Dataset.from_tensor_slices((TEXTS, LABELS))  # unbatched strings with string labels
    by_dataset = classifier.evaluate(dataset, verbose=0, return_dict=True)
    predicted = classifier.predict(TEXTS, verbose=0).argmax(-1)
    assert by_name["accuracy"] == pytest.approx(np.mean(predicted == np.array(ids)))
    for other in (by_id, by_dataset):
        assert other["loss"] == pytest.approx(by_name["loss"], abs=1e-6)


def test_bad_input_gets_a_clear_error(classifier):
    with pytest.raises(ValueError, match="6 examples but 5 labels"):
        classifier.evaluate(TEXTS, LABELS[:5], verbose=0)
    with pytest.raises(ValueError, match=r"y\[1\] = 'neutral' is not one of the model's labels"):
        classifier.evaluate(TEXTS[:2], ["positive", "neutral"], verbose=0)
    with pytest.raises(ValueError, match="pair=False"):
        classifier.predict((TEXTS, SECOND), verbose=0)
    with pytest.raises(ValueError, match=r"y\[0\] = 7 is not a label id"):
        classifier.evaluate(TEXTS[:1], [7], verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices((TEXTS[:2], ["positive", "neutral"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="label not among the model labels"):
        classifier.evaluate(dataset, verbose=0)


def test_fit_on_raw_strings_learns(hf_classifier):
    keras.utils.set_random_seed(1)
    model = bert_keras.BertClassifier.from_preset(hf_classifier[0], labels=["negative", "positive"],
                                                  sequence_length=32)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(TEXTS, LABELS, batch_size=3, epochs=12, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert [r["label"] for r in model.predict_labels(TEXTS)] == LABELS


def test_pair_classifier_takes_two_lists(tmp_path_factory, minilm_vocab):
    import torch
    import transformers

    directory, reference = _hf_checkpoint(tmp_path_factory.mktemp("pair"),
                                          transformers.BertForSequenceClassification, minilm_vocab, num_labels=3)
    model = bert_keras.BertClassifier.from_preset(directory, num_classes=3, pair=True, sequence_length=32)
    batch = _hf_tokenizer(minilm_vocab)(TEXTS, SECOND, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = reference(**batch).logits.numpy()
    np.testing.assert_allclose(model.predict((TEXTS, SECOND), verbose=0), expected, atol=2e-5)
    with pytest.raises(ValueError, match="pair=True"):
        model.predict(TEXTS, verbose=0)
    with pytest.raises(ValueError, match="as many second texts"):
        model.predict((TEXTS, SECOND[:2]), verbose=0)


def test_multi_label_targets_from_names(hf_classifier):
    model = bert_keras.BertClassifier.from_preset(hf_classifier[0], labels=["funny", "sad", "long"],
                                                  multi_label=True, sequence_length=32)
    targets = model.prepare_targets([["funny"], [], ["sad", "long"]])
    np.testing.assert_array_equal(targets, [[1, 0, 0], [0, 0, 0], [0, 1, 1]])
    with pytest.raises(ValueError, match=r"y\[0\] = 'happy'"):
        model.prepare_targets([["happy"]])
    result = model.predict_labels(TEXTS[:2])
    assert set(result[0]["probabilities"]) == {"funny", "sad", "long"}


# ------------------------------------------------------------------------------------------------ NER


@pytest.fixture(scope="module")
def hf_tagger(tmp_path_factory, minilm_vocab):
    import transformers

    return _hf_checkpoint(tmp_path_factory.mktemp("hf_ner"), transformers.BertForTokenClassification, minilm_vocab,
                          num_labels=5)


NER_LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_token_classifier_words_equal_transformers_first_pieces(hf_tagger, minilm_vocab):
    import torch

    tagger = bert_keras.BertTokenClassifier.from_preset(hf_tagger[0], labels=NER_LABELS, sequence_length=32)
    text = "Angela Merkel visited Schwäbisch-Gmünd, then flew to New York."
    tagged = tagger.predict_entities([text])[0]
    words = [w["word"] for w in tagged["words"]]
    assert [text[w["start"]:w["end"]] for w in tagged["words"]] == words
    tokenizer = _hf_tokenizer(minilm_vocab)
    batch = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        logits = hf_tagger[1](**batch).logits.numpy()[0]
    word_ids = batch.word_ids(0)
    first = [word_ids.index(i) for i in range(len(words))]
    expected = [NER_LABELS[int(logits[p].argmax())] for p in first]
    assert [w["label"] for w in tagged["words"]] == expected
    for entity in tagged["entities"]:
        assert entity["text"] == text[entity["start"]:entity["end"]]


def test_token_classifier_fit_on_word_lists(hf_tagger):
    keras.utils.set_random_seed(2)
    tagger = bert_keras.BertTokenClassifier.from_preset(hf_tagger[0], labels=NER_LABELS, sequence_length=32)
    tagger.compile(optimizer=keras.optimizers.Adam(3e-3))
    sentences = [["Anna", "lives", "in", "Rome"], ["Bob", "Smith", "visited", "New", "York"]] * 3
    tags = [["B-PER", "O", "O", "B-LOC"], ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]] * 3
    history = tagger.fit(sentences, tags, batch_size=2, epochs=10, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    entities = tagger.predict_entities(["Anna lives in Rome"])[0]["entities"]
    assert [(e["type"], e["text"]) for e in entities] == [("PER", "Anna"), ("LOC", "Rome")]
    in_memory = tagger.evaluate(sentences, tags, verbose=0, return_dict=True)
    dataset = tf.data.Dataset.from_tensor_slices((tf.ragged.constant(sentences), tf.ragged.constant(tags)))
    from_dataset = tagger.evaluate(dataset, verbose=0, return_dict=True)  # unbatched word lists, tag names
    assert from_dataset["loss"] == pytest.approx(in_memory["loss"], abs=1e-6)
    bad = tf.data.Dataset.from_tensor_slices((tf.ragged.constant(sentences[:1]), tf.ragged.constant([["B-ORG"] * 4])))
    with pytest.raises(tf.errors.InvalidArgumentError, match="tag not among the model labels"):
        tagger.evaluate(bad, verbose=0)
    with pytest.raises(ValueError, match="sentence 0 has 4 words but 3 tags"):
        tagger.fit([sentences[0]], [tags[0][:3]], verbose=0)
    with pytest.raises(ValueError, match=r"y\[0\]\[1\] = 'B-ORG'"):
        tagger.fit([sentences[0]], [["B-PER", "B-ORG", "O", "O"]], verbose=0)


# ------------------------------------------------------------------------------------------------ QA


def test_question_answerer_span_equals_transformers_best_span(tmp_path_factory, minilm_vocab):
    import torch
    import transformers

    directory, reference = _hf_checkpoint(tmp_path_factory.mktemp("hf_qa"), transformers.BertForQuestionAnswering,
                                          minilm_vocab)
    reader = bert_keras.BertQuestionAnswerer.from_preset(directory, sequence_length=64)
    assert reader.max_query_length + 3 < 64 and reader.doc_stride <= 64 - reader.max_query_length - 3
    question, context = "Where does Anna live?", "Anna lives in Rome and works in Milan."
    result = reader.answer([question], [context])[0]
    tokenizer = _hf_tokenizer(minilm_vocab)
    batch = tokenizer(question, context, return_tensors="pt")
    with torch.no_grad():
        out = reference(**batch)
    start, end = out.start_logits.numpy()[0], out.end_logits.numpy()[0]
    context_positions = [i for i, s in enumerate(batch.sequence_ids(0)) if s == 1]
    best = max(((s, e) for s in context_positions for e in context_positions if s <= e < s + 30),
               key=lambda span: start[span[0]] + end[span[1]])
    pieces = batch["input_ids"][0, best[0]:best[1] + 1].tolist()
    assert tokenizer.decode(pieces).replace(" ##", "") == result["answer"].lower()
    assert context[result["start"]:result["end"]] == result["answer"]
    assert result["score"] == pytest.approx(start[best[0]] + end[best[1]], abs=1e-4)


def test_question_answerer_fit_on_raw_answers(tmp_path_factory, minilm_vocab):
    import transformers

    directory, _ = _hf_checkpoint(tmp_path_factory.mktemp("hf_qa_fit"), transformers.BertForQuestionAnswering,
                                  minilm_vocab)
    reader = bert_keras.BertQuestionAnswerer.from_preset(directory, sequence_length=64)
    reader.compile(optimizer=keras.optimizers.Adam(1e-3))
    questions, contexts = ["Where does Anna live?", "Who works in Milan?"], ["Anna lives in Rome."] * 2
    answers = [{"text": "Rome", "answer_start": 14}, None]
    history = reader.fit((questions, contexts), answers, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    with pytest.raises(ValueError, match=r"y\[0\]: answer 'Paris' is not in the context"):
        reader.fit((questions[:1], contexts[:1]), [{"text": "Paris", "answer_start": 14}], verbose=0)


def test_raw_strings_fit_under_mirrored_strategy_equals_one_device(tmp_path_factory, minilm_vocab):
    """The same fit / evaluate call on raw strings under 2 mirrored CPU replicas gives the one-device losses (a
    dropout-free checkpoint and plain SGD, so both runs are deterministic)."""
    import json
    import os
    import subprocess
    import sys

    import transformers

    directory, _ = _hf_checkpoint(tmp_path_factory.mktemp("mirrored"), transformers.BertForSequenceClassification,
                                  minilm_vocab, num_labels=2, hidden_dropout_prob=0.0,
                                  attention_probs_dropout_prob=0.0)
    result = str(tmp_path_factory.mktemp("mirrored_out") / "result.json")
    worker = os.path.join(os.path.dirname(os.path.dirname(__file__)), "training", "raw_strings_mirrored_worker.py")
    done = subprocess.run([sys.executable, worker, directory, result], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.load(open(result))
    assert runs["mirrored"]["replicas"] == 2
    assert runs["mirrored"]["before"] == pytest.approx(runs["default"]["before"], abs=1e-5)
    np.testing.assert_allclose(runs["mirrored"]["fit"], runs["default"]["fit"], atol=1e-4)


def test_masked_lm_freezes_the_unused_pooler(hf_classifier):
    masked_lm = bert_keras.BertMaskedLM.from_preset(hf_classifier[0], sequence_length=32)
    names = [v.path for v in masked_lm.trainable_variables]
    assert not any("pooler" in n for n in names) and any("masked_lm_head" in n for n in names)


def test_hub_name_offline_and_not_cached_is_one_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    from bert_keras.errors import CheckpointNotFoundError

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(CheckpointNotFoundError) as raised:
        bert_keras.BertClassifier.from_preset("hf://nobody/absent-bert", num_classes=2)
    message = str(raised.value)
    assert "nobody/absent-bert" in message and str(tmp_path / "hub") in message and "hf download" in message
