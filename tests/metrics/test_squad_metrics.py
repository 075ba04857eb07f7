"""SQuAD exact match / F1, checked by hand against the official script's rules."""

import pytest

from bert_keras.metrics import squad_exact_match, squad_f1, squad_metrics
from bert_keras.metrics.squad import normalize_answer


def test_normalisation_drops_case_punctuation_articles_and_extra_space():
    assert normalize_answer("  The  Cat's, hat!") == "cats hat"
    assert normalize_answer("an apple a day") == "apple day"
    assert normalize_answer("theatre") == "theatre"  # articles only as whole words


def test_f1_by_hand():
    # tokens: [big, cat] vs [cat, sat]: one in common, precision 1/2, recall 1/2
    assert squad_f1("the big cat", "a cat sat") == pytest.approx(0.5)
    # repeated tokens count with multiplicity: [cat, cat] vs [cat]: precision 1/2, recall 1 -> 2/3
    assert squad_f1("cat cat", "cat") == pytest.approx(2 / 3)
    assert squad_f1("dog", "cat") == 0.0
    assert squad_exact_match("The Cat.", "cat") == 1.0


def test_corpus_scores_take_the_best_gold_answer_and_count_missing_as_zero():
    gold = {"q1": ["Denver Broncos", "the Broncos"], "q2": ["1882"], "q3": ["Paris"]}
    predictions = {"q1": "Broncos", "q2": "in 1882"}  # q3 missing
    result = squad_metrics(predictions, gold)
    # q1: EM with "the Broncos" (normalised "broncos"); q2: F1 2/3 (precision 1/2, recall 1); q3: 0
    assert result["exact_match"] == pytest.approx(100 / 3)
    assert result["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert result["total"] == 3


def test_unanswerable_questions_score_an_empty_prediction():
    result = squad_metrics({"a": "", "b": "something"}, {"a": [], "b": []})
    assert result["exact_match"] == 50.0
    assert result["no_answer_total"] == 2
