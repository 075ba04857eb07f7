"""Task: the interface every fine-tuning task implements (data, model, metrics, predictions)."""

from __future__ import annotations

import abc
from typing import Any

import keras
import numpy as np

from bert_keras.checkpoints.task_spec import TaskSpec
from bert_keras.data.labels import LabelVocabulary
from bert_keras.errors import InvalidInputError
from bert_keras.modeling.compiled_calls import inference_function
from bert_keras.modeling.encoder import BertEncoder
from bert_keras.text import BertTokenizer


def predict_batches(model: keras.Model, dataset) -> list[Any]:
    """The model's outputs (numpy) batch by batch, for outputs whose width varies between batches.

    The model is called directly, not through `model.predict`, so every worker of a multi-worker run scores the
    whole evaluation set itself (predict would shard it across workers).
    """
    function = inference_function(model)
    outputs = []
    for batch in dataset:
        inputs = batch[0] if isinstance(batch, tuple) else batch
        result = function(inputs)
        outputs.append({k: np.asarray(v) for k, v in result.items()} if isinstance(result, dict)
                       else np.asarray(result))
    return outputs


class Task(abc.ABC):
    """A fine-tuning task.

    Subclasses set `name` (the task.json / command-line name) and `main_metric` (the evaluation key that early
    stopping and best-checkpoint keeping follow; higher is better) and implement the abstract methods below.

    Args:
        spec: the task settings.
        tokenizer: a `BertTokenizer` for the model's vocab.
        labels: the label names (None for tasks without labels, or before `learn_labels`).
    """

    name = ""
    main_metric = ""

    def __init__(self, spec: TaskSpec, tokenizer: BertTokenizer, labels: LabelVocabulary | None = None):
        self.spec, self.tokenizer, self.labels = spec, tokenizer, labels

    @abc.abstractmethod
    def read(self, path: str, labelled: bool = True) -> Any:
        """Read a data file (labelled: the labels / answers are required)."""

    def learn_labels(self, data: Any) -> LabelVocabulary | None:
        """Set (and return) `self.labels` from training data (tasks without labels: nothing to learn)."""
        return None

    def check_labels(self, data: Any) -> None:
        """Raise, naming file and line, if labelled `data` holds a label the model does not know (tasks whose
        reader already checks everything: nothing to do)."""

    @abc.abstractmethod
    def split(self, data: Any, held_out_fraction: float, seed: int) -> tuple[Any, Any]:
        """(train, held out) parts of `data`, shuffled with `seed`."""

    @abc.abstractmethod
    def size(self, data: Any) -> int:
        """Training examples (rows of the training dataset) in `data`."""

    @abc.abstractmethod
    def build_model(self, encoder: BertEncoder) -> Any:
        """The task model on `encoder`."""

    @abc.abstractmethod
    def dataset(self, data: Any, batch_size: int, training: bool = False, seed: int = 0, options=None,
                class_weights: np.ndarray | None = None, pad_to_multiple_of: int = 1) -> Any:
        """tf.data batches; training: shuffled, with targets (and sample weights). Each batch is padded to its
        longest example, rounded up to a multiple of `pad_to_multiple_of` (few shapes for XLA / TPU)."""

    @abc.abstractmethod
    def evaluate(self, model: keras.Model, data: Any, batch_size: int = 32) -> dict[str, Any]:
        """Task metrics on labelled data (includes `main_metric`)."""

    @abc.abstractmethod
    def predict(self, model: keras.Model, data: Any, batch_size: int = 32) -> list[dict[str, Any]]:
        """One JSON-serialisable prediction per example."""


def shuffled_split(count: int, held_out_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a seeded random split: (train, held out), each in ascending order."""
    if not 0.0 < held_out_fraction < 1.0:
        raise InvalidInputError(f"held-out fraction must be in (0, 1), got {held_out_fraction}")
    held = int(round(count * held_out_fraction))
    if held < 1 or held >= count:
        raise InvalidInputError(f"cannot hold out {held_out_fraction:.0%} of {count} examples (need at least one on "
                                "each side)")
    order = np.random.default_rng(seed).permutation(count)
    return np.sort(order[held:]), np.sort(order[:held])
