"""Tiny fine-tuned model directories for every export task (random weights, the real MiniLM vocab).

Each is written by `save_trained_task`, the same format `bert-keras finetune` writes, so the exports read them
exactly as they would read a real run.
"""

from __future__ import annotations

import os

from bert_keras.checkpoints.task_spec import TaskSpec
from bert_keras.config import BertConfig
from bert_keras.data.labels import LabelVocabulary
from bert_keras.modeling import BertEncoder
from bert_keras.tasks.registry import save_trained_task, task_class
from bert_keras.text import BertTokenizer

TINY = dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64)
LABELS = {"classify": ["negative", "positive", "neutral"],
          "ner": ["O", "B-location", "B-person", "I-location", "I-person"]}


def tiny_task_dir(root: str, vocab_path: str, task: str, seed: int = 0, **spec_fields) -> str:
    """Write a tiny random `task` model directory under `root` and return its path."""
    import keras

    keras.utils.set_random_seed(seed)
    spec = TaskSpec(task=task, **spec_fields)
    tokenizer = BertTokenizer(vocab_path, lowercase=spec.lowercase)
    labels = LabelVocabulary(LABELS[task]) if task in LABELS else None
    task_object = task_class(task)(spec, tokenizer, labels)
    config = BertConfig.named("tiny", vocab_size=tokenizer.vocabulary_size, **TINY)
    model = task_object.build_model(BertEncoder(config))
    name = "-".join([task] + [f"{k}={v}" for k, v in sorted(spec_fields.items())])
    return save_trained_task(os.path.join(root, name, "model"), model, task_object)
