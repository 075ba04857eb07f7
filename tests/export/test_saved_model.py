"""SavedModel exports of every task, run as TF Serving runs them: a fresh process with only TensorFlow and
tensorflow-text, through tf.saved_model.load and through the TF1 session loader ("serve" tag, SignatureDef tensor
names). Outputs are checked against the Keras models fed by the Python pipelines (bert_keras.tasks), on real text.
"""

import hashlib
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from export_helpers import int_input, review_texts, run_fresh, string_input, wnut_texts
from tiny_models import LABELS, tiny_task_dir

QA_SPEC = dict(max_seq_length=64, max_query_length=16, doc_stride=16)  # several windows per real context
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def exported(tmp_path_factory, minilm_vocab):
    """{key: (model dir, export)} for classify, classify-pair-multi-label, ner, qa (tiny random weights)."""
    from bert_keras.export import export_saved_model

    root = tmp_path_factory.mktemp("export")
    base = str(root / "serving")
    specs = {"classify": ("classify", {}),
             "pair": ("classify", dict(text_pair_column="pair", multi_label=True)),
             "ner": ("ner", {}), "qa": ("qa", QA_SPEC)}
    out = {}
    for key, (task, fields) in specs.items():
        model_dir = tiny_task_dir(str(root / "models"), minilm_vocab, task, seed=len(out), **fields)
        out[key] = (model_dir, export_saved_model(model_dir, base, key))
    return out


@pytest.fixture(scope="module")
def trained(exported):
    from bert_keras.tasks import load_trained_task

    return {key: load_trained_task(model_dir) for key, (model_dir, _) in exported.items()}


@pytest.fixture(scope="module")
def qa_examples():
    from bert_keras.assets import asset_path
    from bert_keras.assets.splits import review_cloze_qa
    from bert_keras.data.squad import read_squad

    squad, _ = read_squad(asset_path("squad_fixture"))
    cloze_path = None
    examples = list(squad)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cloze_path = os.path.join(tmp, "cloze.json")
        with open(cloze_path, "w", encoding="utf-8") as f:
            json.dump(review_cloze_qa(12), f)
        examples += read_squad(cloze_path)[0]
    return examples


REVIEWS = review_texts(16)
PAIR_SECONDS = review_texts(16, skip=100)
SENTENCES = wnut_texts(24)


@pytest.fixture(scope="module")
def embed_export(exported, minilm_dir):
    """The real all-MiniLM-L6-v2 checkpoint exported as sentence vectors."""
    from bert_keras.export import export_saved_model

    base = os.path.dirname(os.path.dirname(exported["classify"][1].path))
    return export_saved_model(minilm_dir, base, "minilm", task="embed")


@pytest.fixture(scope="module")
def fresh(exported, embed_export, qa_examples, tmp_path_factory):
    path = {key: e.path for key, (_, e) in exported.items()}
    ids = [[101, 2023, 3185, 2001, 2307, 102], [101, 2919, 102, 0, 0, 0]]
    jobs = {
        "classify": {"path": path["classify"], "signature": "serving_default",
                     "inputs": {"text": string_input(REVIEWS)}},
        "classify_ids": {"path": path["classify"], "signature": "predict_ids",
                         "inputs": {"token_ids": int_input(ids), "segment_ids": int_input(np.zeros([2, 6])),
                                    "padding_mask": int_input([[1] * 6, [1] * 3 + [0] * 3])}},
        "classify_examples": {"path": path["classify"], "signature": "classify",
                              "inputs": {"inputs": string_input([_example(t) for t in REVIEWS[:4]])}},
        "pair": {"path": path["pair"], "signature": "serving_default",
                 "inputs": {"text": string_input(REVIEWS), "text_pair": string_input(PAIR_SECONDS)}},
        "ner": {"path": path["ner"], "signature": "serving_default", "inputs": {"text": string_input(SENTENCES)}},
        "embed": {"path": embed_export.path, "signature": "serving_default",
                  "inputs": {"text": string_input(SENTENCES[:8])}},
        "qa": {"path": path["qa"], "signature": "serving_default",
               "inputs": {"question": string_input([e.question for e in qa_examples]),
                          "context": string_input([e.context for e in qa_examples])}},
    }
    return run_fresh(jobs, str(tmp_path_factory.mktemp("fresh")))


