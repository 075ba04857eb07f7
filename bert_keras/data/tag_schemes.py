"""Entity tag schemes (IOB1, IOB2, IOE2, IOBES, BMES, BILOU): which tags they allow, how they are detected, how
entities are read from them (seqeval's strict mode), and how entities are written back in any of them.

A tag is `O` or `PREFIX-TYPE`. Each scheme gives its prefixes a role: `begin` opens an entity of several words,
`inside` continues one, `last` closes one, `single` is an entity of one word (IOB1's `B` opens an entity only
right after one of the same type). Entities are decoded by three rules over (previous tag, tag) pairs, the same
rules seqeval 1.2.2 applies in `mode="strict"` (its IOB1 / IOB2 / IOE2 / IOBES / BILOU token classes); BMES is
IOBES with `M` for `I`. Each rule lists (previous prefix, prefix, type relation) triples, where the relation is
"=" (same type), "!" (another type) or "*" (either) and "O" stands for the outside tag (and a sentence's edges).

Decoding: an entity candidate starts at a `starts` pair, extends over `inside` pairs, and is an entity when the
pair after its last word (the sentence's end counts as `O`) is an `ends` pair.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Iterable, Sequence

import numpy as np

from bert_keras.errors import InvalidInputError

OUTSIDE = "O"
RULE_KINDS = ("starts", "inside", "ends")


@dataclasses.dataclass(frozen=True)
class TagScheme:
    """One tag scheme: its prefixes (in label order) and its decoding rules.

    Attributes:
        name: the scheme's name ("IOB2", "BMES", ...).
        prefixes: the entity prefixes it allows, e.g. "BI" ("O" is always allowed).
        begin, inside, last, single: the prefix of each role in `encode` ("" where the scheme has none).
        rules: {"starts" | "inside" | "ends": ((previous prefixes, prefixes, relation), ...)}.
    """

    name: str
    prefixes: str
    begin: str
    inside: str
    last: str
    single: str
    rules: dict

    def labels(self, types: Iterable[str]) -> list[str]:
        """The full tag set for entity `types`: "O", then every prefix of this scheme for each type, prefix-major."""
        types = sorted(set(types))
        return [OUTSIDE] + [f"{p}-{t}" for p in self.prefixes for t in types]

    def allows(self, tag: str) -> bool:
        """Whether `tag` is O or PREFIX-TYPE with a prefix of this scheme and a non-empty type."""
        return tag == OUTSIDE or (len(tag) > 2 and tag[1] == "-" and tag[0] in self.prefixes)

    def rule_table(self, kind: str) -> np.ndarray:
        """bool `[previous prefix, prefix, same type]` for one rule kind; prefix ids index "O" + `prefixes`."""
        letters = OUTSIDE + self.prefixes
        table = np.zeros((len(letters), len(letters), 2), bool)
        for previous, current, relation in self.rules[kind]:
            for a in (a for a in previous if a in letters):
                for b in (b for b in current if b in letters):
                    for same in (0, 1):
                        if relation == "*" or (relation == "=") == bool(same):
                            table[letters.index(a), letters.index(b), same] = True
        return table

    def spans(self, tags: Sequence[str]) -> list[tuple[str, int, int]]:
        """(type, first index, last index) of each entity in one sentence's tags (seqeval strict mode)."""
        split = [_split(t) for t in tags] + [(OUTSIDE, "")]
        tables = self.tables
        letters = OUTSIDE + self.prefixes
        for index, (prefix, _) in enumerate(split[:-1]):
            if prefix != OUTSIDE and prefix not in self.prefixes:
                raise InvalidInputError(f"tag {tags[index]!r} (position {index}) is not a {self.name} tag; its "
                                        f"prefixes are {', '.join(self.prefixes)}")

        def holds(kind: str, at: int) -> bool:
            before = split[at - 1] if at else (OUTSIDE, "")
            return bool(tables[kind][letters.index(before[0]), letters.index(split[at][0]),
                                     int(before[1] == split[at][1])])

        spans, at = [], 0
        while at < len(tags):
            if not holds("starts", at):
                at += 1
                continue
            after = at + 1
            while holds("inside", after):
                after += 1
            if holds("ends", after):
                spans.append((split[at][1], at, after - 1))
            at = after
        return spans

    def encode(self, spans: Iterable[tuple[str, int, int]], length: int) -> list[str]:
        """The tags of `length` words holding the (type, first, last) entity `spans` (non-overlapping)."""
        tags = [OUTSIDE] * length
        previous_end, previous_type = -2, None
        for kind, first, last in sorted(spans, key=lambda s: s[1]):
            if first <= previous_end or not 0 <= first <= last < length:
                raise InvalidInputError(f"entity ({kind}, {first}, {last}) overlaps another or lies outside "
                                        f"{length} words")
            touches_same_type = first == previous_end + 1 and kind == previous_type
            for at in range(first, last + 1):
                tags[at] = f"{self._prefix(at - first, last - first, touches_same_type)}-{kind}"
            previous_end, previous_type = last, kind
        return tags

    @functools.cached_property
    def tables(self) -> dict[str, np.ndarray]:
        """`rule_table` of every rule kind, built on first use."""
        return {kind: self.rule_table(kind) for kind in RULE_KINDS}

    def _prefix(self, offset: int, final: int, touches_same_type: bool) -> str:
        if self.name == "IOB1":  # B only where an entity follows one of its own type
            return "B" if offset == 0 and touches_same_type else "I"
        if final == 0 and self.single:
            return self.single
        if offset == final and self.last:
            return self.last
        if offset == 0 and self.begin:
            return self.begin
        return self.inside


