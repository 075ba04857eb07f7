"""What can be exported: a task model (in memory, a `.keras` file or a bert-keras model directory), its encoder
as "embed", or a pretrained checkpoint ("embed" only), resolved to its serving signatures."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

import keras

from bert_keras.atomic_io import write_text
from bert_keras.checkpoints.task_directory import METRICS_FILE, is_task_directory, load_task_model, task_name, task_spec
from bert_keras.data.labels import LabelVocabulary
from bert_keras.errors import InvalidInputError
from bert_keras.export.classification_signatures import ClassificationSignatures
from bert_keras.export.embedding_signatures import EmbeddingSignatures
from bert_keras.export.ner_signatures import NerSignatures
from bert_keras.export.qa_signatures import QuestionAnsweringSignatures
from bert_keras.json_files import read_json
from bert_keras.modeling import BertEncoder, BertTextEmbedder
from bert_keras.precision import global_dtype_policy
from bert_keras.text import BertPreprocessor

EXPORT_TASKS = ("classify", "ner", "qa", "embed")
MODEL_CARD_FILE = "model_card.json"
VOCAB_FILE = "vocab.txt"
DEFAULT_EMBED_LENGTH = 128
IN_MEMORY = "<in-memory model>"
# Export precisions -> the Keras dtype policy the model is rebuilt under. bfloat16 computes the encoder's matrix
# products in bfloat16 (variables, softmax, LayerNorm statistics and the task heads stay float32; outputs are
# float32): about 1.5x the float32 throughput on CPUs with AVX512_BF16 or AMX, emulated (slow) on others.
# An export's precision name -> the dtype policy (one of bert_keras.precision.PRECISIONS) its model is built in.
EXPORT_PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


@dataclasses.dataclass
class ExportSource:
    """A model ready to export.

    Attributes:
        task: "classify", "ner", "qa" or "embed".
        signatures: its `TaskSignatures`.
        vocabulary: the tokenizer's tokens in id order (shipped as assets/vocab.txt).
        label_names: label names in id order (None for qa and embed).
        config: the encoder's BertConfig.
        spec: the task settings (TaskSpec; None for embed).
        directory: where it came from (a path, or "<in-memory model>").
        source_checkpoint: the pretrained checkpoint it was fine-tuned from (or this checkpoint), if known.
        metrics: the fine-tuning run's metrics.json, if found beside the model directory.
        precision: "float32" or "bfloat16" (see `EXPORT_PRECISIONS`).
    """

    task: str
    signatures: Any
    vocabulary: list[str]
    label_names: list[str] | None
    config: Any
    spec: Any
    directory: str
    source_checkpoint: str | None
    metrics: dict | None
    precision: str = "float32"

    @property
    def max_seq_length(self) -> int:
        return self.signatures.max_seq_length

    @property
    def model(self):
        return self.signatures.model

    @property
    def vocab_text(self) -> str:
        """vocab.txt's content: one token per line."""
        return "".join(token + "\n" for token in self.vocabulary)

    def write_vocab(self, directory: str) -> str:
        """Write `directory/vocab.txt` and return its path."""
        path = os.path.join(directory, VOCAB_FILE)
        write_text(path, self.vocab_text)
        return path

    def model_card(self, exported: dict[str, Any]) -> dict[str, Any]:
        """The JSON model card: what this export is, where it came from and how well it did."""
        vocab_hash = hashlib.sha256(self.vocab_text.encode("utf-8")).hexdigest()
        source = self.directory if self.directory == IN_MEMORY else os.path.abspath(self.directory)
        return {"task": self.task, "source": source,
                "source_checkpoint": self.source_checkpoint, "max_seq_length": self.max_seq_length,
                "lowercase": self.signatures.tokenizer.lowercase, "labels": self.label_names,
                "vocab_size": self.signatures.tokenizer.vocabulary_size, "vocab_sha256": vocab_hash,
                "config": self.config.to_dict(), "task_spec": None if self.spec is None else
                dataclasses.asdict(self.spec), "metrics": self.metrics, "precision": self.precision, **exported}

    def write_model_card(self, directory: str, exported: dict[str, Any]) -> dict[str, Any]:
        """Write `model_card(exported)` as `directory/model_card.json` and return it."""
        card = self.model_card(exported)
        write_text(os.path.join(directory, MODEL_CARD_FILE), json.dumps(card, indent=2) + "\n")
        return card

    def write_labels(self, directory: str) -> str | None:
        """Write the label names as `directory/labels.txt` (None for tasks without labels)."""
        return None if self.label_names is None else LabelVocabulary(self.label_names).save(directory)


def _read_metrics(model_dir: str) -> dict | None:
    path = os.path.join(os.path.dirname(os.path.abspath(model_dir)), METRICS_FILE)
    if not os.path.isfile(path):
        return None
    return read_json(path)  # it goes into the model card: a broken file is reported, not skipped


