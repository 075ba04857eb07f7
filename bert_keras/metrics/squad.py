"""SQuAD's official exact-match and F1 (the v1.1/v2.0 evaluation scripts' answer normalisation and scoring)."""

from __future__ import annotations

import collections
import re
import string
from typing import Mapping, Sequence

from bert_keras.errors import InvalidInputError

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop ASCII punctuation and the articles a/an/the, collapse whitespace (the official rule)."""
    text = "".join(c for c in text.lower() if c not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def squad_f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 of the normalised answers; a no-answer ("") scores 1 only against a no-answer."""
    predicted_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not predicted_tokens or not gold_tokens:
        return float(predicted_tokens == gold_tokens)
    common = collections.Counter(predicted_tokens) & collections.Counter(gold_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted_tokens), overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(predictions: Mapping[str, str], gold_answers: Mapping[str, Sequence[str]]) -> dict:
    """Exact match and F1 in percent, each the max over a question's gold answers, averaged over questions.

    A question whose gold list is empty is unanswerable (SQuAD 2.0): the right prediction is "". Questions
    missing from `predictions` score 0, as in the official script. Also reports HasAns/NoAns splits.
    """
    if not gold_answers:
        raise InvalidInputError("no gold questions to score")
    scores = {"has_answer": [[], []], "no_answer": [[], []]}
    for qid, golds in gold_answers.items():
        golds = [g for g in golds if normalize_answer(g)] or [""]
        prediction = predictions.get(qid)
        split = scores["has_answer" if golds != [""] else "no_answer"]
        if prediction is None:
            split[0].append(0.0)
            split[1].append(0.0)
            continue
        split[0].append(max(squad_exact_match(prediction, g) for g in golds))
        split[1].append(max(squad_f1(prediction, g) for g in golds))
    every = [scores["has_answer"][i] + scores["no_answer"][i] for i in range(2)]
    result = {"exact_match": 100.0 * sum(every[0]) / len(every[0]), "f1": 100.0 * sum(every[1]) / len(every[1]),
              "total": len(every[0])}
    for name, (exact, f1) in scores.items():
        if exact:
            result[f"{name}_exact_match"] = 100.0 * sum(exact) / len(exact)
            result[f"{name}_f1"] = 100.0 * sum(f1) / len(f1)
            result[f"{name}_total"] = len(exact)
    return result
