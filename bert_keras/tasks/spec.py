"""TaskSpec: what a fine-tuned model needs besides its weights (task, input columns, lengths), as task.json."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

TASK_NAMES = ("classify", "ner", "qa")
SPEC_FILE = "task.json"
FORMAT_VERSION = 1


@dataclasses.dataclass
class TaskSpec:
    """The task settings saved with a fine-tuned model (task.json) and reused by evaluate, predict and export.

    Attributes:
        task: "classify", "ner" or "qa".
        max_seq_length: longest packed sequence ([CLS]/[SEP] included).
        lowercase: the tokenizer lower-cases (uncased model).
        text_column, text_pair_column, label_column: classification data columns (pair column None: one
            segment).
        tail_tokens: classification of one text: when it is cut, keep its last N tokens too (head + tail).
        multi_label: classification with a set of labels per example.
        label_separator: separator of label names in a CSV/TSV multi-label field.
        doc_stride, max_query_length, max_answer_length, version_2, null_score_diff_threshold: QA settings (the
            first two default to what fits max_seq_length: 64 question pieces, at most about half of it, stride 128).
        source_checkpoint: the checkpoint fine-tuning started from.
    """

    task: str
    max_seq_length: int = 128
    lowercase: bool = True
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    tail_tokens: int = 0
    multi_label: bool = False
    label_separator: str = ","
    doc_stride: int | None = None
    max_query_length: int | None = None
    max_answer_length: int = 30
    version_2: bool = False
    null_score_diff_threshold: float = 0.0
    source_checkpoint: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASK_NAMES:
            raise ValueError(f"task {self.task!r} is unknown; expected one of {TASK_NAMES}")
        if self.max_seq_length < 3:
            raise ValueError(f"max_seq_length must be >= 3, got {self.max_seq_length}")
        if self.task == "qa":
            from bert_keras.modeling.question_answerer import default_window_settings

            self.max_query_length, self.doc_stride = default_window_settings(
                self.max_seq_length, self.max_query_length, self.doc_stride)
        if self.task == "qa" and self.max_query_length + 3 >= self.max_seq_length:
            raise ValueError(f"max_query_length {self.max_query_length} leaves no room for the context in "
                             f"max_seq_length {self.max_seq_length}")
        if not 0 <= self.tail_tokens <= self.max_seq_length - 2:
            raise ValueError(f"tail_tokens must be in [0, max_seq_length - 2 = {self.max_seq_length - 2}], "
                             f"got {self.tail_tokens}")
        if self.task == "qa" and not 0 < self.doc_stride:
            raise ValueError(f"doc_stride must be >= 1, got {self.doc_stride}")

    def save(self, directory: str) -> str:
        from bert_keras.atomic_io import write_text

        path = os.path.join(directory, SPEC_FILE)
        write_text(path, json.dumps({"format_version": FORMAT_VERSION, **dataclasses.asdict(self)}, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory: str) -> "TaskSpec":
        path = os.path.join(directory, SPEC_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{directory}: no {SPEC_FILE}; expected a model directory written by "
                                    "`bert-keras finetune` (OUTPUT_DIR/model)")
        with open(path, encoding="utf-8") as f:
            try:
                data: dict[str, Any] = json.load(f)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
        version = data.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise ValueError(f"{path}: format_version {version!r}, expected {FORMAT_VERSION}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown fields {unknown}")
        return cls(**data)