def _signatures(model: keras.Model, task: str):
    if task == "classify":
        return ClassificationSignatures(model, model.preprocessor, model.label_names, model.multi_label,
                                        pair=model.pair)
    if task == "ner":
        return NerSignatures(model)
    if task == "qa":
        return QuestionAnsweringSignatures(model)
    return EmbeddingSignatures(model.encoder, model.preprocessor)


def _check_options(task: str | None, precision: str) -> None:
    """Refuse an unknown export task or precision, before any model is loaded or rebuilt."""
    if precision not in EXPORT_PRECISIONS:
        raise InvalidInputError(f"export precision {precision!r} is unknown; expected one of {list(EXPORT_PRECISIONS)}")
    if task is not None and task not in EXPORT_TASKS:
        raise InvalidInputError(f"export task {task!r} is unknown; expected one of {EXPORT_TASKS}")


def _rebuilt(model: keras.Model, precision: str):
    """`model` rebuilt under the precision's dtype policy with the same weights (itself for float32)."""
    if precision == "float32":
        return model
    with global_dtype_policy(EXPORT_PRECISIONS[precision]):
        encoder = BertEncoder(model.encoder.config)
        if isinstance(model, BertTextEmbedder):
            clone = BertTextEmbedder(encoder, preprocessor=model.preprocessor)
        else:
            clone = type(model)(encoder, preprocessor=model.preprocessor, **model.task_config())
    clone.set_weights(model.get_weights())
    return clone


def export_source_from_model(model: keras.Model, task: str | None = None, precision: str = "float32",
                             directory: str = IN_MEMORY, metrics: dict | None = None) -> ExportSource:
    """The export of a task model in memory (its own task by default, or "embed": its encoder with its
    preprocessor); a `BertTextEmbedder` exports as "embed"."""
    _check_options(task, precision)
    own = "embed" if isinstance(model, BertTextEmbedder) else task_name(model)
    if task not in (None, own, "embed"):
        raise InvalidInputError(f"{directory} holds a fine-tuned {own!r} model ({type(model).__name__}): export it as "
                                f"{own!r} or 'embed' (its encoder), not {task!r}")
    task = task or own
    if getattr(model, "preprocessor", None) is None:
        raise InvalidInputError(f"{type(model).__name__} has no preprocessor: the export tokenizes in the graph, so "
                                "build the model with from_preset(...) or pass preprocessor=BertPreprocessor(...)")
    spec = None if own == "embed" else getattr(model, "task_spec", None)
    if spec is None and own != "embed":
        spec = task_spec(model)
    rebuilt = _rebuilt(model, precision)
    labels = None if task in ("qa", "embed") else list(model.label_names)
    return ExportSource(task, _signatures(rebuilt, task), list(model.preprocessor.tokenizer.vocabulary), labels,
                        model.encoder.config, None if task == "embed" else spec, directory,
                        None if spec is None else spec.source_checkpoint, metrics, precision)


def load_export_source(source, task: str | None = None, max_seq_length: int | None = None,
                       precision: str = "float32") -> ExportSource:
    """The export of `source`: a task model (or `BertTextEmbedder`) in memory, a `.keras` file, a bert-keras model
    directory (its own task by default, or "embed"), or a pretrained checkpoint directory / hub name ("embed";
    `max_seq_length` default 128); the model is rebuilt in `precision` ("float32" or "bfloat16")."""
    if isinstance(source, keras.Model):
        return export_source_from_model(source, task, precision)
    _check_options(task, precision)
    path = os.fspath(source)
    if path.endswith(".keras") and os.path.isfile(path):
        return export_source_from_model(keras.models.load_model(path), task, precision, directory=path)
    if is_task_directory(path):
        model = load_task_model(path)
        spec = model.task_spec
        if max_seq_length not in (None, spec.max_seq_length):
            if task != "embed":
                raise InvalidInputError(f"{path} was fine-tuned with max_seq_length {spec.max_seq_length}; the export "
                                        f"keeps it (got {max_seq_length})")
            preprocessor = BertPreprocessor(model.preprocessor.tokenizer, sequence_length=max_seq_length,
                                            padding="longest")
            model = BertTextEmbedder(model.encoder, preprocessor)
        return export_source_from_model(model, task, precision, directory=path, metrics=_read_metrics(path))
    if task not in (None, "embed"):
        raise InvalidInputError(f"{path} is a pretrained checkpoint without a fine-tuned {task!r} head: export it "
                                "with --task embed, or fine-tune it first (`bert-keras finetune`)")
    embedder = BertTextEmbedder.from_preset(path, sequence_length=max_seq_length or DEFAULT_EMBED_LENGTH)
    source_checkpoint = os.path.abspath(path) if os.path.isdir(path) else path
    export = export_source_from_model(embedder, "embed", precision, directory=path)
    return dataclasses.replace(export, source_checkpoint=source_checkpoint)
