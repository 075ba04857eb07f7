"""The task runners by name (`task_class`), and the directory a fine-tuning run writes (OUTPUT_DIR/model) read
back with its runner (`load_trained_task`).

The format is `bert_keras.checkpoints.task_directory` (task.json, config.json, vocab.txt, labels.txt,
model.weights.h5): the same directory `BertClassifier.from_preset(directory)` and friends load.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

from bert_keras.checkpoints.task_directory import load_task_model, save_task_model
from bert_keras.checkpoints.task_spec import TaskSpec
from bert_keras.data.labels import LabelVocabulary
from bert_keras.errors import InvalidInputError
from bert_keras.tasks.base import Task
from bert_keras.tasks.classification import ClassificationTask
from bert_keras.tasks.ner import NerTask
from bert_keras.tasks.qa import QuestionAnsweringTask

# TaskSpec fields a model does not know itself (how its data files are read, where it came from).
DATA_FIELDS = ("text_column", "text_pair_column", "label_column", "label_separator", "tag_scheme",
               "source_checkpoint")


def task_class(name: str) -> type[Task]:
    """The Task runner class of a task name ("classify", "ner", "qa")."""
    classes = {c.name: c for c in (ClassificationTask, NerTask, QuestionAnsweringTask)}
    if name not in classes:
        raise InvalidInputError(f"task {name!r} is unknown; expected one of {sorted(classes)}")
    return classes[name]


@dataclasses.dataclass
class TrainedTask:
    """A fine-tuned model read back: the Keras `model` (preprocessor attached), its `task` runner (data files,
    metrics, predictions) and where it came from."""

    model: Any
    task: Any
    directory: str

    @property
    def spec(self) -> TaskSpec:
        return self.task.spec

    @property
    def labels(self) -> LabelVocabulary | None:
        return self.task.labels

    @property
    def tokenizer(self):
        return self.task.tokenizer


def save_trained_task(directory: str, model: keras.Model, task, overwrite: bool = True) -> str:
    """Write `model` (a task model with its preprocessor) and its task's data settings to `directory`."""
    fields = {name: getattr(task.spec, name) for name in DATA_FIELDS}
    return save_task_model(directory, model, overwrite=overwrite, **fields)


def load_trained_task(directory: str) -> TrainedTask:
    """The task model of a fine-tuned model directory, weights loaded, with its task runner."""
    model = load_task_model(directory)
    labels = LabelVocabulary(model.labels) if getattr(model, "labels", None) is not None else None
    task = task_class(model.task_spec.task)(model.task_spec, model.preprocessor.tokenizer, labels)
    return TrainedTask(model=model, task=task, directory=directory)
