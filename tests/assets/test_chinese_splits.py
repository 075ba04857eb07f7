"""`bert-keras datasets msra` and `chinese-sentiment`: seeded, disjoint splits of the real packages' data."""

import csv

import pytest

from bert_keras.assets import asset_path
from bert_keras.assets.datasets import write_dataset
from bert_keras.assets.splits import chinese_sentiment_rows
from bert_keras.cli import main
from bert_keras.data.conll import read_conll
from bert_keras.text.corpus import utf8_lines


@pytest.fixture(scope="module")
def msra(tmp_path_factory):
    return write_dataset("msra", str(tmp_path_factory.mktemp("msra")), seed=0)


def _texts(path):
    return ["".join(s.words) for s in read_conll(path)]


def test_msra_splits_are_the_official_test_and_a_disjoint_train_dev(msra):
    train, dev, test = (_texts(msra[name]) for name in ("train", "dev", "test"))
    assert len(test) == 5000 and _texts(asset_path("msra_test")) == test
    # 50,289 official training sentences, less the one that is also a test sentence; 5% of them are dev.
    assert len(train) + len(dev) == 50_288 and len(dev) == round(50_288 * 0.05)
    assert not set(test) & (set(train) | set(dev))
    official = {"".join(s.words): s.tags for s in read_conll(asset_path("msra_train"))}
    sentence = read_conll(msra["dev"])[0]
    assert official["".join(sentence.words)] == sentence.tags  # BMES tags kept as they are


def test_chinese_sentiment_rows_are_the_distinct_lines_with_one_label():
    rows = chinese_sentiment_rows()
    pos = {line.strip() for line in utf8_lines(asset_path("chinese_sentiment_pos"))} - {""}
    neg = {line.strip() for line in utf8_lines(asset_path("chinese_sentiment_neg"))} - {""}
    assert (len(pos), len(neg)) == (8379, 9078)  # the distinct lines, counted from the files
    both = pos & neg
    assert {t for t, label in rows if label == 1} == pos - both
    assert {t for t, label in rows if label == 0} == neg - both
    assert len(rows) == len(pos) + len(neg) - 2 * len(both)


def test_chinese_sentiment_cli_writes_80_10_10_disjoint_splits_and_a_seed_reproduces_them(tmp_path, capsys):
    assert main(["datasets", "chinese-sentiment", "--output-dir", str(tmp_path / "a")]) == 0
    assert "test:" in capsys.readouterr().out
    splits = {}
    for name in ("train", "dev", "test"):
        with open(tmp_path / "a" / f"{name}.csv", encoding="utf-8", newline="") as f:
            splits[name] = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    total = len(chinese_sentiment_rows())
    assert sum(map(len, splits.values())) == total and abs(len(splits["test"]) - total / 10) <= 1
    texts = {name: {t for t, _ in rows} for name, rows in splits.items()}
    assert not texts["train"] & texts["test"] and not texts["dev"] & texts["test"]
    assert {label for rows in splits.values() for _, label in rows} == {"neg", "pos"}
    again = write_dataset("chinese-sentiment", str(tmp_path / "b"), seed=0)
    assert open(again["test"], encoding="utf-8").read() == open(tmp_path / "a" / "test.csv", encoding="utf-8").read()
