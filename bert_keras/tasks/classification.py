"""Sequence classification: CSV/TSV/JSONL rows (one or two texts) -> BertClassifier -> labels."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from bert_keras.data import classification as data
from bert_keras.data.labels import LabelVocabulary
from bert_keras.errors import InvalidInputError
from bert_keras.metrics import classification_metrics, multi_label_metrics
from bert_keras.metrics.classification import MULTI_LABEL_THRESHOLD
from bert_keras.modeling.classifier import BertClassifier
from bert_keras.modeling.encoder import BertEncoder
from bert_keras.tasks.base import Task, predict_batches, shuffled_split
from bert_keras.text import BertPreprocessor


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class ClassificationTask(Task):
    """Single- or multi-label classification of one text or a text pair (task name "classify").

    Metrics: accuracy, macro precision/recall/F1 and per-class scores (single-label; main metric accuracy), or
    subset accuracy, micro/macro F1 (multi-label, threshold MULTI_LABEL_THRESHOLD = 0.5; main metric micro_f1).
    """

    name = "classify"

    @property
    def main_metric(self) -> str:  # type: ignore[override]
        return "micro_f1" if self.spec.multi_label else "accuracy"

    def read(self, path: str, labelled: bool = True) -> data.ClassificationExamples:
        spec = self.spec
        return data.read_classification_file(
            path, text_column=spec.text_column, text_pair_column=spec.text_pair_column,
            label_column=spec.label_column, multi_label=spec.multi_label, label_separator=spec.label_separator,
            require_labels=labelled)

    def learn_labels(self, examples: data.ClassificationExamples) -> LabelVocabulary:
        self.labels = data.label_vocabulary(examples, self.spec.multi_label)
        return self.labels

    def check_labels(self, examples) -> None:
        self.targets(examples)

    def split(self, examples, held_out_fraction: float, seed: int):
        train, held = shuffled_split(len(examples), held_out_fraction, seed)
        return examples.subset(train), examples.subset(held)

    def size(self, examples) -> int:
        return len(examples)

    def build_model(self, encoder: BertEncoder):
        return BertClassifier(encoder, labels=self.labels.names, multi_label=self.spec.multi_label,
                              pair=self.spec.text_pair_column is not None, preprocessor=self.preprocessor(),
                              pooling=self.spec.pooling or "cls")

    def preprocessor(self, pad_to_multiple_of: int = 1):
        return BertPreprocessor(self.tokenizer, sequence_length=self.spec.max_seq_length, padding="longest",
                                tail_tokens=self.spec.tail_tokens, pad_to_multiple_of=pad_to_multiple_of)

    def token_lengths(self, examples) -> np.ndarray:
        """Tokens per example (both segments), for grouping training batches by length."""
        lengths = self.tokenizer.tokenize(examples.texts).row_lengths().numpy()
        if examples.text_pairs is not None:
            lengths = lengths + self.tokenizer.tokenize(examples.text_pairs).row_lengths().numpy()
        return np.minimum(lengths, self.spec.max_seq_length)

    def targets(self, examples) -> np.ndarray:
        return data.label_targets(examples, self.labels, self.spec.multi_label)

    def dataset(self, examples, batch_size: int, training: bool = False, seed: int = 0, options=None,
                class_weights: np.ndarray | None = None, pad_to_multiple_of: int = 1):
        targets = self.targets(examples) if training else None
        weights = None
        if training and class_weights is not None:
            if self.spec.multi_label:
                raise InvalidInputError("class weights apply to single-label classification only")
            weights = class_weights[targets]
        lengths = self.token_lengths(examples) if training else None
        return data.classification_dataset(examples, self.preprocessor(pad_to_multiple_of), targets,
                                           batch_size=batch_size,
                                           shuffle=training, seed=seed, sample_weights=weights, lengths=lengths,
                                           options=options)

    def logits(self, model: keras.Model, examples, batch_size: int = 32, sort_by_length: bool = True) -> np.ndarray:
        """Logits per example, in the examples' order.

        With `sort_by_length` the examples run in order of token length, so each batch (padded to its longest
        example) holds similar lengths and pays for little padding; the rows come back in the input order.
        """
        if not sort_by_length or len(examples) <= batch_size:
            dataset = data.classification_dataset(examples, self.preprocessor(), batch_size=batch_size)
            return np.concatenate(predict_batches(model, dataset))
        order = np.argsort(self.token_lengths(examples), kind="stable")
        logits = self.logits(model, examples.subset(order), batch_size, sort_by_length=False)
        restored = np.empty_like(logits)
        restored[order] = logits
        return restored

    def evaluate(self, model: keras.Model, examples, batch_size: int = 32) -> dict[str, Any]:
        targets = self.targets(examples)  # checks the labels before paying for predictions
        logits = self.logits(model, examples, batch_size)
        if self.spec.multi_label:
            return multi_label_metrics(targets, (logits > 0).astype(np.float32), self.labels.names)
        return classification_metrics(targets, logits.argmax(-1), self.labels.names)

    def predict(self, model: keras.Model, examples, batch_size: int = 32) -> list[dict[str, Any]]:
        logits = self.logits(model, examples, batch_size)
        names = self.labels.names
        out = []
        if self.spec.multi_label:
            for row in _sigmoid(logits):
                out.append({"labels": [n for n, p in zip(names, row) if p > MULTI_LABEL_THRESHOLD],
                            "probabilities": {n: float(p) for n, p in zip(names, row)}})
        else:
            for row in _softmax(logits):
                out.append({"label": names[int(row.argmax())],
                            "probabilities": {n: float(p) for n, p in zip(names, row)}})
        return out
