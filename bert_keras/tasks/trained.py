"""The directory a fine-tuning run writes (OUTPUT_DIR/model): everything needed to rebuild the task model.

    task.json          TaskSpec (task, lengths, columns, source checkpoint)
    config.json        the encoder's BertConfig (Hugging Face layout)
    vocab.txt          the tokenizer's vocab
    labels.txt         label names in id order (classify, ner)
    model.weights.h5   the task model's Keras weights
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from typing import Any

from bert_keras.data.labels import LABELS_FILE, LabelVocabulary
from bert_keras.tasks.spec import TaskSpec

CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.txt"
WEIGHTS_FILE = "model.weights.h5"


def task_class(name: str):
    """The Task class of a task name."""
    from bert_keras.tasks.classification import ClassificationTask
    from bert_keras.tasks.ner import NerTask
    from bert_keras.tasks.qa import QuestionAnsweringTask

    classes = {c.name: c for c in (ClassificationTask, NerTask, QuestionAnsweringTask)}
    if name not in classes:
        raise ValueError(f"task {name!r} is unknown; expected one of {sorted(classes)}")
    return classes[name]


@dataclasses.dataclass
class TrainedTask:
    """A fine-tuned model read back: the Keras `model`, its `task` (data, metrics, predictions) and settings."""

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


def save_trained_task(directory: str, model, task, vocab_path: str) -> str:
    """Write `model` (a task model) and its task settings to `directory` atomically (replacing it)."""
    from bert_keras.atomic_io import atomic_directory

    with atomic_directory(directory, overwrite=True) as staging:
        task.spec.save(staging)
        model.encoder.config.save_hf_json(os.path.join(staging, CONFIG_FILE))
        shutil.copyfile(vocab_path, os.path.join(staging, VOCAB_FILE))
        if task.labels is not None:
            task.labels.save(staging)
        model.save_weights(os.path.join(staging, WEIGHTS_FILE))
    return directory


def load_trained_task(directory: str) -> TrainedTask:
    """Rebuild the task model of a fine-tuned model directory and load its weights."""
    from bert_keras.config import BertConfig
    from bert_keras.modeling import BertEncoder
    from bert_keras.text import BertTokenizer

    spec = TaskSpec.load(directory)
    for name in (CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE):
        if not os.path.isfile(os.path.join(directory, name)):
            raise FileNotFoundError(f"{directory}: {name} is missing")
    labels_path = os.path.join(directory, LABELS_FILE)
    labels = LabelVocabulary.load(labels_path) if os.path.isfile(labels_path) else None
    if spec.task != "qa" and labels is None:
        raise FileNotFoundError(f"{directory}: {LABELS_FILE} is missing (a {spec.task} model needs its labels)")
    tokenizer = BertTokenizer(os.path.join(directory, VOCAB_FILE), lowercase=spec.lowercase)
    task = task_class(spec.task)(spec, tokenizer, labels)
    config = BertConfig.from_json_file(os.path.join(directory, CONFIG_FILE))
    model = task.build_model(BertEncoder(config))
    model.load_weights(os.path.join(directory, WEIGHTS_FILE))
    return TrainedTask(model=model, task=task, directory=directory)
