"""Classification data: CSV / TSV / JSONL files -> texts (one or two segments) and labels -> tf.data batches."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import reprlib
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from bert_keras.data.labels import LabelVocabulary
from bert_keras.errors import InputFileError, InvalidInputError
from bert_keras.json_files import parse_json
from bert_keras.text.corpus import read_utf8, utf8_lines
from bert_keras.text.preprocessor import BertPreprocessor

FORMATS = ("csv", "tsv", "jsonl")
LENGTH_GROUP_BATCHES = 50  # batches per length-sorted chunk when training batches group by length
# What a JSONL text or label name may be: a string, or a number read as its text (as a CSV field would be).
SCALAR_TYPES = (str, int, float)
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


@dataclasses.dataclass
class ClassificationExamples:
    """Examples read from one file.

    Attributes:
        path: the file.
        texts: the first segments.
        text_pairs: the second segments (None for single-segment tasks).
        labels: label names per example (a list of names per example for multi-label), or None if the file
            has no label column and labels were not required.
        lines: the 1-based line on which each example starts (for error messages).
    """

    path: str
    texts: list[str]
    text_pairs: list[str] | None
    labels: list[str] | list[list[str]] | None
    lines: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> "ClassificationExamples":
        pick = lambda values: None if values is None else [values[i] for i in indices]  # noqa: E731
        return ClassificationExamples(self.path, pick(self.texts), pick(self.text_pairs), pick(self.labels),
                                      pick(self.lines))


def detect_format(path: str) -> str:
    """csv / tsv / jsonl from the file extension."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in _EXTENSIONS:
        raise InvalidInputError(f"{path}: cannot tell the format from the extension {extension!r}; expected one of "
                                f"{sorted(_EXTENSIONS)} or an explicit format {FORMATS}")
    return _EXTENSIONS[extension]


def _csv_records(path: str, delimiter: str):
    """(line, {column: value}) per data row; errors name the file and line."""
    with io.StringIO(read_utf8(path), newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise InputFileError(f"{path}: empty file (expected a header row naming the columns)") from None
        except csv.Error as error:
            raise InputFileError(f"{path}:1: malformed header: {error}") from None
        _check_header(header, path)
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise InputFileError(f"{path}:{start}: malformed row: {error}") from None
            if row:
                if len(row) != len(header):
                    raise InputFileError(f"{path}:{start}: row has {len(row)} fields, the header has {len(header)} "
                                         f"({header})")
                yield start, dict(zip(header, row)), header
            start = reader.line_num + 1


def _check_header(header: list[str], path: str) -> None:
    """Refuse a header that names a column twice (a row would silently keep only its last field)."""
    seen = set()
    for name in header:
        if name in seen:
            raise InputFileError(f"{path}:1: column {name!r} appears twice in the header {header}")
        seen.add(name)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, SCALAR_TYPES) and not isinstance(value, bool)


def _jsonl_records(path: str):
    for number, line in enumerate(utf8_lines(path), 1):
        if not line.strip():
            continue
        record = parse_json(line, path, line_offset=number - 1)
        if not isinstance(record, dict):
            raise InputFileError(f"{path}:{number}: expected a JSON object per line, got {type(record).__name__}")
        yield number, record, sorted(record)


def _field(record: dict[str, Any], column: str, path: str, line: int, columns, flag: str):
    if column not in record:
        raise InputFileError(f"{path}:{line}: no column {column!r} ({flag}); the columns are {list(columns)}")
    return record[column]


def _text(record: dict[str, Any], column: str, path: str, line: int, columns, flag: str) -> str:
    """The text in `column` (JSON null: empty); a list, object or boolean is refused naming file and line."""
    value = _field(record, column, path, line, columns, flag)
    if value is None:
        return ""
    if not _is_scalar(value):
        raise InputFileError(f"{path}:{line}: column {column!r} ({flag}) must hold a string, got "
                             f"{type(value).__name__} {reprlib.repr(value)}")
    return str(value)