def _split(tag: str) -> tuple[str, str]:
    if tag == OUTSIDE:
        return OUTSIDE, ""
    return tag[0], tag[2:]


def _rules(text: str) -> tuple:
    """'OB>I= BI>E!' -> ((previous prefixes, prefixes, relation), ...)."""
    rules = []
    for item in text.split():
        previous, rest = item.split(">")
        rules.append((previous, rest[:-1], rest[-1]))
    return tuple(rules)


_ANY = "OBIELSUM"  # every prefix letter; a rule's letters outside a scheme's prefixes never match
ANY_PREFIX = _ANY[1:]  # the entity prefixes of all schemes together
_BIO_INSIDE = _rules("BI>I=")
_IOBES_RULES = {"starts": _rules(f"{_ANY}>BS*"), "inside": _rules("BI>IE="), "ends": _rules(f"ES>{_ANY}*")}

SCHEMES: dict[str, TagScheme] = {scheme.name: scheme for scheme in (
    TagScheme("IOB1", "BI", "B", "I", "", "", {
        "starts": _rules("O>I* I>I! B>I* IB>B="), "inside": _BIO_INSIDE,
        "ends": _rules("I>I! I>OB* B>O* B>I! B>B=")}),
    TagScheme("IOB2", "BI", "B", "I", "", "", {
        "starts": _rules(f"{_ANY}>B*"), "inside": _BIO_INSIDE, "ends": _rules("IB>O* IB>I! IB>B*")}),
    TagScheme("IOE2", "IE", "", "I", "E", "E", {
        "starts": _rules("OE>IE* I>IE!"), "inside": _rules("I>IE="), "ends": _rules(f"E>{_ANY}*")}),
    TagScheme("IOBES", "BIES", "B", "I", "E", "S", _IOBES_RULES),
    TagScheme("BMES", "BMES", "B", "M", "E", "S", {
        "starts": _rules(f"{_ANY}>BS*"), "inside": _rules("BM>ME="), "ends": _rules(f"ES>{_ANY}*")}),
    TagScheme("BILOU", "BILU", "B", "I", "L", "U", {
        "starts": _rules(f"{_ANY}>BU*"), "inside": _rules("BI>IL="), "ends": _rules(f"LU>{_ANY}*")}),
)}
# conlleval's chunk rules (seqeval's default mode) over IOB tags as a scheme, so that one decoder (the in-graph
# one of the exported NER signature) serves both: an entity starts at B, or at I after O or another type, goes on
# over I of its type, and is never rejected. Prefixes other than B and I read as O. Not a name `tag_scheme` takes.
CONLLEVAL = TagScheme("conlleval", "BI", "B", "I", "", "", {
    "starts": _rules("OBI>B* O>I* BI>I!"), "inside": _BIO_INSIDE, "ends": _rules(f"{_ANY}>{_ANY}*")})
