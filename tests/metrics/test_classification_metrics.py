"""Classification metrics against scikit-learn (seqeval's dependency) and by hand."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from bert_keras.metrics import classification_metrics, multi_label_metrics


def test_accuracy_and_macro_f1_equal_scikit_learn():
    rng = np.random.default_rng(0)
    for _ in range(20):
        gold = rng.integers(0, 4, 50)
        predicted = np.where(rng.random(50) < 0.6, gold, rng.integers(0, 4, 50))
        ours = classification_metrics(gold, predicted, ["a", "b", "c", "d"])
        assert ours["accuracy"] == pytest.approx(accuracy_score(gold, predicted))
        assert ours["macro_f1"] == pytest.approx(f1_score(gold, predicted, average="macro", zero_division=0))


def test_macro_f1_by_hand():
    # class 0: tp 1, predicted 2, gold 1 -> p 1/2, r 1, f1 2/3; class 1: tp 1, predicted 1, gold 2 -> f1 2/3
    result = classification_metrics([0, 1, 1], [0, 0, 1], ["neg", "pos"])
    assert result["macro_f1"] == pytest.approx(2 / 3)
    assert result["per_class"]["pos"]["support"] == 2


def test_multi_label_by_hand():
    gold = np.array([[1, 0, 1], [0, 1, 0]])
    predicted = np.array([[1, 0, 0], [0, 1, 0]])
    result = multi_label_metrics(gold, predicted, ["x", "y", "z"])
    assert result["subset_accuracy"] == 0.5
    assert result["micro_f1"] == pytest.approx(2 * 1.0 * (2 / 3) / (1 + 2 / 3))
    assert result["micro_f1"] == pytest.approx(f1_score(gold, predicted, average="micro"))
