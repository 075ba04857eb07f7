"""TF Serving's REST API (/v1/models/...): request bodies in, (status, JSON payload) out; no HTTP here (see
http_server.py), so the logic is testable without a socket."""

from __future__ import annotations

import logging
import re

from google.protobuf import json_format
from tensorflow_serving.apis.get_model_status_pb2 import ModelVersionStatus

from bert_keras.errors import InputFileError
from bert_keras.json_files import parse_json
from bert_keras.serving.codec import example_from_json, request_inputs, response_body
from bert_keras.serving.errors import invalid, not_found
from bert_keras.serving.inference import DEFAULT_CALL, CallOptions, InferenceService, ModelSpec
from bert_keras.serving.metrics import ServerMetrics
from bert_keras.serving.model_manager import ModelManager

log = logging.getLogger("bert_keras.serving")
MODEL_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
                        r"(?:(?P<metadata>/metadata)|:(?P<verb>[A-Za-z]+))?$")
METRICS_PATH = "/monitoring/prometheus/metrics"
VERBS = ("predict", "classify", "regress")


class RestApi:
    """Request handling shared by the HTTP handler threads."""

    def __init__(self, service: InferenceService, manager: ModelManager, metrics: ServerMetrics,
                 max_body_bytes: int):
        self.service, self.manager, self.metrics = service, manager, metrics
        self.max_body_bytes = max_body_bytes

    def _spec(self, match, body: dict | None = None) -> ModelSpec:
        version = match["version"]
        if version is not None and not version.isdigit():
            raise invalid(f"version {version!r} in the URL is not a number")
        signature = ""
        if body is not None:
            signature = body.get("signature_name", "")
            if not isinstance(signature, str):
                raise invalid("\"signature_name\" must be a string")
        return ModelSpec(match["name"], int(version) if version else None, match["label"], signature)

    def get(self, path: str) -> tuple[int, dict]:
        match = MODEL_PATH.match(path)
        if match is None or match["verb"]:
            raise not_found(f"no such resource: GET {path}; expected /v1/models/NAME[/versions/N|/labels/L]"
                            "[/metadata]")
        spec = self._spec(match)
        if match["metadata"]:
            version, signature_map = self.service.signature_defs(spec)
            return 200, {"model_spec": {"name": spec.name, "signature_name": "", "version": str(version)},
                         "metadata": {"signature_def": json_format.MessageToDict(
                             signature_map, preserving_proto_field_name=True)}}
        states = self.manager.status(spec.name, spec.version, spec.label)
        return 200, {"model_version_status": [
            {"version": str(s.version), "state": ModelVersionStatus.State.Name(s.state),
             "status": {"error_code": "UNKNOWN" if s.error else "OK", "error_message": s.error}} for s in states]}

    def post(self, path: str, body: bytes, options: CallOptions = DEFAULT_CALL) -> tuple[int, dict]:
        match = MODEL_PATH.match(path)
        if match is None or not match["verb"]:
            raise not_found(f"no such resource: POST {path}; expected /v1/models/NAME[/versions/N|/labels/L]:"
                            "predict|classify|regress")
        if match["verb"] not in VERBS:
            raise invalid(f"unknown method :{match['verb']}; expected one of {VERBS}")
        try:
            data = parse_json(body.decode("utf-8"), "the request body", expect=dict)
        except UnicodeDecodeError as error:
            raise invalid(f"the request body is not UTF-8: {error}") from None
        except InputFileError as error:  # "the request body:LINE:COLUMN: not valid JSON: ..." answers 400
            raise invalid(str(error)) from None
        spec = self._spec(match, data)
        if match["verb"] == "predict":
            row_format = False

            def decode(specs: dict) -> dict:  # against the signature of the version that runs the request
                nonlocal row_format
                inputs, row_format = request_inputs(data, sorted(specs))
                return inputs

            _, _, outputs = self.service.predict(spec, decode, options=options)
            return 200, response_body(outputs, row_format)
        examples = data.get("examples")
        if not isinstance(examples, list):
            raise invalid("\"examples\" must be a list of feature objects")
        context = data.get("context")
        serialized = []
        for index, features in enumerate(examples):
            example = example_from_json(features, f"examples[{index}]")
            if context is not None:
                merged = example_from_json(context, "context")
                merged.MergeFrom(example)
                example = merged
            serialized.append(example.SerializeToString())
        if match["verb"] == "classify":
            _, _, results = self.service.classify(spec, serialized, options)
            return 200, {"results": [[[label, score] for label, score in row] for row in results]}
        _, _, values = self.service.regress(spec, serialized, options)
        return 200, {"results": values}
