"""Entity-level metrics against seqeval 1.2.2 (default, conlleval-compatible mode) and by hand."""

import random

import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities

from bert_keras.metrics import entity_metrics, entity_spans

TYPES = ("PER", "LOC", "ORG")


def _random_tags(rng: random.Random, length: int) -> list[str]:
    """Tag sequences with every irregularity a model can predict: I- after O, type switches inside a run."""
    tags = []
    for _ in range(length):
        roll = rng.random()
        tags.append("O" if roll < 0.5 else f"{'B' if roll < 0.75 else 'I'}-{rng.choice(TYPES)}")
    return tags


def test_spans_by_hand():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-ORG", "B-PER", "B-PER"]
    assert entity_spans(tags) == [("PER", 0, 1), ("LOC", 3, 4), ("LOC", 5, 5), ("ORG", 6, 6), ("PER", 7, 7),
                                  ("PER", 8, 8)]
    assert entity_spans(["O", "O"]) == []
    assert entity_spans(["I-PER"]) == [("PER", 0, 0)]


def test_spans_equal_seqeval_on_random_sequences():
    rng = random.Random(0)
    for _ in range(500):
        tags = _random_tags(rng, rng.randint(1, 12))
        assert sorted(entity_spans(tags)) == sorted((t, s, e) for t, s, e in get_entities(tags)), tags


def test_scores_equal_seqeval_on_random_corpora():
    rng = random.Random(1)
    for _ in range(40):
        lengths = [rng.randint(1, 15) for _ in range(rng.randint(1, 30))]
        gold = [_random_tags(rng, n) for n in lengths]
        predicted = [[t if rng.random() < 0.7 else rng.choice(["O", "B-PER", "I-PER", "I-LOC"]) for t in sentence]
                     for sentence in gold]
        ours = entity_metrics(gold, predicted)
        assert ours["precision"] == pytest.approx(precision_score(gold, predicted), abs=1e-12)
        assert ours["recall"] == pytest.approx(recall_score(gold, predicted), abs=1e-12)
        assert ours["f1"] == pytest.approx(f1_score(gold, predicted), abs=1e-12)
        report = classification_report(gold, predicted, output_dict=True, zero_division=0)
        for kind, scores in ours["per_type"].items():
            assert scores["f1"] == pytest.approx(report[kind]["f1-score"], abs=1e-12)
            assert scores["support"] == report[kind]["support"]


def test_scores_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"]]
    result = entity_metrics(gold, predicted)
    assert (result["precision"], result["recall"], result["f1"]) == (0.5, 0.5, 0.5)
    assert result["per_type"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        entity_metrics([["O", "O"]], [["O"]])


@pytest.mark.parametrize("scheme, seqeval_scheme", [("IOB1", "IOB1"), ("IOB2", "IOB2"), ("IOE2", "IOE2"),
                                                    ("IOBES", "IOBES"), ("BMES", "IOBES"), ("BILOU", "BILOU")])
def test_strict_scores_equal_seqeval_strict_mode(scheme, seqeval_scheme):
    """With a scheme, the metrics equal seqeval's mode="strict" for it (BMES compared as IOBES with M for I)."""
    import seqeval.scheme

    from bert_keras.data.tag_schemes import tag_scheme

    prefixes, rng = tag_scheme(scheme).prefixes, random.Random(scheme)
    for _ in range(20):
        lengths = [rng.randint(1, 12) for _ in range(rng.randint(1, 25))]
        gold = [["O" if rng.random() < 0.4 else f"{rng.choice(prefixes)}-{rng.choice(TYPES)}" for _ in range(n)]
                for n in lengths]
        predicted = [[t if rng.random() < 0.7 else f"{rng.choice(prefixes)}-{rng.choice(TYPES)}" for t in s]
                     for s in gold]
        ours = entity_metrics(gold, predicted, scheme=scheme)

        def as_iobes(corpus):
            return [[("I" + t[1:]) if t.startswith("M-") else t for t in s] for s in corpus]

        reference = dict(mode="strict", scheme=getattr(seqeval.scheme, seqeval_scheme))
        ref_gold, ref_predicted = as_iobes(gold), as_iobes(predicted)
        assert ours["f1"] == pytest.approx(f1_score(ref_gold, ref_predicted, **reference), abs=1e-12)
        assert ours["precision"] == pytest.approx(precision_score(ref_gold, ref_predicted, **reference), abs=1e-12)
        assert ours["recall"] == pytest.approx(recall_score(ref_gold, ref_predicted, **reference), abs=1e-12)
        report = classification_report(ref_gold, ref_predicted, output_dict=True, zero_division=0, **reference)
        for kind, scores in ours["per_type"].items():
            if scores["support"]:
                assert scores["f1"] == pytest.approx(report[kind]["f1-score"], abs=1e-12)
