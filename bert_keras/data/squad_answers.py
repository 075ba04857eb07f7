"""Answers from span logits: n-best spans per question over all its windows, mapped to exact context text."""

from __future__ import annotations

import dataclasses
import unicodedata
from typing import Sequence

import numpy as np

from bert_keras.data.squad import SquadExample, SquadFeatures
from bert_keras.errors import InvalidInputError
from bert_keras.text.tokenizer import BertTokenizer


@dataclasses.dataclass
class SquadAnswer:
    """A candidate answer: its text, character range in the context, start+end logit score, n-best probability."""

    text: str
    start_char: int
    end_char: int
    score: float
    probability: float = 0.0


@dataclasses.dataclass
class SquadPrediction:
    """The chosen answer of one question ("" = no answer, SQuAD 2.0), its n-best list and the null score."""

    qid: str
    text: str
    nbest: list[SquadAnswer]
    null_score: float | None = None


class _WordAligner:
    """Maps a range of a word's WordPieces to the characters of the original word."""

    def __init__(self, tokenizer: BertTokenizer):
        self.vocabulary = tokenizer.vocabulary
        self.lowercase = tokenizer.lowercase
        self.strip_accents = tokenizer.lowercase if tokenizer.strip_accents is None else tokenizer.strip_accents

    def _normalized(self, word: str) -> list[tuple[str, int]]:
        """(normalised character, index in `word`) pairs, as BERT's normalisation produces them."""
        out = []
        for index, char in enumerate(word):
            text = char.lower() if self.lowercase else char
            if self.strip_accents:
                text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
            for c in text:
                if c in "\t\n\r" or not (unicodedata.category(c).startswith("C") or c == "\ufffd"):
                    out.append((c, index))
        return out

    def char_range(self, word: str, pieces: Sequence[int], first: int, last: int | None) -> tuple[int, int]:
        """Characters [start, end) of `word` covered by pieces first..last (None: to the word's end); the whole
        word when the pieces do not spell it out ([UNK], unusual normalisation)."""
        texts = [self.vocabulary[p][2:] if i and self.vocabulary[p].startswith("##") else self.vocabulary[p]
                 for i, p in enumerate(pieces)]
        chars = self._normalized(word)
        if "".join(texts) != "".join(c for c, _ in chars):
            return 0, len(word)
        start = sum(len(t) for t in texts[:first])
        end = sum(len(t) for t in texts[:len(texts) if last is None else last + 1])
        if start >= end:
            return 0, len(word)
        return chars[start][1], chars[end - 1][1] + 1


def _top_indices(logits: np.ndarray, count: int) -> np.ndarray:
    count = min(count, len(logits))
    top = np.argpartition(-logits, count - 1)[:count]
    return top[np.argsort(-logits[top], kind="stable")]


def squad_predictions(examples: Sequence[SquadExample], features: SquadFeatures,
                      start_logits: Sequence[np.ndarray], end_logits: Sequence[np.ndarray], tokenizer: BertTokenizer,
                      n_best: int = 20, max_answer_length: int = 30, version_2: bool = False,
                      null_score_diff_threshold: float = 0.0) -> dict[str, SquadPrediction]:
    """The best answer of every question from the start/end logits of its windows (as BERT's run_squad).

    A span is a candidate when both ends lie in the window's context, its start is in the window where it is
    most central, end >= start, and it spans at most `max_answer_length` tokens; its score is the sum of the
    two logits. For SQuAD 2.0 the answer is "" when the null score (the [CLS] start + end, lowest over the
    windows) beats the best span by more than `null_score_diff_threshold`.

    Args:
        start_logits, end_logits: one array per feature (padding past the feature's length is ignored).
    """
    if len(start_logits) != len(features) or len(end_logits) != len(features):
        raise InvalidInputError(f"{len(features)} features but {len(start_logits)} start and {len(end_logits)} end "
                                "logit rows")
    aligner = _WordAligner(tokenizer)
    pieces_of = features.word_pieces  # the pieces the windows were built from
    by_example: dict[int, list[int]] = {}
    for feature, example in enumerate(features.example_index):
        by_example.setdefault(example, []).append(feature)
    predictions = {}
    for example_index, example in enumerate(examples):
        candidates: dict[tuple[int, int], SquadAnswer] = {}
        null_score = None
        for f in by_example.get(example_index, []):
            length = len(features.token_ids[f])
            starts, ends = np.asarray(start_logits[f][:length]), np.asarray(end_logits[f][:length])
            words, numbers = features.token_words[f], features.token_pieces[f]
            null = float(starts[0] + ends[0])
            null_score = null if null_score is None else min(null_score, null)
            for s in _top_indices(starts, n_best):
                if words[s] < 0 or not features.max_context[f][s]:
                    continue
                for e in _top_indices(ends, n_best):
                    if words[e] < 0 or e < s or e - s + 1 > max_answer_length:
                        continue
                    score = float(starts[s] + ends[e])
                    answer = _span_answer(example, pieces_of, aligner, words[s], numbers[s], words[e], numbers[e],
                                          score)
                    key = (answer.start_char, answer.end_char)
                    if key not in candidates or candidates[key].score < score:
                        candidates[key] = answer
        nbest = sorted(candidates.values(), key=lambda a: -a.score)[:n_best]
        scores = [a.score for a in nbest] + ([null_score] if version_2 and null_score is not None else [])
        if scores:
            weights = np.exp(np.array(scores) - max(scores))
            for answer, probability in zip(nbest, weights / weights.sum()):
                answer.probability = float(probability)
        text = nbest[0].text if nbest else ""
        if version_2 and null_score is not None and (not nbest or null_score - nbest[0].score >
                                                     null_score_diff_threshold):
            text = ""
        predictions[example.qid] = SquadPrediction(example.qid, text, nbest, null_score if version_2 else None)
    return predictions


def _span_answer(example: SquadExample, pieces_of, aligner: _WordAligner, first_word: int, first_piece: int,
                 last_word: int, last_piece: int, score: float) -> SquadAnswer:
    first_text, last_text = example.words[first_word], example.words[last_word]
    start, _ = aligner.char_range(first_text, pieces_of[first_text], first_piece, None)
    _, end = aligner.char_range(last_text, pieces_of[last_text], 0, last_piece)
    start_char = example.word_spans[first_word][0] + start
    end_char = example.word_spans[last_word][0] + end
    return SquadAnswer(example.context[start_char:end_char], start_char, end_char, score)
