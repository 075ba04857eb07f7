"""SQuAD v1.1 / v2.0: JSON reader, windowed features over long contexts (doc stride), and their tf.data batches.

Contexts are split on whitespace into words and every word is tokenized on its own, so each WordPiece knows
the word (and character range) it came from; `squad_answers.squad_predictions` maps predicted token spans back
to the exact original text.
"""

from __future__ import annotations

import dataclasses
import os
import unicodedata
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from bert_keras.data.ragged_rows import padded_batches, variable_length_dataset
from bert_keras.data.word_pieces import word_pieces
from bert_keras.errors import InputFileError, InvalidInputError
from bert_keras.json_files import parse_json
from bert_keras.text.corpus import read_utf8
from bert_keras.text.tokenizer import BertTokenizer


def _is_whitespace(char: str) -> bool:
    return char in " \t\r\n" or ord(char) == 0x202F or unicodedata.category(char) == "Zs"


@dataclasses.dataclass
class SquadExample:
    """One question with its context.

    Attributes:
        qid: the question id.
        question: the question text.
        context: the paragraph.
        words: the context split on whitespace.
        word_spans: (start, end) character range of each word in `context`.
        answers: every gold answer text (empty for an unanswerable SQuAD 2.0 question).
        answer_words: (first word, last word) of the first gold answer, None if unanswerable.
    """

    qid: str
    question: str
    context: str
    words: list[str]
    word_spans: list[tuple[int, int]]
    answers: list[str]
    answer_words: tuple[int, int] | None = None