def read_classification_file(path: str, text_column: str = "text", text_pair_column: str | None = None,
                             label_column: str | None = "label", format: str | None = None,
                             multi_label: bool = False, label_separator: str = ",",
                             require_labels: bool = True) -> ClassificationExamples:
    """Read a classification file.

    CSV and TSV files start with a header row naming the columns; JSONL files hold one object per line. For
    multi-label data a label field holds several names separated by `label_separator` (CSV/TSV) or a JSON list.

    Args:
        path: the file.
        text_column: column of the (first) text.
        text_pair_column: column of the second text for sentence-pair tasks (None: single segment).
        label_column: column of the label (None or absent with `require_labels=False`: unlabelled data).
        format: "csv", "tsv" or "jsonl" (None: from the extension).
        multi_label: each example has a set of labels (possibly empty).
        label_separator: separator of label names in a CSV/TSV multi-label field.
        require_labels: fail when the label column is missing (evaluation and training data).

    Raises:
        InputFileError: empty file, missing column, malformed row or JSON line, empty label; naming file and line.
        InvalidInputError: an unknown format (or extension).
    """
    format = format or detect_format(path)
    if format not in FORMATS:
        raise InvalidInputError(f"format {format!r} is unknown; expected one of {FORMATS}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    records = _jsonl_records(path) if format == "jsonl" else _csv_records(path, "," if format == "csv" else "\t")
    texts, pairs, labels, lines = [], [] if text_pair_column else None, [], []
    has_labels = None
    for line, record, columns in records:
        texts.append(_text(record, text_column, path, line, columns, "text column"))
        if text_pair_column:
            pairs.append(_text(record, text_pair_column, path, line, columns, "text pair column"))
        if has_labels is None:
            has_labels = label_column is not None and label_column in record
            if require_labels and not has_labels:
                _field(record, label_column or "label", path, line, columns, "label column")
        if has_labels:
            value = _field(record, label_column, path, line, columns, "label column")
            labels.append(_parse_label(value, multi_label, label_separator, path, line, label_column))
        lines.append(line)
    if not texts:
        raise InputFileError(f"{path}: no examples (the file has no data rows)")
    return ClassificationExamples(path, texts, pairs, labels if has_labels else None, lines)


def _parse_label(value, multi_label: bool, separator: str, path: str, line: int, column: str):
    if multi_label:
        return _parse_label_names(value, separator, path, line, column)
    if not _is_scalar(value) or not str(value).strip():
        raise InputFileError(f"{path}:{line}: label column {column!r} must hold one label name, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _parse_label_names(value, separator: str, path: str, line: int, column: str) -> list[str]:
    """A multi-label field: a JSON list of names, or names separated by `separator`; empty names dropped."""
    def refuse(what: str) -> InputFileError:
        return InputFileError(f"{path}:{line}: label column {column!r} must hold label names (a list or a string), "
                              f"got {what}")

    if isinstance(value, list):
        for item in value:
            if not _is_scalar(item):
                raise refuse(f"list item {reprlib.repr(item)}")
        names = [str(v).strip() for v in value]
    elif value is None:
        names = []
    elif _is_scalar(value):
        names = [v.strip() for v in str(value).split(separator)]
    else:
        raise refuse(f"{type(value).__name__} {reprlib.repr(value)}")
    return [n for n in names if n]


def label_vocabulary(examples: ClassificationExamples, multi_label: bool = False) -> LabelVocabulary:
    """The labels of training examples, in natural sort order."""
    if examples.labels is None:
        raise InputFileError(f"{examples.path}: has no labels to learn a label set from")
    names = [n for names in examples.labels for n in names] if multi_label else examples.labels
    vocabulary = LabelVocabulary.from_labels(names)
    if not multi_label and len(vocabulary) < 2:
        raise InputFileError(f"{examples.path}: every example has the label {vocabulary.names[0]!r}; a classifier "
                             "needs at least two labels")
    return vocabulary


def label_targets(examples: ClassificationExamples, labels: LabelVocabulary, multi_label: bool = False
                  ) -> np.ndarray:
    """int32 ids `[n]` (or float32 multi-hot `[n, classes]`); an unknown label names its file and line."""
    if examples.labels is None:
        raise InputFileError(f"{examples.path}: has no label column, so it cannot be used for training or evaluation")
    if multi_label:
        targets = np.zeros((len(examples), len(labels)), np.float32)
        for row, (names, line) in enumerate(zip(examples.labels, examples.lines)):
            for name in names:
                targets[row, labels.id(name, f"{examples.path}:{line}")] = 1.0
        return targets
    return np.array([labels.id(name, f"{examples.path}:{line}")
                     for name, line in zip(examples.labels, examples.lines)], np.int32)


def class_weights(targets: np.ndarray, num_classes: int, spec: str | dict[str, float] | None,
                  labels: LabelVocabulary) -> np.ndarray | None:
    """Per-class weights: "balanced" (n / (classes * count), as scikit-learn) or {label: weight}; None: none."""
    if spec is None:
        return None
    if spec == "balanced":
        counts = np.bincount(targets, minlength=num_classes).astype(np.float64)
        return np.where(counts > 0, len(targets) / (num_classes * np.maximum(counts, 1)), 0.0).astype(np.float32)
    if isinstance(spec, str):
        spec = parse_class_weights(spec)
    weights = np.ones(num_classes, np.float32)
    for name, weight in spec.items():
        weights[labels.id(name, "class weights")] = weight
    return weights


def parse_class_weights(text: str) -> dict[str, float] | str:
    """"balanced" or "label=weight,label=weight" -> the spec `class_weights` takes."""
    if text == "balanced":
        return text
    out = {}
    for item in text.split(","):
        name, sep, weight = item.rpartition("=")
        try:
            out[name.strip()] = float(weight)
        except ValueError:
            sep = ""
        if not sep or not name.strip() or out[name.strip()] < 0:
            raise InvalidInputError(f"class weights {text!r}: expected 'balanced' or label=weight pairs separated by "
                                    f"commas (weights >= 0), bad item {item!r}")
    return out


def classification_dataset(examples: ClassificationExamples, preprocessor: BertPreprocessor,
                           targets: np.ndarray | None = None, batch_size: int = 32, shuffle: bool = False,
                           seed: int = 0, sample_weights: np.ndarray | None = None, lengths: np.ndarray | None = None,
                           options: tf.data.Options | None = None) -> tf.data.Dataset:
    """tf.data of (encoder inputs, targets[, sample_weight]) batches, tokenized in the pipeline.

    Each batch is padded to its longest example (pass a `BertPreprocessor` with padding="longest"), so short
    texts cost less. With `shuffle` and token `lengths`, batches group examples of similar length: each pass
    shuffles, sorts chunks of `LENGTH_GROUP_BATCHES` batches by length, cuts them into batches and shuffles
    the batch order, so padding shrinks while every batch stays a random draw of similar-length examples.
    Without `targets` the batches are encoder inputs only (for predict).
    """
    columns: list[Any] = [np.array(examples.texts, dtype=object)]
    if examples.text_pairs is not None:
        columns.append(np.array(examples.text_pairs, dtype=object))
    segments = len(columns)
    if targets is not None:
        columns.append(targets)
        if sample_weights is not None:
            columns.append(np.asarray(sample_weights, np.float32))
    grouped = shuffle and lengths is not None
    if grouped:
        columns.append(np.asarray(lengths, np.int32))
    dataset = tf.data.Dataset.from_tensor_slices(tuple(columns))
    if shuffle:
        dataset = dataset.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    if grouped:
        def sort_chunk(*chunk):
            order = tf.argsort(chunk[-1], stable=True)
            return tuple(tf.gather(column, order) for column in chunk[:-1])

        dataset = dataset.batch(batch_size * LENGTH_GROUP_BATCHES).map(sort_chunk).unbatch()
        dataset = dataset.batch(batch_size).shuffle(LENGTH_GROUP_BATCHES, seed=seed + 1)
    else:
        dataset = dataset.batch(batch_size)

    def encode(*batch):
        features = preprocessor(*batch[:segments])
        rest = batch[segments:]
        return (features, *rest) if rest else features

    dataset = dataset.map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    if options is not None:
        dataset = dataset.with_options(options)
    return dataset.prefetch(tf.data.AUTOTUNE)
