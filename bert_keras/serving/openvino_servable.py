"""OpenVinoServable: one version in the OpenVINO export layout (`bert_keras.export.openvino`), served with the
same API as a SavedModel version.

A request to public signature S runs `S__pre` in the text part's TF1 session (tokenization), the OpenVINO IR on
the encoder inputs that gives, then `S__post` on S's inputs and the model's outputs. Signatures that never run
the model (tokenize) run whole in the session. Checks, errors and metadata are those of `Servable`.
"""

from __future__ import annotations

import logging
import os
import threading

import grpc
import numpy as np
from tensorflow.core.protobuf import meta_graph_pb2

from bert_keras.errors import MissingDependencyError
from bert_keras.json_files import read_json
from bert_keras.serving.errors import ServingError
from bert_keras.serving.input_checks import EncoderLimits
from bert_keras.serving.servable import Servable, Signature
from bert_keras.serving_contract import (
    OPENVINO_MANIFEST,
    OPENVINO_MODEL,
    OPENVINO_POST,
    OPENVINO_PRE,
    OPENVINO_PRECISIONS,
)

log = logging.getLogger("bert_keras.serving")


def _openvino():
    try:
        import openvino
    except ModuleNotFoundError as error:
        raise MissingDependencyError("serving an OpenVINO export needs the openvino package: pip install "
                                     "openvino==2026.4.1") from error
    return openvino


def inference_precision(precision: str, core) -> str:
    """OpenVINO's INFERENCE_PRECISION_HINT for an export's precision; "auto" is bf16 only where the CPU plugin
    reports native bf16 (OPTIMIZATION_CAPABILITIES has "BF16"), else f32."""
    if precision not in OPENVINO_PRECISIONS:
        raise ValueError(f"{OPENVINO_MANIFEST}: inference_precision {precision!r} is unknown; expected one of "
                         f"{list(OPENVINO_PRECISIONS)}")
    hint = OPENVINO_PRECISIONS[precision]
    if hint is None:
        hint = "bf16" if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"
    return hint


class OpenVinoServable(Servable):
    """A loaded OpenVINO export version.

    Args:
        name: the model name.
        version: its version number.
        path: the version directory (with `openvino_signatures.json`).
    """

    def __init__(self, name: str, version: int, path: str):
        manifest = read_json(os.path.join(path, OPENVINO_MANIFEST))  # a broken file is named with its line
        super().__init__(name, version, os.path.join(path, manifest["text_model"]))
        self.path, self.manifest = path, manifest
        parts = self.signatures
        self.signatures, self._parts = {}, {}
        public_defs = {}
        for key, entry in manifest["signatures"].items():
            if not entry["runs_model"]:
                self.signatures[key] = parts[key]
                public_defs[key] = self.meta_graph.signature_def[key]
                continue
            pre, post = parts[key + OPENVINO_PRE], parts[key + OPENVINO_POST]
            self._parts[key] = (pre, post)
            self.signatures[key] = Signature(key, entry["method_name"], pre.inputs, post.outputs, pre.examples)
            public = meta_graph_pb2.SignatureDef(method_name=entry["method_name"])
            for name_, info in self.meta_graph.signature_def[key + OPENVINO_PRE].inputs.items():
                public.inputs[name_].CopyFrom(info)
            for name_, info in self.meta_graph.signature_def[key + OPENVINO_POST].outputs.items():
                public.outputs[name_].CopyFrom(info)
            public_defs[key] = public
        self.meta_graph = meta_graph_pb2.MetaGraphDef()  # what GetModelMetadata shows: the public signatures
        self.meta_graph.meta_info_def.tags.extend(["serve"])
        for key, signature_def in public_defs.items():
            self.meta_graph.signature_def[key].CopyFrom(signature_def)
        self.encoder_limits = EncoderLimits(manifest["vocabulary_size"], manifest["max_position_embeddings"])
        openvino = _openvino()
        core = openvino.Core()
        self.precision_hint = inference_precision(manifest["inference_precision"], core)
        self._compiled = core.compile_model(os.path.join(path, manifest.get("model", OPENVINO_MODEL)), "CPU",
                                            {"INFERENCE_PRECISION_HINT": self.precision_hint})
        self._output_ports = {name_: self._compiled.output(name_) for name_ in manifest["model_outputs"]}
        self._feeds = {name_: entry["input"] for name_, entry in manifest["model_outputs"].items()}
        self._requests = threading.local()  # an InferRequest runs one inference at a time: one per thread
        log.info("model %s version %s: OpenVINO %s inference", name, version, self.precision_hint)

    def _infer(self, model_inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self._compiled.create_infer_request()
        try:
            results = request.infer({k: np.ascontiguousarray(v) for k, v in model_inputs.items()})
        except RuntimeError as error:
            raise ServingError(grpc.StatusCode.INTERNAL, f"model {self.name} version {self.version}: OpenVINO "
                               f"failed to run the model: {str(error).splitlines()[0]}") from None
        # copies: the results are views of the request's buffers, which its next inference overwrites
        return {self._feeds[name]: np.array(results[port]) for name, port in self._output_ports.items()}

    def run(self, signature: Signature, inputs: dict[str, np.ndarray],
            output_filter: list[str] | None = None) -> dict[str, np.ndarray]:
        """Run a public signature: pre (session) -> OpenVINO -> post (session)."""
        if signature.name not in self._parts:
            return super().run(signature, inputs, output_filter)
        pre, post = self._parts[signature.name]
        model_outputs = self._infer(super().run(pre, inputs))
        return super().run(post, {**inputs, **model_outputs}, output_filter)

    def retire(self, timeout: float | None = None) -> None:
        super().retire(timeout)
        if self._users == 0:
            self._compiled = self._output_ports = None