def split_context(context: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Whitespace words of `context` and their character ranges."""
    words, spans, start = [], [], None
    for index, char in enumerate(context + " "):
        if _is_whitespace(char):
            if start is not None:
                words.append(context[start:index])
                spans.append((start, index))
                start = None
        elif start is None:
            start = index
    return words, spans


def _require(mapping: Any, key: str, kind: type | tuple[type, ...], where: str):
    if not isinstance(mapping, dict) or key not in mapping:
        raise InputFileError(f"{where}: missing field {key!r}")
    value = mapping[key]
    if not isinstance(value, kind):
        expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise InputFileError(f"{where}: field {key!r} should be a {expected}, got {type(value).__name__}")
    return value


def squad_example(qid: str, question: str, context: str, answers: list[tuple[str, int]], where: str = ""
                  ) -> SquadExample:
    """A `SquadExample` from gold answers as (text, character start) pairs (none: unanswerable); an answer not
    found at its start raises an InvalidInputError naming `where`."""
    words, spans = split_context(context)
    char_to_word = np.full(len(context) + 1, -1, np.int64)
    for index, (start, end) in enumerate(spans):
        char_to_word[start:end] = index
    texts, answer_words = [], None
    for answer_text, start in answers:
        found = context[start:start + len(answer_text)]
        if start < 0 or found != answer_text or not answer_text.strip():
            raise InvalidInputError(f"{where}: answer {answer_text!r} is not in the context at answer_start {start} "
                                    f"(the context there reads {found!r})")
        texts.append(answer_text)
        if answer_words is None:
            stripped = len(answer_text) - len(answer_text.lstrip())
            first = char_to_word[start + stripped]
            last = char_to_word[start + len(answer_text.rstrip()) - 1]
            answer_words = (int(first), int(last))
    return SquadExample(qid, question, context, words, spans, texts, answer_words)


def read_squad(path: str, require_answers: bool = True) -> tuple[list[SquadExample], str]:
    """Read a SQuAD v1.1 or v2.0 JSON file; returns (examples, version) with version "1.1" or "2.0".

    Without `require_answers` (questions to predict) a question may lack the "answers" field.

    Raises:
        InputFileError: not UTF-8 or not JSON, missing fields, no questions, or an answer whose text is not found
            at its answer_start in the context (naming the file and question id).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    text = read_utf8(path)
    if not text.strip():
        raise InputFileError(f"{path}: empty file (expected SQuAD JSON with a 'data' list)")
    data = parse_json(text, path, expect=dict)
    articles = _require(data, "data", list, path)
    examples, version_2 = [], str(data.get("version", "")).startswith("2")
    for a, article in enumerate(articles):
        for p, paragraph in enumerate(_require(article, "paragraphs", list, f"{path}: data[{a}]")):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            context = _require(paragraph, "context", str, where)
            for q, qa in enumerate(_require(paragraph, "qas", list, where)):
                qid = str(_require(qa, "id", (str, int), f"{where}.qas[{q}]"))
                question = _require(qa, "question", str, f"{path}: question {qid!r}")
                impossible = bool(qa.get("is_impossible", False))
                version_2 = version_2 or "is_impossible" in qa
                if impossible or (not require_answers and "answers" not in qa):
                    answers = []
                else:
                    answers = _require(qa, "answers", list, f"{path}: question {qid!r}")
                spans = [(_require(answer, "text", str, f"{path}: question {qid!r} answer"),
                          _require(answer, "answer_start", int, f"{path}: question {qid!r} answer"))
                         for answer in answers]
                if require_answers and not impossible and not spans:
                    raise InputFileError(f"{path}: question {qid!r} has no answers and is not marked "
                                         "is_impossible")
                try:
                    examples.append(squad_example(qid, question, context, spans, f"{path}: question {qid!r}"))
                except InvalidInputError as error:  # a gold answer of the file: its content is wrong
                    raise InputFileError(str(error)) from None
    if not examples:
        raise InputFileError(f"{path}: no questions")
    return examples, "2.0" if version_2 else "1.1"


@dataclasses.dataclass
class SquadFeatures:
    """Model inputs, one row per window of a context (several windows per long context).

    Attributes:
        example_index: the example each window belongs to.
        token_ids, segment_ids: [CLS] question [SEP] context window [SEP] (segment 1 on the window).
        token_words: context word index of every token (-1 outside the window's context tokens).
        token_pieces: index of every context token among its word's pieces (-1 outside the context).
        max_context: whether this window gives the token its most central position among the windows.
        start_positions, end_positions: answer tokens for training (0 = [CLS]: not in this window / no answer).
        word_pieces: {context word: its WordPiece ids}, for mapping answers back to characters.
    """

    example_index: list[int] = dataclasses.field(default_factory=list)
    token_ids: list[list[int]] = dataclasses.field(default_factory=list)
    segment_ids: list[list[int]] = dataclasses.field(default_factory=list)
    token_words: list[list[int]] = dataclasses.field(default_factory=list)
    token_pieces: list[list[int]] = dataclasses.field(default_factory=list)
    max_context: list[list[bool]] = dataclasses.field(default_factory=list)
    start_positions: list[int] = dataclasses.field(default_factory=list)
    end_positions: list[int] = dataclasses.field(default_factory=list)
    word_pieces: dict[str, list[int]] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.token_ids)


def _best_token_span(piece_words: list[int], pieces: list[int], first_word: int, last_word: int,
                     answer_ids: list[int]) -> tuple[int, int]:
    """The token range of words first..last, tightened to the tokenized answer when it occurs inside it
    (an answer "1895" inside the word "(1895)" should not include the parentheses)."""
    start = piece_words.index(first_word)
    end = len(piece_words) - 1 - piece_words[::-1].index(last_word)
    width = len(answer_ids)
    for new_start in range(start, end + 1):
        for new_end in range(end, new_start - 1, -1):
            if new_end - new_start + 1 == width and pieces[new_start:new_end + 1] == answer_ids:
                return new_start, new_end
    return start, end


