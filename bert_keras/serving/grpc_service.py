"""TF Serving's gRPC API (PredictionService, ModelService) over an InferenceService."""

from __future__ import annotations

import functools
import logging
import time

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from bert_keras.serving.codec import declared_bytes, from_tensor_proto, to_tensor_proto
from bert_keras.serving.errors import ServingError, invalid
from bert_keras.serving.inference import CallOptions, InferenceService, ModelSpec, version_choice
from bert_keras.serving.metrics import ServerMetrics
from bert_keras.serving.model_manager import ModelManager
from bert_keras.serving_contract import CLASSIFY_METHOD, REGRESS_METHOD

log = logging.getLogger("bert_keras.serving")
SIGNATURE_DEF_FIELD = "signature_def"
RELOAD_FLAG = "--allow_reload_config"


def _call_options(context, exact_dtypes: bool = False) -> CallOptions:
    """The RPC's deadline and liveness, so queued work for a gone or late caller is skipped."""
    remaining = context.time_remaining()
    deadline = time.monotonic() + remaining if remaining is not None else None
    return CallOptions(exact_dtypes=exact_dtypes, deadline=deadline, is_active=context.is_active)


def _serialized_examples(request_input) -> list[bytes]:
    """Serialized tf.Examples of an Input (example_list, or example_list_with_context merged as TF Serving does)."""
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        return [e.SerializeToString() for e in request_input.example_list.examples]
    if kind == "example_list_with_context":
        context = request_input.example_list_with_context.context
        out = []
        for example in request_input.example_list_with_context.examples:
            merged = type(example)()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            out.append(merged.SerializeToString())
        return out
    raise invalid("Input is empty: set example_list or example_list_with_context")


def _fill_spec(proto_spec, name: str, version: int, signature_name: str) -> None:
    proto_spec.name = name
    proto_spec.version.value = version
    proto_spec.signature_name = signature_name


def _fill_classifications(result, rows: list[list[tuple[str, float]]]) -> None:
    """A ClassificationResult from per-example (label, score) lists (Classify and MultiInference)."""
    for row in rows:
        result.classifications.add().classes.extend(classification_pb2.Class(label=label, score=score)
                                                     for label, score in row)


