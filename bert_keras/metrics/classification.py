"""Classification metrics from predicted and gold label ids: accuracy, macro-F1, per-class scores."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bert_keras.errors import InvalidInputError

# A label is predicted (multi-label classification) when its probability exceeds this; multi-hot targets are
# binarised with it too.
MULTI_LABEL_THRESHOLD = 0.5


def _f1(true_positive: np.ndarray, predicted: np.ndarray, gold: np.ndarray):
    precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive, float), where=predicted > 0)
    recall = np.divide(true_positive, gold, out=np.zeros_like(true_positive, float), where=gold > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return precision, recall, f1


def classification_metrics(gold: Sequence[int], predicted: Sequence[int], label_names: Sequence[str]) -> dict:
    """Accuracy, macro-averaged precision/recall/F1 (classes with gold or predicted examples), per-class scores.

    Macro-F1 averages the per-class F1 over every class that occurs in the gold or the predicted labels, as
    scikit-learn's f1_score(average="macro") does for the labels present.
    """
    gold, predicted = np.asarray(gold), np.asarray(predicted)
    if gold.shape != predicted.shape or gold.ndim != 1:
        raise InvalidInputError(f"gold {gold.shape} and predicted {predicted.shape} must be equal 1-D shapes")
    classes = len(label_names)
    true_positive = np.bincount(gold[gold == predicted], minlength=classes).astype(float)
    predicted_count = np.bincount(predicted, minlength=classes).astype(float)
    gold_count = np.bincount(gold, minlength=classes).astype(float)
    precision, recall, f1 = _f1(true_positive, predicted_count, gold_count)
    present = (gold_count + predicted_count) > 0
    return {
        "accuracy": float(np.mean(gold == predicted)) if len(gold) else 0.0,
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "examples": int(len(gold)),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                             "support": int(gold_count[i])} for i, name in enumerate(label_names)},
    }


def multi_label_metrics(gold: np.ndarray, predicted: np.ndarray, label_names: Sequence[str]) -> dict:
    """Multi-hot gold vs predicted `[n, classes]`: exact-set accuracy, micro and macro F1, per-label scores.

    Values above MULTI_LABEL_THRESHOLD count as present, so `predicted` may be multi-hot or probabilities.
    """
    gold = np.asarray(gold) > MULTI_LABEL_THRESHOLD
    predicted = np.asarray(predicted) > MULTI_LABEL_THRESHOLD
    if gold.shape != predicted.shape or gold.ndim != 2:
        raise InvalidInputError(f"gold {gold.shape} and predicted {predicted.shape} must be equal [n, classes] "
                                "shapes")
    true_positive = (gold & predicted).sum(0).astype(float)
    predicted_count, gold_count = predicted.sum(0).astype(float), gold.sum(0).astype(float)
    precision, recall, f1 = _f1(true_positive, predicted_count, gold_count)
    _, _, micro = _f1(np.array([true_positive.sum()]), np.array([predicted_count.sum()]),
                      np.array([gold_count.sum()]))
    present = (gold_count + predicted_count) > 0
    return {
        "subset_accuracy": float(np.mean(np.all(gold == predicted, axis=1))) if len(gold) else 0.0,
        "label_accuracy": float(np.mean(gold == predicted)) if gold.size else 0.0,
        "micro_f1": float(micro[0]),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "examples": int(len(gold)),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                             "support": int(gold_count[i])} for i, name in enumerate(label_names)},
    }