def squad_features(examples: Sequence[SquadExample], tokenizer: BertTokenizer, max_seq_length: int = 384,
                   doc_stride: int = 128, max_query_length: int = 64) -> SquadFeatures:
    """Windows of every context that fit `max_seq_length` with the (truncated) question, stepping `doc_stride`."""
    if max_query_length + 3 >= max_seq_length:
        raise InvalidInputError(f"max_query_length {max_query_length} leaves no room for context in max_seq_length "
                                f"{max_seq_length}")
    pieces_of = word_pieces(tokenizer, (w for e in examples for w in e.words))
    questions = tokenizer.tokenize([e.question for e in examples]).to_list() if examples else []
    answers = tokenizer.tokenize([e.answers[0] if e.answers else "" for e in examples]).to_list() \
        if examples else []
    features = SquadFeatures(word_pieces=pieces_of)
    for index, example in enumerate(examples):
        query = questions[index][:max_query_length]
        pieces, piece_words, piece_numbers = [], [], []
        for word_index, word in enumerate(example.words):
            for number, piece in enumerate(pieces_of[word]):
                pieces.append(piece)
                piece_words.append(word_index)
                piece_numbers.append(number)
        answer_span = None
        if example.answer_words is not None and pieces:
            first, last = example.answer_words
            if first in piece_words and last in piece_words:
                answer_span = _best_token_span(piece_words, pieces, first, last, answers[index])
        window = max_seq_length - len(query) - 3
        starts = _window_starts(len(pieces), window, doc_stride)
        for window_start in starts:
            length = min(window, len(pieces) - window_start)
            offset = len(query) + 2
            ids = [tokenizer.cls_id] + query + [tokenizer.sep_id] + pieces[window_start:window_start + length] + \
                [tokenizer.sep_id]
            segments = [0] * offset + [1] * (length + 1)
            words = [-1] * offset + piece_words[window_start:window_start + length] + [-1]
            numbers = [-1] * offset + piece_numbers[window_start:window_start + length] + [-1]
            central = [False] * offset + [_is_max_context(starts, window, len(pieces), window_start, window_start + i)
                                          for i in range(length)] + [False]
            start_position = end_position = 0
            if answer_span and window_start <= answer_span[0] and answer_span[1] < window_start + length:
                start_position = answer_span[0] - window_start + offset
                end_position = answer_span[1] - window_start + offset
            features.example_index.append(index)
            features.token_ids.append(ids)
            features.segment_ids.append(segments)
            features.token_words.append(words)
            features.token_pieces.append(numbers)
            features.max_context.append(central)
            features.start_positions.append(start_position)
            features.end_positions.append(end_position)
    return features


def _window_starts(total: int, window: int, stride: int) -> list[int]:
    """Start of each window: step `stride` (at most a window) until a window reaches the last token."""
    starts = [0]
    while starts[-1] + window < total:
        starts.append(starts[-1] + min(window, stride))
    return starts


def _is_max_context(starts: list[int], window: int, total: int, window_start: int, position: int) -> bool:
    """Whether the window at `window_start` has the most context around `position` (min of left and right
    context, plus a tie-break for longer windows), as BERT's run_squad."""
    best_score, best_start = None, None
    for start in starts:
        length = min(window, total - start)
        if not start <= position < start + length:
            continue
        score = min(position - start, start + length - 1 - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best_start = score, start
    return best_start == window_start


def squad_dataset(features: SquadFeatures, batch_size: int = 32, with_labels: bool = True, shuffle: bool = False,
                  seed: int = 0, options: tf.data.Options | None = None, pad_to_multiple_of: int = 1,
                  max_width: int | None = None) -> tf.data.Dataset:
    """tf.data of (encoder inputs, {"start", "end"}) batches padded to each batch's longest window (rounded up as
    in `padded_batches`)."""
    ids = features.token_ids
    columns = {"token_ids": ids, "segment_ids": features.segment_ids, "padding_mask": [[1] * len(r) for r in ids]}
    fixed = {"start": features.start_positions, "end": features.end_positions} if with_labels else None
    dataset = variable_length_dataset(columns, dict.fromkeys(columns, "int32"), fixed)
    if with_labels:
        inputs = tuple(columns)
        dataset = dataset.map(lambda row: ({k: row[k] for k in inputs}, {"start": row["start"], "end": row["end"]}))
    return padded_batches(dataset, batch_size, shuffle=shuffle, seed=seed, options=options,
                          pad_to_multiple_of=pad_to_multiple_of, max_width=max_width)
