"""Run an exported TFLite model with LiteRT (ai-edge-litert), tf-text's TFLite kernels registered."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow_text
from ai_edge_litert.interpreter import InterpreterWithCustomOps

from bert_keras.errors import InvalidInputError
from bert_keras.serving_contract import DEFAULT_SIGNATURE


class TfliteModel:
    """A TFLite model's default signature ("serving_default") as a function of numpy arrays.

    Args:
        path: a .tflite file written by `export_tflite`.
        num_threads: interpreter threads (None: LiteRT's default).

    Call with the signature's inputs by name (`token_ids=..., segment_ids=..., padding_mask=...`, or
    `text=[...]` for the text variant): input tensors are resized to the arrays given; returns {name: array}.
    """

    def __init__(self, path: str, num_threads: int | None = None):
        self.path = path
        self.interpreter = InterpreterWithCustomOps(
            model_path=path, num_threads=num_threads,
            custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS)
        self._runner = self.interpreter.get_signature_runner(DEFAULT_SIGNATURE)
        self.input_details = self._runner.get_input_details()
        self.output_names = sorted(self._runner.get_output_details())

    def __call__(self, **inputs: Any) -> dict[str, np.ndarray]:
        expected = set(self.input_details)
        if set(inputs) != expected:
            raise InvalidInputError(f"{self.path}: inputs {sorted(inputs)} given, expected {sorted(expected)}")
        arrays = {}
        for name, value in inputs.items():
            dtype = self.input_details[name]["dtype"]
            arrays[name] = np.asarray(value, dtype=object if dtype == np.bytes_ else dtype)
        return self._runner(**arrays)