ALIASES = {"BIO": "IOB2", "BIOES": "IOBES", "IOBES": "IOBES"}
SCHEME_NAMES = tuple(SCHEMES)


CONLLEVAL_SCHEMES = ("IOB1", "IOB2")  # decoded and scored by conlleval's rules, as CoNLL results are published


def decoding_scheme(name: str | TagScheme) -> TagScheme:
    """The rules entities are read by from tags of scheme `name`: `CONLLEVAL` for IOB1 / IOB2, the scheme's own
    strict rules for the others (IOE2, IOBES, BMES, BILOU)."""
    scheme = tag_scheme(name)
    return CONLLEVAL if scheme.name in CONLLEVAL_SCHEMES else scheme


def is_tag(tag: str) -> bool:
    """Whether `tag` is O or PREFIX-TYPE with a prefix of some scheme (B, I, E, L, S, U, M)."""
    return tag == OUTSIDE or (len(tag) > 2 and tag[1] == "-" and tag[0] in ANY_PREFIX)


def tag_scheme(name: str | TagScheme) -> TagScheme:
    """The scheme named `name` (case-insensitive; BIO = IOB2, BIOES = IOBES)."""
    if isinstance(name, TagScheme):
        return name
    key = str(name).upper()
    key = ALIASES.get(key, key)
    if key not in SCHEMES:
        raise InvalidInputError(f"tag scheme {name!r} is unknown; expected one of {', '.join(SCHEME_NAMES)} "
                                "(or BIO, BIOES)")
    return SCHEMES[key]


def detect_scheme(sentences: Iterable[Sequence[str]]) -> TagScheme:
    """The scheme a corpus' tags are written in, from the prefixes it uses.

    M -> BMES; L or U -> BILOU; S, or E with B -> IOBES; E without B -> IOE2; only B and I -> IOB1 when some
    entity opens with I and every B follows a tag of its own type (IOB1's rule), else IOB2.

    Raises:
        InvalidInputError: a tag that is not O or PREFIX-TYPE, or a mix of prefixes no scheme allows.
    """
    used: set[str] = set()
    opens_with_inside = b_opens = False  # I after O / another type; B after O / another type
    for tags in sentences:
        previous_kind = ""
        for tag in tags:
            if not is_tag(tag):
                raise InvalidInputError(f"tag {tag!r} is not O or PREFIX-TYPE with a prefix among B, I, E, S, M, L, U")
            prefix, kind = _split(tag)
            used.add(prefix)
            opens_with_inside |= prefix == "I" and previous_kind != kind
            b_opens |= prefix == "B" and previous_kind != kind
            previous_kind = kind
    used.discard(OUTSIDE)
    candidates = (("BMES", "M"), ("BILOU", "LU"), ("IOE2", "E"), ("IOBES", "ES"), ("IOB2", ""))
    for name, needs_one_of in candidates:
        scheme = SCHEMES[name]
        if used <= set(scheme.prefixes) and (not needs_one_of or used & set(needs_one_of)):
            if name == "IOB2" and opens_with_inside and not b_opens:
                return SCHEMES["IOB1"]
            return scheme
    raise InvalidInputError(f"the tags use the prefixes {sorted(used)}, which no tag scheme "
                            f"({', '.join(SCHEME_NAMES)}) allows together")


def convert_tags(tags: Sequence[str], source: str | TagScheme, target: str | TagScheme) -> list[str]:
    """One sentence's tags from scheme `source` to scheme `target` (its entities, decoded strictly, re-encoded)."""
    return tag_scheme(target).encode(tag_scheme(source).spans(tags), len(tags))

