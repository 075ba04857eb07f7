"""The People's Daily 1998 reader: documents of segmented sentences that keep every character of the file."""

import re

import pytest

from bert_keras.assets import asset_path
from bert_keras.assets.corpora import peoples_daily_documents


@pytest.fixture(scope="module")
def documents():
    return peoples_daily_documents()


def test_every_character_of_the_file_is_kept_in_order(documents):
    with open(asset_path("chinese_corpus"), encoding="utf-8") as f:
        raw = "".join(re.sub(r"/[A-Za-z]+", "", line) for line in f)
    expected = re.sub(r"\s", "", raw)
    assert "".join(s.replace(" ", "") for d in documents for s in d) == expected
    assert len(expected) == 1_841_657


def test_sentences_end_at_sentence_marks_and_articles_start_at_titles(documents):
    sentences = [s for d in documents for s in d]
    assert len(sentences) == 44_542 and len(documents) > 3000
    inner_final = [s for s in sentences if re.search(r"[。！？] (?![。！？”’』」）)》])", s)]
    assert not inner_final  # no sentence runs on past 。！？
    # The first articles, checked by hand against the file: the New Year speech, then the New Year editorial.
    assert documents[0][0] == "迈向 充满 希望 的 新 世纪 —— 一九九八年 新年 讲话 （ 附 图片 １ 张 ）"
    assert any(d[0] == "在 十五大 精神 指引 下 胜利 前进 —— 元旦 献辞" for d in documents[:3])
