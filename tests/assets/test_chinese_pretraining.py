"""The Chinese pretraining corpus: real text of three sources, with no dev/test text of the downstream sets in it."""

import csv
import json
import sys
import unicodedata

import pytest

from bert_keras.assets.chinese_pretraining import OverlapFilter, jieba_segmenter, write_chinese_pretraining_corpus
from bert_keras.assets.datasets import write_dataset
from bert_keras.data.conll import read_conll
from bert_keras.text.corpus import read_documents


def _plain(text):
    return "".join(unicodedata.normalize("NFKC", text).split())


def test_overlap_is_a_shared_16_character_run_or_an_equal_short_text():
    held = OverlapFilter(["中华人民共和国国务院总理今天在北京会见了来访的客人", "很好"])
    assert held.overlaps("昨天中华人民共和国国务院总理今天在北京")  # 16 shared characters
    assert not held.overlaps("中华人民共和国国务院总理今天在")  # 15
    assert held.overlaps(" 很 好 ") and not held.overlaps("很好看")  # short texts: equality, spaces ignored
    full_width = OverlapFilter(["１９９８年的第一天，我们在北京迎来了新年"])
    assert full_width.overlaps("1998年的第一天，我们在北京迎来了")  # NFKC


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    # Characters as words keep this test fast (jieba would take half a minute over 3M characters).
    directory = tmp_path_factory.mktemp("zh")
    return write_chinese_pretraining_corpus(str(directory), seed=0, segmenter=" ".join), directory


def test_no_dev_or_test_text_of_the_downstream_sets_is_in_the_corpus(corpus, tmp_path):
    paths, _ = corpus
    msra = write_dataset("msra", str(tmp_path / "msra"), seed=0)
    sentiment = write_dataset("chinese-sentiment", str(tmp_path / "sentiment"), seed=0)
    held = ["".join(s.words) for name in ("dev", "test") for s in read_conll(msra[name])]
    for name in ("dev", "test"):
        with open(sentiment[name], encoding="utf-8", newline="") as f:
            held.extend(row["text"] for row in csv.DictReader(f))
    grams = {t[i:i + 16] for t in map(_plain, held) for i in range(len(t) - 15)}
    whole = set(map(_plain, held))
    documents = read_documents(paths["corpus"])
    lines = [_plain(s) for d in documents for s in d]
    assert not [line for line in lines if line in whole or any(line[i:i + 16] in grams for i in range(len(line) - 15))]
    stats = json.load(open(paths["stats"], encoding="utf-8"))["sources"]
    assert sum(s["documents"] for s in stats.values()) == len(documents)
    assert sum(s["sentences"] for s in stats.values()) == len(lines)
    assert sum(s["characters"] for s in stats.values()) == sum(map(len, lines))
    # People's Daily 1998 is where MSRA's text comes from: real overlaps were found and dropped.
    assert stats["peoples_daily"]["dropped_sentences"] > 100 and stats["peoples_daily"]["documents"] > 3000
    # MSRA train: 50,288 sentences less the 5% dev split, as pseudo-documents of ten.
    msra_train = stats["msra_train"]
    assert msra_train["sentences"] + msra_train["dropped_sentences"] == len(read_conll(msra["train"]))


def test_jieba_segments_words_and_its_absence_is_named(monkeypatch):
    assert jieba_segmenter()("我爱北京天安门") == "我 爱 北京 天安门"
    monkeypatch.setitem(sys.modules, "jieba", None)
    with pytest.raises(ImportError, match=r"pip install jieba==0\.42\.1"):
        jieba_segmenter()
