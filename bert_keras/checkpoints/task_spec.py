"""The task settings of a fine-tuned model: declared once in `TaskSettings`, saved as task.json by `TaskSpec`.

`TaskSettings` holds what a task model needs besides its weights and what reading its data files needs (task,
lengths, label mode, QA windows, data columns). `TaskSpec` adds casing and provenance and is the task.json of a
model directory; `bert_keras.training.FinetuningConfig` extends the same base with the run's own settings, so a
new task option is one field here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing

from bert_keras.atomic_io import write_text
from bert_keras.data.tag_schemes import tag_scheme
from bert_keras.data.word_splits import check_word_split
from bert_keras.errors import InputFileError, InvalidInputError
from bert_keras.json_files import read_json

TASK_NAMES = ("classify", "ner", "qa")
# How a classifier reads one vector from the encoder: "cls", the pooler (tanh dense) on [CLS], as BERT's
# run_classifier; "mean", the mean of the token vectors over the padding mask (sentence-transformers' pooling),
# which leaves out the pooler that BERT pretraining trains for next-sentence prediction only.
POOLINGS = ("cls", "mean")
SPEC_FILE = "task.json"
FORMAT_VERSION = 1
# run_squad's defaults: question pieces kept, step between context windows, longest answer in pieces.
DEFAULT_MAX_QUERY_LENGTH, DEFAULT_DOC_STRIDE, DEFAULT_MAX_ANSWER_LENGTH = 64, 128, 30


def check_pooling(pooling: str) -> None:
    """Raise unless `pooling` is one of POOLINGS."""
    if pooling not in POOLINGS:
        raise InvalidInputError(f"pooling {pooling!r} is unknown; expected one of {POOLINGS}")


def default_window_settings(sequence_length: int, max_query_length: int | None = None,
                            doc_stride: int | None = None) -> tuple[int, int]:
    """(max_query_length, doc_stride) with the unset ones defaulted to what fits `sequence_length`: run_squad's 64
    question pieces (at most about half the sequence) and a stride of 128 (at most one window)."""
    if max_query_length is None:
        max_query_length = min(DEFAULT_MAX_QUERY_LENGTH, max(1, sequence_length // 2))
    if max_query_length + 3 >= sequence_length:
        raise InvalidInputError(f"max_query_length {max_query_length} leaves no room for the context in a "
                                f"sequence of {sequence_length} ([CLS] question [SEP] context [SEP])")
    if doc_stride is None:
        doc_stride = min(DEFAULT_DOC_STRIDE, sequence_length - max_query_length - 3)
    return max_query_length, doc_stride


@dataclasses.dataclass
class TaskSettings:
    """Settings shared by a fine-tuning run and the model directory it writes.

    Attributes:
        task: "classify", "ner" or "qa".
        max_seq_length: longest packed sequence ([CLS]/[SEP] included).
        text_column, text_pair_column, label_column: classification data columns (pair column None: one
            segment).
        tail_tokens: classification of one text: when it is cut, keep its last N tokens too (head + tail).
        multi_label: classification with a set of labels per example.
        label_separator: separator of label names in a CSV/TSV multi-label field.
        pooling: classification: "cls" or "mean" (see `BertClassifier`); None: "cls".
        tag_scheme: NER: the tag scheme of the CoNLL files (IOB1, IOB2/BIO, IOE2, IOBES/BIOES, BMES, BILOU);
            None detects it from the training tags.
        word_split: NER: how the exported model splits raw text into words, "bert" or "characters" (see
            `BertTokenClassifier`); None: "characters" when every training word is one character (MSRA), else "bert".
        constrained_decoding: NER: tags chosen per sentence by Viterbi over the scheme's transitions (see
            `BertTokenClassifier`); None: on for the strict schemes (IOE2, IOBES, BMES, BILOU), off for IOB1/IOB2.
        doc_stride, max_query_length, max_answer_length, version_2, null_score_diff_threshold: QA settings (the
            first two default to what fits max_seq_length: 64 question pieces, at most about half of it, stride 128).
    """

    task: str
    _: dataclasses.KW_ONLY  # the rest by name: subclasses add fields without defaults
    max_seq_length: int = 128
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    tail_tokens: int = 0
    multi_label: bool = False
    label_separator: str = ","
    pooling: str | None = None
    tag_scheme: str | None = None
    word_split: str | None = None
    constrained_decoding: bool | None = None
    doc_stride: int | None = None
    max_query_length: int | None = None
    max_answer_length: int = DEFAULT_MAX_ANSWER_LENGTH
    version_2: bool = False
    null_score_diff_threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.task not in TASK_NAMES:
            raise InvalidInputError(f"task {self.task!r} is unknown; expected one of {TASK_NAMES}")
        if self.max_seq_length < 3:
            raise InvalidInputError(f"max_seq_length must be >= 3, got {self.max_seq_length}")
        if self.pooling is not None:
            if self.task != "classify":
                raise InvalidInputError(f"pooling is a setting of the classify task, not of {self.task!r}")
            check_pooling(self.pooling)
        if self.tag_scheme is not None:
            if self.task != "ner":
                raise InvalidInputError(f"tag_scheme is a setting of the ner task, not of {self.task!r}")
            self.tag_scheme = tag_scheme(self.tag_scheme).name  # the canonical name (BIO -> IOB2); checks it
        if self.word_split is not None:
            if self.task != "ner":
                raise InvalidInputError(f"word_split is a setting of the ner task, not of {self.task!r}")
            check_word_split(self.word_split)
        if self.constrained_decoding is not None and self.task != "ner":
            raise InvalidInputError(f"constrained_decoding is a setting of the ner task, not of {self.task!r}")
        if self.task == "qa":
            self.max_query_length, self.doc_stride = default_window_settings(
                self.max_seq_length, self.max_query_length, self.doc_stride)
            if not 0 < self.doc_stride:
                raise InvalidInputError(f"doc_stride must be >= 1, got {self.doc_stride}")
        if not 0 <= self.tail_tokens <= self.max_seq_length - 2:
            raise InvalidInputError(f"tail_tokens must be in [0, max_seq_length - 2 = {self.max_seq_length - 2}], "
                                    f"got {self.tail_tokens}")

    @classmethod
    def shared_fields(cls, source: object) -> dict:
        """This class' fields read from any object that has them (e.g. a FinetuningConfig -> a TaskSpec)."""
        return {f.name: getattr(source, f.name) for f in dataclasses.fields(TaskSettings)}


