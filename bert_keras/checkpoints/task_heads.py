"""Task-head weights of Hugging Face BertFor{SequenceClassification,TokenClassification,QuestionAnswering}
checkpoints, into our task models (so a model fine-tuned with transformers runs here unchanged)."""

from __future__ import annotations

from typing import Mapping

import keras
import numpy as np

from bert_keras.errors import CheckpointMismatchError, InvalidInputError

# HF tensor -> (variable path in our model, transpose [out, in] -> Keras [in, out]); per output layer name.
_HEADS = {
    "classifier": {"classifier.weight": ("classifier/kernel", True), "classifier.bias": ("classifier/bias", False)},
    "token_classifier": {"classifier.weight": ("token_classifier/kernel", True),
                         "classifier.bias": ("token_classifier/bias", False)},
    "span_head": {"qa_outputs.weight": ("span_head/dense/kernel", True),
                  "qa_outputs.bias": ("span_head/dense/bias", False)},
}


def assign_task_head(model: keras.Model, head_tensors: Mapping[str, np.ndarray], source: str) -> bool:
    """Load the HF head matching `model` (BertClassifier, BertTokenClassifier or BertQuestionAnswerer) from
    `head_tensors`; False when the checkpoint has none. Shapes are checked before any variable changes."""
    variables = {v.path: v for v in model.weights}
    for names in _HEADS.values():
        if next(iter(names.values()))[0] not in variables:
            continue
        if not any(name in head_tensors for name in names):
            return False
        missing = [name for name in names if name not in head_tensors]
        plan, mismatched = [], []
        for name, (path, transpose) in names.items():
            if name in missing:
                continue
            array = head_tensors[name].T if transpose else head_tensors[name]
            if tuple(array.shape) != tuple(variables[path].shape):
                mismatched.append((name, tuple(variables[path].shape), tuple(array.shape)))
            plan.append((variables[path], array))
        if missing or mismatched:
            raise CheckpointMismatchError(source, missing=missing, mismatched=mismatched)
        for variable, array in plan:
            variable.assign(np.asarray(array, dtype=variable.dtype))
        return True
    raise InvalidInputError(f"{type(model).__name__} has no task head that HF checkpoints provide")
