"""In-graph entity decoding (what the exported NER signature returns) against the Python decoders, and character-
level Chinese NER end to end: raw text -> characters -> BMES tags -> entities with character offsets."""

import random

import keras
import numpy as np
import pytest
import tensorflow as tf

import bert_keras
from bert_keras.assets import asset_path
from bert_keras.data.conll import read_conll
from bert_keras.data.tag_schemes import CONLLEVAL, SCHEMES, tag_scheme
from bert_keras.metrics import entity_spans
from bert_keras.modeling.entity_decoding import decode_entities


def _graph_spans(sentences, labels, scheme):
    width = max(1, max(len(s) for s in sentences))
    ids = np.full((len(sentences), width), -1, np.int32)
    for row, tags in enumerate(sentences):
        ids[row, :len(tags)] = [labels.index(t) for t in tags]
    out = decode_entities(tf.constant(ids), tf.constant([len(s) for s in sentences]), labels, scheme)
    return [[(t.decode(), f, last) for t, f, last in zip(*row)]
            for row in zip(out["type"].to_list(), out["first"].to_list(), out["last"].to_list())]


@pytest.mark.parametrize("name", [*SCHEMES, None])
def test_graph_decoding_equals_the_python_scan_on_random_tags(name):
    """Random tag sequences (most of them ill-formed) of every scheme: the same entities as TagScheme.spans
    (strict) or entity_spans (conlleval, name None), empty sentences included."""
    rng = random.Random(7)
    labels = (CONLLEVAL if name is None else SCHEMES[name]).labels(["LOC", "PER"])
    sentences = [[rng.choice(labels) for _ in range(rng.randint(0, 14))] for _ in range(400)]
    python = entity_spans if name is None else SCHEMES[name].spans
    expected = [python(tags) for tags in sentences]
    assert sum(map(len, expected)) > 300  # many entities, and many rejected candidates in strict mode
    assert _graph_spans(sentences, labels, name) == expected


def test_graph_decoding_equals_python_on_msra_bmes_and_wnut_iob2():
    msra = [s.tags for s in read_conll(asset_path("msra_test"))]
    labels = tag_scheme("BMES").labels(["LOC", "ORG", "PER"])
    assert _graph_spans(msra, labels, "BMES") == [tag_scheme("BMES").spans(t) for t in msra]
    wnut = [s.tags for s in read_conll(asset_path("wnut_ner"))]
    labels = sorted({t for tags in wnut for t in tags})
    assert _graph_spans(wnut, labels, None) == [entity_spans(t) for t in wnut]
    assert _graph_spans(wnut, labels, "IOB2") == [tag_scheme("IOB2").spans(t) for t in wnut]


# ------------------------------------------------------------------------------- character-level Chinese NER

BMES_LABELS = tag_scheme("BMES").labels(["LOC", "PER"])
TEXTS = ["我住在北京，2008年去了上海。", "  李 明来自 Hong Kong！", "", "国务院总理在人民大会堂会见了外宾。"]


@pytest.fixture(scope="module")
def tagger():
    keras.utils.set_random_seed(3)
    tokenizer = bert_keras.BertTokenizer(asset_path("chinese_vocab"))
    encoder = bert_keras.BertEncoder(bert_keras.BertConfig.named("tiny", vocab_size=tokenizer.vocabulary_size))
    return bert_keras.BertTokenClassifier(encoder, labels=BMES_LABELS, tag_scheme="bmes", word_split="characters",
                                          preprocessor=bert_keras.BertPreprocessor(tokenizer, sequence_length=16))


def test_characters_are_words_and_entities_follow_bmes(tagger):
    results = tagger.predict_entities(TEXTS)
    assert tagger.tag_scheme == "BMES"
    found = 0
    for text, result in zip(TEXTS, results):
        words = result["words"]
        assert [w["word"] for w in words] == [c for c in text if not c.isspace()]  # digits, letters one by one
        assert all(text[w["start"]:w["end"]] == w["word"] for w in words)
        expected = tag_scheme("BMES").spans([w["label"] for w in words])
        assert [(e["type"], e["start"], e["end"]) for e in result["entities"]] == [
            (kind, words[first]["start"], words[last]["end"]) for kind, first, last in expected]
        for entity, (_, first, last) in zip(result["entities"], expected):
            assert entity["text"] == text[entity["start"]:entity["end"]]
            assert entity["score"] == pytest.approx(np.mean([w["score"] for w in words[first:last + 1]]), abs=1e-6)
        found += len(expected)
    assert found > 0  # random weights still tag some characters as entities
    # 16 pieces hold 14 characters: the last characters of the longest text are not scored (tagged O).
    assert [w["label"] for w in results[3]["words"][14:]] == ["O"] * (len(results[3]["words"]) - 14)


def test_scheme_and_word_split_survive_get_config_and_bad_values_are_refused(tagger):
    config = tagger.get_config()
    assert (config["tag_scheme"], config["word_split"]) == ("BMES", "characters")
    with pytest.raises(ValueError, match=r"labels \['I-LOC'\] are not BMES tags"):
        bert_keras.BertTokenClassifier(tagger.encoder, labels=["O", "B-LOC", "I-LOC"], tag_scheme="BMES")
    with pytest.raises(ValueError, match="word_split 'chars' is unknown"):
        bert_keras.BertTokenClassifier(tagger.encoder, labels=BMES_LABELS, word_split="chars")
    with pytest.raises(ValueError, match="tag scheme 'BIOX' is unknown"):
        bert_keras.BertTokenClassifier(tagger.encoder, labels=BMES_LABELS, tag_scheme="BIOX")


def test_the_exported_signature_returns_the_same_entities(tagger, tmp_path):
    export = bert_keras.export.export_saved_model(tagger, str(tmp_path), "ner")
    served = tf.saved_model.load(export.path).signatures["serving_default"](text=tf.constant(TEXTS))
    for row, result in enumerate(tagger.predict_entities(TEXTS)):
        count = int(served["num_entities"][row])
        assert [(e["type"], e["text"], e["start"], e["end"]) for e in result["entities"]] == [
            (served["entity_types"][row, i].numpy().decode(), served["entity_texts"][row, i].numpy().decode(),
             int(served["entity_start"][row, i]), int(served["entity_end"][row, i])) for i in range(count)]