def _rpc(api: str):
    """Map ServingError to its status code, log the request with its latency and count it in the metrics."""

    def wrap(method):
        @functools.wraps(method)
        def handler(self, request, context):
            start = time.perf_counter()
            model = getattr(getattr(request, "model_spec", None), "name", "") or "-"
            status = "OK"
            try:
                response = method(self, request, context)
                if not context.is_active():
                    status = "CANCELLED"  # the caller left (cancelled or past its deadline) before the answer
                return response
            except ServingError as error:
                status = error.code.name
                context.abort(error.code, error.message)
            except Exception:  # a bug must answer INTERNAL, not hang the client; the detail stays in the log
                status = "INTERNAL"
                log.exception("%s failed", api)
                context.abort(grpc.StatusCode.INTERNAL, f"{api} failed inside the server; the server log has the "
                              "details")
            finally:
                latency = 1000 * (time.perf_counter() - start)
                self.metrics.record_request(f"grpc.{api}", model, status, latency)
                log.info("grpc %s model=%s status=%s latency_ms=%.1f", api, model, status, latency)
        return handler
    return wrap


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """PredictionService; `max_message_bytes` also bounds what a request's tensors may declare."""

    def __init__(self, service: InferenceService, metrics: ServerMetrics, max_message_bytes: int | None = None):
        self.service, self.metrics, self.max_message_bytes = service, metrics, max_message_bytes

    @_rpc("Predict")
    def Predict(self, request, context):
        spec = ModelSpec.from_proto(request.model_spec)

        def decode(specs: dict) -> dict:
            budget = self.max_message_bytes  # what all of the request's tensors may expand to, together
            inputs = {}
            for key, proto in request.inputs.items():
                inputs[key] = from_tensor_proto(key, proto, specs[key].shape if key in specs else None, budget,
                                                self.service.max_batch_size)
                budget = None if budget is None else budget - declared_bytes(proto)
            return inputs

        version, signature, outputs = self.service.predict(spec, decode, list(request.output_filter) or None,
                                                           _call_options(context, exact_dtypes=True))
        response = predict_pb2.PredictResponse()
        _fill_spec(response.model_spec, spec.name, version, signature)
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(to_tensor_proto(value))
        return response

    @_rpc("Classify")
    def Classify(self, request, context):
        spec = ModelSpec.from_proto(request.model_spec)
        version, signature, results = self.service.classify(spec, _serialized_examples(request.input),
                                                            _call_options(context))
        response = classification_pb2.ClassificationResponse()
        _fill_spec(response.model_spec, spec.name, version, signature)
        _fill_classifications(response.result, results)
        return response

    @_rpc("Regress")
    def Regress(self, request, context):
        spec = ModelSpec.from_proto(request.model_spec)
        version, signature, values = self.service.regress(spec, _serialized_examples(request.input),
                                                          _call_options(context))
        response = regression_pb2.RegressionResponse()
        _fill_spec(response.model_spec, spec.name, version, signature)
        response.result.regressions.extend(regression_pb2.Regression(value=v) for v in values)
        return response

    @_rpc("MultiInference")
    def MultiInference(self, request, context):
        if not request.tasks:
            raise invalid("MultiInference needs at least one task")
        names = {task.model_spec.name for task in request.tasks}
        if len(names) != 1:
            raise invalid(f"all MultiInference tasks must address the same model, got {sorted(names)}")
        examples = _serialized_examples(request.input)
        response = inference_pb2.MultiInferenceResponse()
        for task in request.tasks:
            spec = ModelSpec.from_proto(task.model_spec)
            result = response.results.add()
            if task.method_name == CLASSIFY_METHOD:
                version, signature, rows = self.service.classify(spec, examples, _call_options(context))
                _fill_classifications(result.classification_result, rows)
            elif task.method_name == REGRESS_METHOD:
                version, signature, values = self.service.regress(spec, examples, _call_options(context))
                result.regression_result.regressions.extend(regression_pb2.Regression(value=v) for v in values)
            else:
                raise invalid(f"MultiInference method_name must be {CLASSIFY_METHOD} or {REGRESS_METHOD}, got "
                              f"{task.method_name!r}")
            _fill_spec(result.model_spec, spec.name, version, signature)
        return response

    @_rpc("GetModelMetadata")
    def GetModelMetadata(self, request, context):
        spec = ModelSpec.from_proto(request.model_spec)
        fields = list(request.metadata_field)
        if fields != [SIGNATURE_DEF_FIELD]:
            raise invalid(f"metadata_field must be [\"{SIGNATURE_DEF_FIELD}\"] (the only metadata served), "
                          f"got {fields}")
        version, signature_map = self.service.signature_defs(spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _fill_spec(response.model_spec, spec.name, version, "")
        response.model_spec.ClearField("signature_name")
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """ModelService. `allow_reload_config` off (the default) refuses HandleReloadConfigRequest: it lets any client
    that reaches the port repoint models at any directory the server can read."""

    def __init__(self, manager: ModelManager, metrics: ServerMetrics, allow_reload_config: bool = False):
        self.manager, self.metrics, self.allow_reload_config = manager, metrics, allow_reload_config

    @_rpc("GetModelStatus")
    def GetModelStatus(self, request, context):
        states = self.manager.status(request.model_spec.name, *version_choice(request.model_spec))
        response = get_model_status_pb2.GetModelStatusResponse()
        for state in states:
            status = response.model_version_status.add(version=state.version, state=state.state)
            if state.error:
                status.status.error_code = grpc.StatusCode.UNKNOWN.value[0]
                status.status.error_message = state.error
        return response

    @_rpc("HandleReloadConfigRequest")
    def HandleReloadConfigRequest(self, request, context):
        if not self.allow_reload_config:
            raise ServingError(grpc.StatusCode.PERMISSION_DENIED, "reloading the model config over the API is "
                               f"disabled; start the server with {RELOAD_FLAG} to allow it")
        response = model_management_pb2.ReloadConfigResponse()
        try:
            self.manager.reload_config(request.config)
        except ServingError as error:
            response.status.error_code = error.code.value[0]
            response.status.error_message = error.message
        return response
