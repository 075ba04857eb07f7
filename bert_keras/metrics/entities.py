"""Entity-level precision / recall / F1 over tag sequences: conlleval's chunk rules (seqeval's default mode) for
IOB tags, or the strict rules of a tag scheme (seqeval's `mode="strict"`; `bert_keras.data.tag_schemes`).

With conlleval's rules an entity starts at B-TYPE, or at I-TYPE when the previous tag is O or of another type;
it goes on over the following I-TYPE tags of the same type. A predicted entity counts as correct only when its
type, start and end all equal a gold entity's.
"""

from __future__ import annotations

from typing import Callable, Sequence

from bert_keras.data.tag_schemes import TagScheme, tag_scheme
from bert_keras.errors import InvalidInputError


def _split(tag: str) -> tuple[str, str]:
    if tag == "O" or "-" not in tag:
        return "O", ""
    prefix, _, kind = tag.partition("-")
    return prefix, kind


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first index, last index) of each entity in one sentence's tags."""
    spans = []
    kind, start = None, 0
    for index, tag in enumerate(list(tags) + ["O"]):
        prefix, tag_kind = _split(tag)
        continues = kind is not None and prefix == "I" and tag_kind == kind
        if kind is not None and not continues:
            spans.append((kind, start, index - 1))
            kind = None
        if prefix in ("B", "I") and not continues:
            kind, start = tag_kind, index
    return spans


def span_decoder(scheme: str | TagScheme | None = None) -> Callable[[Sequence[str]], list[tuple[str, int, int]]]:
    """The function that reads entities from one sentence's tags: `entity_spans` (conlleval's rules) for None,
    else the scheme's strict `TagScheme.spans`."""
    return entity_spans if scheme is None else tag_scheme(scheme).spans


def entity_metrics(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]],
                   scheme: str | TagScheme | None = None) -> dict:
    """Micro precision / recall / F1 over all sentences, and the same per entity type.

    Args:
        gold: gold tags, one list per sentence.
        predicted: predicted tags, same shape.
        scheme: a tag scheme name (IOB1, IOB2, IOE2, IOBES, BMES, BILOU) for its strict decoding; None for
            conlleval's rules over IOB tags.

    Returns:
        {"precision", "recall", "f1", "support" (gold entities), "per_type": {type: {...}}}.
    """
    if len(gold) != len(predicted):
        raise InvalidInputError(f"{len(gold)} gold sentences but {len(predicted)} predicted ones")
    spans_of = span_decoder(scheme)
    counts: dict[str, list[int]] = {}  # type -> [correct, predicted, gold]
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted)):
        if len(gold_tags) != len(predicted_tags):
            raise InvalidInputError(f"sentence {index}: {len(gold_tags)} gold tags but {len(predicted_tags)} "
                                    "predicted")
        gold_spans, predicted_spans = set(spans_of(gold_tags)), set(spans_of(predicted_tags))
        for kind, *_ in gold_spans:
            counts.setdefault(kind, [0, 0, 0])[2] += 1
        for span in predicted_spans:
            entry = counts.setdefault(span[0], [0, 0, 0])
            entry[1] += 1
            entry[0] += span in gold_spans
    totals = [sum(c[i] for c in counts.values()) for i in range(3)]
    result = _scores(*totals)
    result["per_type"] = {kind: _scores(*counts[kind]) for kind in sorted(counts)}
    return result


def _scores(correct: int, predicted: int, gold: int) -> dict:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold}
