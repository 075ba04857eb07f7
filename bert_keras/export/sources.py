"""What can be exported: a fine-tuned model directory (any task, or its encoder as "embed") or a pretrained
checkpoint directory (Hugging Face, Google, keras-hub: "embed" only), resolved to its serving signatures."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

from bert_keras.tasks.spec import SPEC_FILE

EXPORT_TASKS = ("classify", "ner", "qa", "embed")
MODEL_CARD_FILE = "model_card.json"
DEFAULT_EMBED_LENGTH = 128
# Export precisions -> the Keras dtype policy the model is rebuilt under. bfloat16 computes the encoder's matrix
# products in bfloat16 (variables, softmax, LayerNorm statistics and the task heads stay float32; outputs are
# float32): about 1.5x the float32 throughput on CPUs with AVX512_BF16 or AMX, emulated (slow) on others.
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
METRICS_FILE = "metrics.json"  # written by `bert-keras finetune` beside OUTPUT_DIR/model


@dataclasses.dataclass
class ExportSource:
    """A model ready to export.

    Attributes:
        task: "classify", "ner", "qa" or "embed".
        signatures: its `TaskSignatures`.
        vocab_path: the vocab.txt the tokenizer was built from (shipped as an asset).
        label_names: label names in id order (None for qa and embed).
        config: the encoder's BertConfig.
        spec: the fine-tuning TaskSpec (None for a checkpoint).
        directory: where it came from.
        source_checkpoint: the pretrained checkpoint it was fine-tuned from (or this checkpoint).
        metrics: the fine-tuning run's metrics.json, if found beside the model directory.
        precision: "float32" or "bfloat16" (see `PRECISIONS`).
    """

    task: str
    signatures: Any
    vocab_path: str
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

    def model_card(self, exported: dict[str, Any]) -> dict[str, Any]:
        """The JSON model card: what this export is, where it came from and how well it did."""
        with open(self.vocab_path, "rb") as f:
            vocab_hash = hashlib.sha256(f.read()).hexdigest()
        return {"task": self.task, "source": os.path.abspath(self.directory),
                "source_checkpoint": self.source_checkpoint, "max_seq_length": self.max_seq_length,
                "lowercase": self.signatures.tokenizer.lowercase, "labels": self.label_names,
                "vocab_size": self.signatures.tokenizer.vocabulary_size, "vocab_sha256": vocab_hash,
                "config": self.config.to_dict(), "task_spec": None if self.spec is None else
                dataclasses.asdict(self.spec), "metrics": self.metrics, "precision": self.precision, **exported}

    def write_model_card(self, directory: str, exported: dict[str, Any]) -> dict[str, Any]:
        """Write `model_card(exported)` as `directory/model_card.json` and return it."""
        from bert_keras.atomic_io import write_text

        card = self.model_card(exported)
        write_text(os.path.join(directory, MODEL_CARD_FILE), json.dumps(card, indent=2) + "\n")
        return card

    def write_labels(self, directory: str) -> str | None:
        """Write the label names as `directory/labels.txt` (None for tasks without labels)."""
        from bert_keras.data.labels import LabelVocabulary

        return None if self.label_names is None else LabelVocabulary(self.label_names).save(directory)


def _read_metrics(model_dir: str) -> dict | None:
    path = os.path.join(os.path.dirname(os.path.abspath(model_dir)), METRICS_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg}); it goes into the model "
                             "card: fix or remove it") from None


def _embedding(encoder, vocab_path: str, lowercase: bool, max_seq_length: int):
    from bert_keras.export.embedding_signatures import EmbeddingSignatures
    from bert_keras.text import BertPreprocessor, BertTokenizer

    preprocessor = BertPreprocessor(BertTokenizer(vocab_path, lowercase=lowercase), sequence_length=max_seq_length,
                                    padding="longest")
    return EmbeddingSignatures(encoder, preprocessor)


def _task_signatures(trained):
    from bert_keras.export.classification_signatures import ClassificationSignatures
    from bert_keras.export.ner_signatures import NerSignatures
    from bert_keras.export.qa_signatures import QuestionAnsweringSignatures

    spec, model = trained.spec, trained.model
    if spec.task == "classify":
        return ClassificationSignatures(model, trained.task.preprocessor(), trained.labels.names, spec.multi_label,
                                        pair=spec.text_pair_column is not None)
    if spec.task == "ner":
        return NerSignatures(model, trained.tokenizer, spec.max_seq_length, trained.labels.names)
    return QuestionAnsweringSignatures(model, trained.tokenizer, spec)


def load_export_source(directory: str, task: str | None = None, max_seq_length: int | None = None,
                       precision: str = "float32") -> ExportSource:
    """The export of `directory`: a fine-tuned model directory (its own task by default, or "embed") or a
    pretrained checkpoint directory ("embed"; `max_seq_length` default 128), its model rebuilt in `precision`
    ("float32" or "bfloat16", see `PRECISIONS`)."""
    from bert_keras.training.run_setup import global_dtype_policy

    if precision not in PRECISIONS:
        raise ValueError(f"export precision {precision!r} is unknown; expected one of {list(PRECISIONS)}")
    with global_dtype_policy(PRECISIONS[precision]):
        source = _load_export_source(directory, task, max_seq_length)
    return dataclasses.replace(source, precision=precision)


def _load_export_source(directory: str, task: str | None, max_seq_length: int | None) -> ExportSource:
    if task is not None and task not in EXPORT_TASKS:
        raise ValueError(f"export task {task!r} is unknown; expected one of {EXPORT_TASKS}")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory}: not a directory")
    if os.path.isfile(os.path.join(directory, SPEC_FILE)):
        from bert_keras.tasks.trained import VOCAB_FILE, load_trained_task

        trained = load_trained_task(directory)
        spec = trained.spec
        if task not in (None, spec.task, "embed"):
            raise ValueError(f"{directory} holds a fine-tuned {spec.task!r} model: export it as {spec.task!r} or "
                             f"'embed' (its encoder), not {task!r}")
        if max_seq_length not in (None, spec.max_seq_length) and task != "embed":
            raise ValueError(f"{directory} was fine-tuned with max_seq_length {spec.max_seq_length}; the export "
                             f"keeps it (got {max_seq_length})")
        vocab_path = os.path.join(directory, VOCAB_FILE)
        encoder = trained.model.encoder
        if task == "embed":
            signatures = _embedding(encoder, vocab_path, spec.lowercase, max_seq_length or spec.max_seq_length)
            labels = None
        else:
            signatures = _task_signatures(trained)
            labels = trained.labels.names if trained.labels is not None else None
        return ExportSource(task or spec.task, signatures, vocab_path, labels, encoder.config, spec, directory,
                            spec.source_checkpoint, _read_metrics(directory))
    if task not in (None, "embed"):
        raise ValueError(f"{directory} is a pretrained checkpoint without a fine-tuned {task!r} head: export it "
                         "with --task embed, or fine-tune it first (`bert-keras finetune`)")
    from bert_keras.checkpoints import load_checkpoint

    loaded = load_checkpoint(directory)
    if loaded.vocab_path is None:
        raise FileNotFoundError(f"{directory}: no vocab.txt; the export needs it for in-graph tokenization")
    signatures = _embedding(loaded.encoder, loaded.vocab_path, loaded.tokenizer_lowercase,
                            max_seq_length or DEFAULT_EMBED_LENGTH)
    return ExportSource("embed", signatures, loaded.vocab_path, None, loaded.config, None, directory,
                        os.path.abspath(directory), None)