def _example(text: str, pair: str | None = None) -> bytes:
    feature = {"text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))}
    if pair is not None:
        feature["text_pair"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[pair.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_fresh_process_runs_both_loaders_without_bert_keras(fresh):
    assert fresh["bert_keras_loaded"] is False
    for name, result in fresh.items():
        if name == "bert_keras_loaded":
            continue
        assert set(result["eager"]) == set(result["session"]), name
        for key, value in result["eager"].items():
            if value.dtype == object:
                assert (value == result["session"][key]).all(), (name, key)
            else:
                np.testing.assert_allclose(result["session"][key], value, atol=1e-6, err_msg=f"{name} {key}")


def test_classify_equals_keras_on_real_reviews(fresh, trained):
    from bert_keras.data.classification import ClassificationExamples

    task_model = trained["classify"]
    examples = ClassificationExamples("reviews", REVIEWS, None, None, list(range(len(REVIEWS))))
    logits = task_model.task.logits(task_model.model, examples)
    out = fresh["classify"]["session"]
    assert np.abs(out["logits"] - logits).max() <= TOLERANCE
    assert np.abs(out["probabilities"] - _softmax(logits)).max() <= TOLERANCE
    assert out["label_ids"].tolist() == logits.argmax(-1).tolist()
    assert [v.decode() for v in out["labels"]] == [LABELS["classify"][i] for i in logits.argmax(-1)]


def test_token_id_signature_equals_keras(fresh, trained):
    inputs = {k: np.asarray(v["values"], np.int32) for k, v in {
        "token_ids": int_input([[101, 2023, 3185, 2001, 2307, 102], [101, 2919, 102, 0, 0, 0]]),
        "segment_ids": int_input(np.zeros([2, 6])),
        "padding_mask": int_input([[1] * 6, [1] * 3 + [0] * 3])}.items()}
    logits = trained["classify"].model(inputs).numpy()
    assert np.abs(fresh["classify_ids"]["session"]["logits"] - logits).max() <= TOLERANCE


def test_classify_signature_serves_tf_examples(fresh):
    result = fresh["classify_examples"]
    assert result["method_name"] == "tensorflow/serving/classify"
    scores = result["session"]["scores"]
    np.testing.assert_allclose(scores, fresh["classify"]["session"]["probabilities"][:4], atol=1e-6)
    assert [[c.decode() for c in row] for row in result["session"]["classes"]] == [LABELS["classify"]] * 4


def test_pair_multi_label_equals_keras(fresh, trained):
    from bert_keras.data.classification import ClassificationExamples

    task_model = trained["pair"]
    examples = ClassificationExamples("reviews", REVIEWS, PAIR_SECONDS, None, list(range(len(REVIEWS))))
    logits = task_model.task.logits(task_model.model, examples)
    out = fresh["pair"]["session"]
    probabilities = 1 / (1 + np.exp(-logits))
    assert np.abs(out["probabilities"] - probabilities).max() <= TOLERANCE
    assert out["label_ids"].tolist() == (probabilities > 0.5).astype(int).tolist()
    expected = [[n if p > 0.5 else "" for n, p in zip(LABELS["classify"], row)] for row in probabilities]
    assert [[v.decode() for v in row] for row in out["labels"]] == expected


def test_ner_words_and_offsets_equal_the_reference_pre_tokenizer(fresh, minilm_vocab):
    """Words are the reference tokenizer's words (transformers' word_ids), with its character offsets."""
    from hf_bert_reference import hf_reference_tokenizer

    reference = hf_reference_tokenizer(minilm_vocab)
    out = fresh["ner"]["session"]
    for row, text in enumerate(SENTENCES):
        encoding = reference(text, add_special_tokens=False, return_offsets_mapping=True)
        spans: dict[int, list[int]] = {}
        for word, (start, end) in zip(encoding.word_ids(), encoding["offset_mapping"]):
            spans.setdefault(word, [start, end])[1] = end
        count = out["num_words"][row]
        ours = list(zip(out["start"][row][:count].tolist(), out["end"][row][:count].tolist()))
        assert ours == [tuple(s) for s in spans.values()], text
        assert [w.decode() for w in out["words"][row][:count]] == [text[s:e] for s, e in ours]


def test_ner_logits_equal_keras_via_the_python_pipeline(fresh, trained):
    from bert_keras.data.conll import TaggedSentence
    from bert_keras.data.ner import ner_dataset, ner_features
    from bert_keras.tasks.base import predict_batches

    task_model = trained["ner"]
    out = fresh["ner"]["session"]
    sentences = [TaggedSentence([w.decode() for w in out["words"][i][:out["num_words"][i]]], None, i + 1)
                 for i in range(len(SENTENCES))]
    features = ner_features(sentences, task_model.tokenizer, task_model.spec.max_seq_length)
    logits = predict_batches(task_model.model, ner_dataset(features, batch_size=8, with_labels=False))
    rows = [row for batch in logits for row in batch]
    for i, starts in enumerate(features.word_starts):
        expected = np.stack([rows[i][s] for s in starts])
        assert np.abs(out["logits"][i][:len(starts)] - expected).max() <= TOLERANCE
        names = [LABELS["ner"][j] for j in expected.argmax(-1)]
        assert [v.decode() for v in out["labels"][i][:len(starts)]] == names
        np.testing.assert_allclose(out["scores"][i][:len(starts)], _softmax(expected).max(-1), atol=TOLERANCE)


def test_qa_answers_equal_the_python_squad_pipeline(fresh, trained, qa_examples):
    """Windows, max-context rule, n-best candidates and character alignment, checked against squad_predictions."""
    from bert_keras.data.squad import squad_dataset, squad_features
    from bert_keras.data.squad_answers import squad_predictions
    from bert_keras.tasks.base import predict_batches

    task_model = trained["qa"]
    spec = task_model.spec
    features = squad_features(qa_examples, task_model.tokenizer, spec.max_seq_length, spec.doc_stride,
                              spec.max_query_length)
    assert len(features) > 3 * len(qa_examples)  # long contexts really take several windows
    batches = predict_batches(task_model.model, squad_dataset(features, batch_size=16, with_labels=False))
    starts = [row for b in batches for row in b["start"]]
    ends = [row for b in batches for row in b["end"]]
    predictions = squad_predictions(qa_examples, features, starts, ends, task_model.tokenizer,
                                    max_answer_length=spec.max_answer_length)
    out = fresh["qa"]["session"]
    inside_words = 0
    for i, example in enumerate(qa_examples):
        best = predictions[example.qid].nbest[0]
        assert out["answer"][i].decode() == best.text, example.qid
        assert (out["start"][i], out["end"][i]) == (best.start_char, best.end_char)
        assert abs(out["score"][i] - best.score) <= TOLERANCE
        inside_words += best.start_char not in {s for s, _ in example.word_spans}
    assert inside_words > 0  # some answers start inside a word: the sub-word alignment was exercised


def test_embeddings_of_the_real_minilm_equal_keras(fresh, minilm_dir, embed_export):
    from bert_keras.checkpoints import load_checkpoint
    from bert_keras.modeling.pooling import mean_pool
    from bert_keras.text import BertPreprocessor, BertTokenizer

    loaded = load_checkpoint(minilm_dir)
    preprocessor = BertPreprocessor(BertTokenizer(loaded.vocab_path), sequence_length=128, padding="longest")
    inputs = preprocessor(tf.constant(SENTENCES[:8]))
    outputs = loaded.encoder(inputs)
    out = fresh["embed"]["session"]
    assert out["mean_pooled"].shape == (8, 384)
    assert np.abs(out["mean_pooled"] - mean_pool(outputs["sequence_output"], inputs["padding_mask"])).max() <= TOLERANCE
    assert np.abs(out["pooled_output"] - outputs["pooled_output"].numpy()).max() <= TOLERANCE
    assert embed_export.card["task"] == "embed"
    assert embed_export.card["source_checkpoint"] == os.path.abspath(minilm_dir)


def test_export_layout_assets_and_model_card(exported, minilm_vocab):
    model_dir, export = exported["classify"]
    assert os.path.basename(export.path) == "1" and export.version == 1
    with open(os.path.join(export.path, "assets", "vocab.txt"), "rb") as f, open(minilm_vocab, "rb") as g:
        vocab = g.read()
        assert f.read() == vocab
    with open(os.path.join(export.path, "assets", "labels.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == LABELS["classify"]
    with open(os.path.join(export.path, "model_card.json"), encoding="utf-8") as f:
        card = json.load(f)
    assert card["vocab_sha256"] == hashlib.sha256(vocab).hexdigest()
    assert card["labels"] == LABELS["classify"] and card["max_seq_length"] == 128 and card["task"] == "classify"
    assert card["config"]["num_hidden_layers"] == 2 and card["version"] == 1
    assert set(card["signatures"]) == {"serving_default", "predict_ids", "tokenize", "classify"}


@pytest.fixture(scope="module")
def loaded(exported):
    return {key: tf.saved_model.load(e.path) for key, (_, e) in exported.items()}


def test_dynamic_padding_pads_to_the_longest_text_capped_at_max_length(loaded):
    tokenize = loaded["classify"].signatures["tokenize"]
    short = tokenize(text=tf.constant(["good", "a fine film"]))["token_ids"]
    assert short.shape == (2, 5)  # [CLS] a fine film [SEP]
    long = tokenize(text=tf.constant(["word " * 5000, "ok"]))["token_ids"]
    assert long.shape == (2, 128)


EMPTY = tf.constant([], tf.string)


def test_empty_batch_gives_empty_outputs_of_the_right_shape(loaded):
    out = loaded["classify"].signatures["serving_default"](text=EMPTY)
    assert out["probabilities"].shape == (0, 3) and out["labels"].shape == (0,)
    out = loaded["ner"].signatures["serving_default"](text=EMPTY)
    assert out["labels"].shape[0] == 0 and out["logits"].shape[-1] == len(LABELS["ner"])
    out = loaded["qa"].signatures["serving_default"](question=EMPTY, context=EMPTY)
    assert out["answer"].shape == (0,) and out["score"].shape == (0,)


def test_empty_strings_are_answered(loaded):
    out = loaded["classify"].signatures["serving_default"](text=tf.constant(["", "good"]))
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, atol=1e-6)
    out = loaded["ner"].signatures["serving_default"](text=tf.constant(["", "Paris"]))
    assert out["num_words"].numpy().tolist() == [0, 1]
    out = loaded["qa"].signatures["serving_default"](question=tf.constant(["who?", ""]),
                                                     context=tf.constant(["", "Paris is big"]))
    assert out["answer"].numpy()[0] == b"" and out["start"].numpy()[0] == -1
    assert not out["has_answer"].numpy()[0]


def test_very_long_inputs_are_truncated_not_refused(loaded):
    long_text = " ".join(["Paris"] * 20000)
    out = loaded["ner"].signatures["serving_default"](text=tf.constant([long_text]))
    scored = (out["scores"].numpy()[0] > 0).sum()
    assert out["num_words"].numpy()[0] == 20000 and scored == 126  # 128 - [CLS] - [SEP]
    assert set(out["labels"].numpy()[0][126:].tolist()) == {b"O"}
    out = loaded["qa"].signatures["serving_default"](question=tf.constant([long_text]),
                                                     context=tf.constant([" ".join(REVIEWS)]))
    assert out["has_answer"].numpy()[0]


def test_invalid_utf8_is_read_as_python_decodes_it_with_replacement(loaded):
    raw = [b"caf\xe9 is great \xff", "Olá Lisboa".encode("latin-1")]
    replaced = [r.decode("utf-8", "replace").encode() for r in raw]
    for key, name in (("classify", "probabilities"), ("ner", "logits")):
        function = loaded[key].signatures["serving_default"]
        np.testing.assert_array_equal(function(text=tf.constant(raw))[name],
                                      function(text=tf.constant(replaced))[name])
    ner = loaded["ner"].signatures["serving_default"](text=tf.constant(raw))
    text = raw[1].decode("utf-8", "replace")
    words = [w.decode() for w in ner["words"].numpy()[1][:ner["num_words"].numpy()[1]]]
    starts, ends = ner["start"].numpy()[1], ner["end"].numpy()[1]
    assert words == [text[s:e] for s, e in zip(starts, ends)][:len(words)]
