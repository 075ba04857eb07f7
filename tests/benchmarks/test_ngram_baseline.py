"""The n-gram yardstick: a bag of characters cannot tell texts apart by order, character pairs can."""

import csv
import random

import pytest

from bert_keras.benchmarks.ngram_baseline import ngram_baseline
from bert_keras.errors import InputFileError


def _write(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *rows])
    return str(path)


def _order_split(path, count, rng):
    """The label is the order of 'a' and 'b' at the start; every text has each of them once."""
    rows = []
    for i in range(count):
        filler = "".join(rng.choice("cdefgh") for _ in range(rng.randint(3, 8)))
        rows.append(("ab" + filler, "pos") if i % 2 else ("ba" + filler, "neg"))
    return _write(path, rows)


def test_characters_alone_cannot_read_order_and_pairs_can(tmp_path):
    rng = random.Random(0)
    splits = [_order_split(tmp_path / f"{name}.csv", count, rng) for name, count in
              (("train", 400), ("dev", 100), ("test", 200))]
    scores = ngram_baseline(*splits)
    assert scores["ngram1_test_accuracy"] <= 0.65  # chance: 'a' and 'b' occur once in every text
    assert scores["ngram2_test_accuracy"] == 1.0
    assert scores["ngram2_c"] in (1.0, 4.0, 16.0)


def test_a_file_without_the_label_column_is_named(tmp_path):
    good = _write(tmp_path / "good.csv", [("ab", "pos"), ("ba", "neg")])
    bad = tmp_path / "bad.csv"
    bad.write_text("text,sentiment\nab,pos\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"bad\.csv:1: missing column\(s\) \['label'\]"):
        ngram_baseline(good, good, str(bad))
