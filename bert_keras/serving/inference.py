"""The requests both APIs serve (predict, classify, regress, metadata), on the model manager and batcher."""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Union

import grpc
import numpy as np
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

from bert_keras.serving.batching import BatchScheduler
from bert_keras.serving.errors import ServingError, expired, invalid
from bert_keras.serving.model_manager import ModelManager
from bert_keras.serving.servable import Servable, Signature
from bert_keras.serving_contract import (
    CLASSIFY_INPUTS,
    CLASSIFY_METHOD,
    CLASSIFY_OUTPUT_CLASSES,
    CLASSIFY_OUTPUT_SCORES,
    DEFAULT_SIGNATURE,
    REGRESS_INPUTS,
    REGRESS_METHOD,
    REGRESS_OUTPUTS,
)


@dataclasses.dataclass
class ModelSpec:
    name: str
    version: int | None = None
    label: str | None = None
    signature_name: str = ""

    @classmethod
    def from_proto(cls, spec: model_pb2.ModelSpec) -> "ModelSpec":
        if not spec.name:
            raise invalid("model_spec.name is empty: name the model to query")
        return cls(spec.name, *version_choice(spec), spec.signature_name)


@dataclasses.dataclass(frozen=True)
class CallOptions:
    """How one request is run.

    Attributes:
        exact_dtypes: refuse inputs whose dtype is not the signature's (gRPC TensorProtos carry one; JSON does not).
        deadline: time.monotonic() seconds after which the request is not run any more (a gRPC deadline).
        is_active: returns False once the caller has gone (a cancelled RPC), so its work is skipped.
    """

    exact_dtypes: bool = False
    deadline: float | None = None
    is_active: Callable[[], bool] | None = None

    def check(self) -> None:
        """DEADLINE_EXCEEDED or CANCELLED if the request must not run."""
        reason = expired(self.deadline, self.is_active)
        if reason is not None:
            raise reason


DEFAULT_CALL = CallOptions()
# A request's inputs, decoded or as a decoder of the signature's {input name: TensorSpec} (see predict).
Inputs = Union[Mapping[str, np.ndarray], Callable[[dict], Mapping[str, np.ndarray]]]


def version_choice(spec: model_pb2.ModelSpec) -> tuple[int | None, str | None]:
    """(version, version label) a ModelSpec proto pins; (None, None) for the latest."""
    kind = spec.WhichOneof("version_choice")
    return (spec.version.value if kind == "version" else None,
            spec.version_label if kind == "version_label" else None)


class InferenceService:
    """Predict / Classify / Regress / metadata on the loaded models.

    Args:
        manager: the `ModelManager`.
        batcher: a `BatchScheduler`, or None to run every request alone.
    """

    def __init__(self, manager: ModelManager, batcher: BatchScheduler | None = None):
        self.manager, self.batcher = manager, batcher

    @property
    def max_batch_size(self) -> int | None:
        """The most examples one request may hold (the batcher's max_batch_size), or None without batching."""
        return None if self.batcher is None else self.batcher.parameters.max_batch_size

    def _run(self, servable: Servable, signature: Signature, inputs: dict[str, np.ndarray],
             output_filter: list[str] | None = None, options: CallOptions = DEFAULT_CALL) -> dict[str, np.ndarray]:
        inputs = servable.check_inputs(signature, inputs, options.exact_dtypes)
        options.check()
        if self.batcher is None:
            return servable.run(signature, inputs, output_filter)
        return self.batcher.submit(servable, signature, inputs, output_filter, options.deadline,
                                   options.is_active).result()

    def predict(self, spec: ModelSpec, inputs: Inputs, output_filter: list[str] | None = None,
                options: CallOptions = DEFAULT_CALL) -> tuple[int, str, dict[str, np.ndarray]]:
        """(version served, signature name, outputs).

        `inputs` is {name: array}, or a function that decodes the request given the signature's
        {input name: TensorSpec}: then the request is decoded against the very version that runs it, resolved once.
        """
        with self.manager.servable(spec.name, spec.version, spec.label) as servable:
            signature = servable.signature(spec.signature_name)
            arrays = inputs(dict(signature.inputs)) if callable(inputs) else inputs
            return servable.version, signature.name, self._run(servable, signature, arrays, output_filter, options)

    def _method_signature(self, servable: Servable, spec: ModelSpec, method: str) -> Signature:
        named = spec.signature_name or DEFAULT_SIGNATURE
        offering = sorted(n for n, s in servable.signatures.items() if s.method_name == method)
        if not offering:
            kind = method.rsplit("/", 1)[-1]
            raise ServingError(grpc.StatusCode.UNIMPLEMENTED,
                               f"model {spec.name} version {servable.version} has no {kind} signature "
                               f"(method {method}); its signatures: {sorted(servable.signatures)}")
        if named not in servable.signatures or servable.signatures[named].method_name != method:
            raise invalid(f"signature {named!r} of model {spec.name} is not a {method} signature; use "
                          f"signature_name one of {offering}")
        return servable.signatures[named]

    def classify(self, spec: ModelSpec, serialized_examples: list[bytes], options: CallOptions = DEFAULT_CALL
                 ) -> tuple[int, str, list[list[tuple[str, float]]]]:
        """(version, signature, per example [(class, score)]) via a tensorflow/serving/classify signature."""
        with self.manager.servable(spec.name, spec.version, spec.label) as servable:
            signature = self._method_signature(servable, spec, CLASSIFY_METHOD)
            inputs = {CLASSIFY_INPUTS: np.array(serialized_examples, dtype=object)}
            outputs = self._run(servable, signature, inputs, options=options)
        scores = outputs.get(CLASSIFY_OUTPUT_SCORES)
        classes = outputs.get(CLASSIFY_OUTPUT_CLASSES)
        results = []
        for i in range(len(serialized_examples)):
            row_scores = scores[i].tolist() if scores is not None else None
            row_classes = [c.decode("utf-8", "replace") for c in classes[i]] if classes is not None else \
                [str(j) for j in range(len(row_scores))]
            results.append(list(zip(row_classes, row_scores if row_scores is not None else [0.0] * len(row_classes))))
        return servable.version, signature.name, results

    def regress(self, spec: ModelSpec, serialized_examples: list[bytes], options: CallOptions = DEFAULT_CALL
                ) -> tuple[int, str, list[float]]:
        with self.manager.servable(spec.name, spec.version, spec.label) as servable:
            signature = self._method_signature(servable, spec, REGRESS_METHOD)
            outputs = self._run(servable, signature, {REGRESS_INPUTS: np.array(serialized_examples, dtype=object)},
                                options=options)
        return servable.version, signature.name, np.asarray(outputs[REGRESS_OUTPUTS]).reshape(-1).tolist()

    def signature_defs(self, spec: ModelSpec) -> tuple[int, get_model_metadata_pb2.SignatureDefMap]:
        """(version, SignatureDefMap proto) of the addressed version, as GetModelMetadata reports it."""
        with self.manager.servable(spec.name, spec.version, spec.label) as servable:
            signature_map = get_model_metadata_pb2.SignatureDefMap()
            for key, value in servable.meta_graph.signature_def.items():
                signature_map.signature_def[key].CopyFrom(value)
            return servable.version, signature_map