@dataclasses.dataclass
class TaskSpec(TaskSettings):
    """The task settings saved with a fine-tuned model (task.json) and reused by evaluate, predict and export.

    Attributes (besides `TaskSettings`'):
        lowercase: the tokenizer lower-cases (uncased model).
        source_checkpoint: the checkpoint fine-tuning started from.
    """

    lowercase: bool = True
    source_checkpoint: str | None = None

    def save(self, directory: str) -> str:
        path = os.path.join(directory, SPEC_FILE)
        write_text(path, json.dumps({"format_version": FORMAT_VERSION, **dataclasses.asdict(self)}, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory: str) -> "TaskSpec":
        path = os.path.join(directory, SPEC_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{directory}: no {SPEC_FILE}; expected a model directory written by "
                                    "`bert-keras finetune` (OUTPUT_DIR/model)")
        data = read_json(path)
        version = data.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise InputFileError(f"{path}: format_version {version!r}, expected {FORMAT_VERSION}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputFileError(f"{path}: unknown fields {unknown}")
        _check_field_types(cls, data, path)
        try:
            return cls(**data)
        except InvalidInputError as error:
            raise InputFileError(f"{path}: {error}") from None


def _check_field_types(cls: type, data: dict, path: str) -> None:
    """Refuse a task.json value of the wrong JSON type, naming the file and field (an int is a valid float)."""
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        allowed = typing.get_args(hints[name]) or (hints[name],)
        if float in allowed:
            allowed += (int,)
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            expected = " or ".join("null" if kind is type(None) else kind.__name__ for kind in allowed)
            raise InputFileError(f"{path}: field {name!r} holds {type(value).__name__} {value!r}, expected {expected}")
