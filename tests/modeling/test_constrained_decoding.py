"""Constrained decoding: the transitions are exactly the scheme's whole sequences, and the Viterbi search finds the
best whole sequence (checked against brute force over every sequence)."""

import itertools

import numpy as np
import pytest

from bert_keras.data.tag_schemes import SCHEMES
from bert_keras.modeling.constrained_decoding import constrained_label_ids, constrained_sentence_ids, transition_rules

TYPES = ("LOC", "PER")


def _whole(scheme, tags) -> bool:
    """Independent of the transition tables: the strict reading keeps every entity tag (re-encodes to itself)."""
    return scheme.encode(scheme.spans(tags), len(tags)) == list(tags)


def _pairwise(rules, ids) -> bool:
    allowed, first, last = rules
    return bool(first[ids[0]] and last[ids[-1]] and all(allowed[a, b] for a, b in zip(ids, ids[1:])))


@pytest.mark.parametrize("name", list(SCHEMES))
def test_allowed_transitions_accept_exactly_the_sequences_the_strict_rules_keep_whole(name):
    scheme = SCHEMES[name]
    labels = scheme.labels(TYPES)
    rules = transition_rules(labels, scheme)
    longest = 5 if len(labels) <= 5 else 4
    for length in range(1, longest + 1):
        for ids in itertools.product(range(len(labels)), repeat=length):
            tags = [labels[i] for i in ids]
            assert _pairwise(rules, ids) == _whole(scheme, tags), tags


def test_bmes_transitions_by_hand():
    labels = ["O", "B-LOC", "M-LOC", "E-LOC", "S-LOC", "B-PER", "E-PER"]
    allowed, first, last = transition_rules(labels, "BMES")
    index = {n: i for i, n in enumerate(labels)}
    assert allowed[index["B-LOC"], index["M-LOC"]] and allowed[index["M-LOC"], index["E-LOC"]]
    assert not allowed[index["B-LOC"], index["O"]] and not allowed[index["B-LOC"], index["E-PER"]]
    assert allowed[index["E-LOC"], index["B-PER"]] and allowed[index["S-LOC"], index["S-LOC"]]
    assert not allowed[index["O"], index["M-LOC"]] and not allowed[index["O"], index["E-PER"]]
    assert list(first) == [True, True, False, False, True, True, False]
    assert list(last) == [True, False, False, True, True, False, True]


def _brute_force(scheme, labels, log_probs, scored):
    best, best_score = None, -np.inf
    for ids in itertools.product(range(len(labels)), repeat=len(log_probs)):
        if any(not s and labels[i] != "O" for i, s in zip(ids, scored)):
            continue
        if not _whole(scheme, [labels[i] for i in ids]):
            continue
        score = sum(log_probs[t, i] for t, i in enumerate(ids) if scored[t])
        if score > best_score:
            best, best_score = ids, score
    return best, best_score


@pytest.mark.parametrize("name", ["BMES", "IOBES", "IOE2", "BILOU", "IOB2"])
def test_viterbi_finds_the_best_whole_sequence(name):
    scheme = SCHEMES[name]
    labels = scheme.labels(TYPES)
    random = np.random.RandomState(7)
    lengths = np.array([4, 1, 3, 0, 4, 2], np.int32)
    logits = random.randn(len(lengths), 4, len(labels)).astype(np.float32) * 3
    scored = np.ones((len(lengths), 4), bool)
    scored[4, 3] = False  # a word cut by truncation: forced to O
    ids = constrained_label_ids(logits, lengths, labels, scheme, scored).numpy()
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    broken = 0
    for row, length in enumerate(lengths):
        assert (ids[row, length:] == -1).all()
        if length == 0:
            continue
        chosen = ids[row, :length]
        _, best_score = _brute_force(scheme, labels, log_probs[row, :length], scored[row, :length])
        assert _whole(scheme, [labels[i] for i in chosen])
        score = sum(log_probs[row, t, i] for t, i in enumerate(chosen) if scored[row, t])
        assert score == pytest.approx(best_score, abs=1e-4)
        argmax = np.argmax(log_probs[row, :length], -1)
        broken += not _whole(scheme, [labels[i] for i in argmax])
    assert labels[ids[4, 3]] == "O"
    assert broken > 0  # the case matters: some argmax sequences here are not whole


def test_sentences_of_different_lengths_decode_as_they_would_alone():
    labels = SCHEMES["BMES"].labels(TYPES)
    random = np.random.RandomState(3)
    sentences = [random.randn(n, len(labels)).astype(np.float32) for n in (5, 1, 9, 0, 3)]
    masks = [np.ones(len(s), bool) for s in sentences]
    together = constrained_sentence_ids(sentences, masks, labels, "BMES", batch_size=2)
    for sentence, mask, ids in zip(sentences, masks, together):
        alone = constrained_sentence_ids([sentence], [mask], labels, "BMES")[0]
        assert ids.tolist() == alone.tolist() and len(ids) == len(sentence)
