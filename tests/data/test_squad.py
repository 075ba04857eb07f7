"""SQuAD reading, windowed features and answer post-processing on the real allennlp SQuAD fixture."""

import json

import numpy as np
import pytest

from bert_keras.assets import asset_path
from bert_keras.data.squad import read_squad, split_context, squad_features
from bert_keras.data.squad_answers import squad_predictions
from bert_keras.errors import InputFileError


@pytest.fixture(scope="module")
def fixture_examples():
    return read_squad(asset_path("squad_fixture"))


def _gold_logits(features):
    """Logits that put all the weight on each window's gold start/end ([CLS] when the answer is elsewhere)."""
    starts = [np.full(len(ids), -10.0) for ids in features.token_ids]
    ends = [np.full(len(ids), -10.0) for ids in features.token_ids]
    for row, (s, e) in enumerate(zip(features.start_positions, features.end_positions)):
        starts[row][s] = ends[row][e] = 10.0
    return starts, ends


def test_fixture_reads(fixture_examples):
    examples, version = fixture_examples
    assert version == "1.1" and len(examples) == 5
    assert examples[0].answers == ["Saint Bernadette Soubirous"]


@pytest.mark.parametrize("max_seq_length, doc_stride", [(384, 128), (64, 16), (48, 7)])
def test_gold_logits_round_trip_to_the_gold_answer_texts(tokenizer, fixture_examples, max_seq_length, doc_stride):
    """Through windows (several per context with short lengths) and back to the exact original characters,
    including answers that end inside a word ("Father Julius Nieuwl") or exclude its punctuation ("1882")."""
    examples, _ = fixture_examples
    features = squad_features(examples, tokenizer, max_seq_length, doc_stride, max_query_length=24)
    assert len(features) >= len(examples)
    starts, ends = _gold_logits(features)
    predictions = squad_predictions(examples, features, starts, ends, tokenizer, max_answer_length=200)
    for example in examples:
        prediction = predictions[example.qid]
        assert prediction.text == example.answers[0]
        best = prediction.nbest[0]
        assert example.context[best.start_char:best.end_char] == example.answers[0]


def test_every_context_token_has_exactly_one_max_context_window(tokenizer, fixture_examples):
    examples, _ = fixture_examples
    features = squad_features(examples, tokenizer, 48, 7, max_query_length=24)
    for index in range(len(examples)):
        seen = {}
        for row in (r for r, e in enumerate(features.example_index) if e == index):
            for word, piece, central in zip(features.token_words[row], features.token_pieces[row],
                                            features.max_context[row]):
                if word >= 0:
                    seen[(word, piece)] = seen.get((word, piece), 0) + central
        assert seen and set(seen.values()) == {1}


def test_version_2_null_answer(tokenizer, tmp_path):
    context = "The cat sat on the mat."
    data = {"version": "v2.0", "data": [{"paragraphs": [{"context": context, "qas": [
        {"id": "a", "question": "Where did the cat sit?", "is_impossible": False,
         "answers": [{"text": "on the mat", "answer_start": 12}]},
        {"id": "b", "question": "What colour is the dog?", "is_impossible": True, "answers": []}]}]}]}
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    examples, version = read_squad(str(path))
    assert version == "2.0" and examples[1].answers == [] and examples[1].answer_words is None
    features = squad_features(examples, tokenizer, 64, 32, 16)
    assert (features.start_positions[1], features.end_positions[1]) == (0, 0)
    starts, ends = _gold_logits(features)
    predictions = squad_predictions(examples, features, starts, ends, tokenizer, version_2=True)
    assert predictions["a"].text == "on the mat"
    assert predictions["b"].text == ""


def test_split_context_keeps_character_ranges():
    words, spans = split_context("  a  bc\td\n")
    assert words == ["a", "bc", "d"] and spans == [(2, 3), (5, 7), (8, 9)]


def _squad_file(tmp_path, qa, context="The cat sat."):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": context, "qas": [qa]}]}]}), encoding="utf-8")
    return str(path)


def test_answer_not_in_context_is_an_error(tmp_path):
    path = _squad_file(tmp_path, {"id": "q1", "question": "?", "answers": [{"text": "dog", "answer_start": 4}]})
    with pytest.raises(InputFileError, match=r"s.json: question 'q1': answer 'dog' is not in the context at "
                                             r"answer_start 4 \(the context there reads 'cat'\)"):
        read_squad(path)


@pytest.mark.parametrize("content, message", [
    ("", r"empty file"),
    ("{\n  \"data\": [\n", r"s.json:3:1: not valid JSON: Expecting value"),
    ("[]", r"s.json: expected a JSON object, got list"),
    ('{"version": "1.1"}', r"missing field 'data'"),
    ('{"data": [{"paragraphs": [{"context": "x", "qas": [{"id": "q", "question": "?"}]}]}]}',
     r"question 'q': missing field 'answers'"),
    ('{"data": []}', r"no questions"),
    ('{"data": [{"paragraphs": [{"context": "x", "qas": [{"id": [1], "question": "?"}]}]}]}',
     r"qas\[0\]: field 'id' should be a str or int, got list"),
])
def test_malformed_squad_files(tmp_path, content, message):
    path = tmp_path / "s.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError, match=message):
        read_squad(str(path))
