"""The Chinese pretraining corpus: raw text from the offline packages, word-segmented, with every held-out text out.

Sources, each a list of documents of sentences whose words are separated by one space (`--segmented-words`):
    peoples_daily   People's Daily, January 1998, in its own (manual) segmentation; articles as documents
    msra_train      the MSRA NER training sentences (text only, no tags), segmented with jieba; ten consecutive
                    sentences make a pseudo-document (the file keeps article order, so neighbours are related)
    sentiment_train the Chinese sentiment training reviews, segmented with jieba; a review is a document

Held out: the MSRA dev and test sentences and the sentiment dev and test reviews of the same seed as
`bert-keras datasets`. A corpus sentence is dropped when, after NFKC and with whitespace removed, it shares any
16-character run with a held-out text or equals one (People's Daily 1998 is also where MSRA's text comes from, so
this removes real overlaps, not just duplicates).
"""

from __future__ import annotations

import json
import logging
import os
import re
import unicodedata
from typing import Callable, Iterable

from bert_keras.assets.corpora import peoples_daily_documents, write_pretraining_corpus
from bert_keras.assets.splits import chinese_sentiment_rows, chinese_sentiment_splits, msra_splits
from bert_keras.atomic_io import atomic_file

OVERLAP_CHARS = 16
MSRA_DOCUMENT_SENTENCES = 10
CORPUS_FILE, STATS_FILE = "corpus.txt", "corpus_stats.json"
JIEBA_REQUIREMENT = "jieba==0.42.1"
_REVIEW_SENTENCE = re.compile(r"(?<=[。！？!?])")


def _normalized(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


class OverlapFilter:
    """Whether a text overlaps any held-out text: a shared `n`-character run, or equality for shorter texts.

    Args:
        held_out: the texts to keep out of a corpus.
        n: the run length (16 characters: long enough that shared runs are copied text, not common phrases).
    """

    def __init__(self, held_out: Iterable[str], n: int = OVERLAP_CHARS):
        self.n = n
        self._grams: set[str] = set()
        self._whole: set[str] = set()
        for text in held_out:
            text = _normalized(text)
            self._whole.add(text)
            self._grams.update(text[i:i + n] for i in range(len(text) - n + 1))

    def overlaps(self, text: str) -> bool:
        text = _normalized(text)
        return text in self._whole or any(text[i:i + self.n] in self._grams for i in range(len(text) - self.n + 1))


def jieba_segmenter() -> Callable[[str], str]:
    """jieba's default (HMM) segmentation as a function text -> words joined by one space."""
    try:
        import jieba
    except ImportError:
        raise ImportError(f"segmenting Chinese text needs jieba: pip install {JIEBA_REQUIREMENT} (or "
                          "pip install 'bert-keras[chinese]')") from None
    jieba.setLogLevel(logging.WARNING)
    return lambda text: " ".join(word for word in jieba.cut(text) if word.strip())


def held_out_texts(seed: int = 0) -> list[str]:
    """The MSRA dev and test sentences and the sentiment dev and test reviews of `bert-keras datasets --seed`."""
    msra = msra_splits(seed=seed)
    rows = chinese_sentiment_rows()
    sentiment = chinese_sentiment_splits(seed)
    return (["".join(s.words) for name in ("dev", "test") for s in msra[name]]
            + [rows[i][0] for name in ("dev", "test") for i in sentiment[name]])


def chinese_pretraining_sources(seed: int = 0, segmenter: Callable[[str], str] | None = None,
                                max_documents: int | None = None) -> dict[str, list[list[str]]]:
    """{source: documents} of the module docstring, before the held-out filter (segmented sentences); with
    `max_documents`, the first that many of each source (quick runs)."""
    segment = segmenter or jieba_segmenter()
    limit = None if max_documents is None else max_documents * MSRA_DOCUMENT_SENTENCES
    msra_train = [segment("".join(s.words)) for s in msra_splits(seed=seed)["train"][:limit]]
    rows = chinese_sentiment_rows()
    reviews = []
    for i in chinese_sentiment_splits(seed)["train"][:max_documents]:
        sentences = [segment(part) for part in _REVIEW_SENTENCE.split(rows[i][0]) if part.strip()]
        reviews.append([s for s in sentences if s])
    return {
        "peoples_daily": peoples_daily_documents()[:max_documents],
        "msra_train": [msra_train[i:i + MSRA_DOCUMENT_SENTENCES]
                       for i in range(0, len(msra_train), MSRA_DOCUMENT_SENTENCES)],
        "sentiment_train": [review for review in reviews if review],
    }


def write_chinese_pretraining_corpus(directory: str, seed: int = 0, segmenter: Callable[[str], str] | None = None,
                                     max_documents: int | None = None) -> dict[str, str]:
    """Write `directory`/corpus.txt (pretraining format, words separated by spaces) and corpus_stats.json
    (documents, sentences and characters kept and sentences dropped per source); returns their paths.
    `max_documents` keeps the first that many documents of each source (quick runs)."""
    overlap = OverlapFilter(held_out_texts(seed))
    documents: list[list[str]] = []
    stats: dict[str, dict[str, int]] = {}
    for source, source_documents in chinese_pretraining_sources(seed, segmenter, max_documents).items():
        counts = stats[source] = {"documents": 0, "sentences": 0, "characters": 0, "dropped_sentences": 0}
        for document in source_documents:
            kept = [s for s in document if not overlap.overlaps(s)]
            counts["dropped_sentences"] += len(document) - len(kept)
            if kept:
                documents.append(kept)
                counts["documents"] += 1
                counts["sentences"] += len(kept)
                counts["characters"] += sum(len(_normalized(s)) for s in kept)
    paths = {"corpus": os.path.join(directory, CORPUS_FILE), "stats": os.path.join(directory, STATS_FILE)}
    with atomic_file(paths["corpus"]) as staging:
        write_pretraining_corpus(staging, documents)
    with atomic_file(paths["stats"]) as staging, open(staging, "w", encoding="utf-8") as f:
        json.dump({"seed": seed, "overlap_chars": OVERLAP_CHARS, "sources": stats}, f, indent=2)
        f.write("\n")
    return paths
