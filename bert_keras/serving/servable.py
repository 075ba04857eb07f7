"""Servable: one version of a SavedModel, loaded as TF Serving loads it (SavedModelBundle).

A TF1 session loads the "serve" MetaGraph; requests feed and fetch the SignatureDef's tensor names. This is the
path TF Serving takes, so an export that works only through tf.saved_model.load fails here too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import threading

import grpc
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tf-text ops exports use; TF Serving >= 2.12 links them)
from tensorflow.python.util import deprecation

from bert_keras.serving.errors import ServingError, invalid
from bert_keras.serving.input_checks import ExampleFeatures, encoder_limits, example_features
from bert_keras.serving_contract import DEFAULT_SIGNATURE, SERVE_TAG

log = logging.getLogger("bert_keras.serving")
# Lines of a TensorFlow runtime error that locate it in the graph or the server, not in the request.
_INTERNAL_LINES = re.compile(r"^\s*(Graph execution error:|Detected at node|\[\[\{\{node |Node:|Original stack trace|"
                             r"Stack trace for op|File \")")
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:'\"]+/)+([^\s/:'\"]+)")
# TensorFlow's error codes are gRPC's (tensorflow/core/protobuf/error_codes.proto).
_STATUS_BY_CODE = {code.value[0]: code for code in grpc.StatusCode}


def graph_error_message(message: str) -> str:
    """TensorFlow's reason for a failed run, without graph node names, stack traces or absolute paths."""
    kept = [line.strip() for line in message.splitlines() if line.strip() and not _INTERNAL_LINES.match(line)]
    return _ABSOLUTE_PATH.sub(r"\1", "; ".join(kept)) or "the model failed to run the request"


def graph_error(name: str, version: int, error: tf.errors.OpError) -> ServingError:
    """A failed session run as TF Serving reports it: TensorFlow's status code and its trimmed reason."""
    code = _STATUS_BY_CODE.get(error.error_code, grpc.StatusCode.INTERNAL)
    return ServingError(code, f"model {name} version {version}: {graph_error_message(error.message)}")


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """A signature input or output: graph tensor name, numpy dtype, shape (None = any size)."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...] | None


@dataclasses.dataclass(frozen=True)
class Signature:
    name: str
    method_name: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    examples: ExampleFeatures | None = None  # what its single string input must hold, if it parses tf.Examples


@contextlib.contextmanager
def _quiet_deprecation():
    """Hide the "loader.load is deprecated" warning: the TF1 loader is used on purpose (TF Serving's path)."""
    previous = deprecation._PRINT_DEPRECATION_WARNINGS
    deprecation._PRINT_DEPRECATION_WARNINGS = False
    try:
        yield
    finally:
        deprecation._PRINT_DEPRECATION_WARNINGS = previous


def _spec(tensor_info) -> TensorSpec:
    dtype = tf.dtypes.as_dtype(tensor_info.dtype)
    shape = None if tensor_info.tensor_shape.unknown_rank else tuple(
        None if d.size < 0 else d.size for d in tensor_info.tensor_shape.dim)
    return TensorSpec(tensor_info.name, np.dtype(object) if dtype == tf.string else np.dtype(dtype.as_numpy_dtype),
                      shape)


class Servable:
    """A loaded model version.

    Args:
        name: the model name.
        version: its version number.
        path: the version directory (a SavedModel).
    """

    def __init__(self, name: str, version: int, path: str):
        self.name, self.version, self.path = name, version, path
        self._graph = tf.Graph()
        self._session = tf.compat.v1.Session(graph=self._graph)
        with _quiet_deprecation():
            meta_graph = tf.compat.v1.saved_model.loader.load(self._session, [SERVE_TAG], path)
        self.meta_graph = meta_graph
        self.signatures = {key: self._signature(key, sig) for key, sig in meta_graph.signature_def.items()
                           if not key.startswith("__")}
        self.encoder_limits = encoder_limits(self._graph)
        self._users = 0
        self._retired = False
        self._idle = threading.Condition()

    def _signature(self, key: str, signature_def) -> Signature:
        inputs = {k: _spec(v) for k, v in signature_def.inputs.items()}
        outputs = {k: _spec(v) for k, v in signature_def.outputs.items()}
        examples = None
        if len(inputs) == 1 and next(iter(inputs.values())).dtype == object and outputs:
            examples = example_features(self.meta_graph, self._graph, next(iter(outputs.values())).name)
        return Signature(key, signature_def.method_name, inputs, outputs, examples)

    def signature(self, name: str | None) -> Signature:
        """The named signature (default serving_default); INVALID_ARGUMENT naming the model's signatures if absent."""
        name = name or DEFAULT_SIGNATURE
        if name not in self.signatures:
            raise invalid(f"Serving signature name: \"{name}\" not found in signature def; model {self.name} "
                          f"version {self.version} has {sorted(self.signatures)}")
        return self.signatures[name]

    def check_inputs(self, signature: Signature, inputs: dict[str, np.ndarray],
                     exact_dtypes: bool = False) -> dict[str, np.ndarray]:
        """The inputs converted to the signature's dtypes and checked against its shapes.

        `exact_dtypes` (gRPC: a TensorProto names its dtype) refuses any dtype but the signature's, as TF Serving
        does; JSON numbers have no dtype, so REST inputs are converted when their values fit.
        """
        missing = sorted(set(signature.inputs) - set(inputs))
        extra = sorted(set(inputs) - set(signature.inputs))
        if missing or extra:
            raise invalid(f"signature {signature.name!r} of model {self.name} takes inputs {sorted(signature.inputs)};"
                          f" missing {missing}, unexpected {extra}")
        checked = {}
        batch = None
        for key, value in inputs.items():
            spec = signature.inputs[key]
            array = np.asarray(value)
            if array.size == 0:  # an empty batch has no values to type (JSON [] reads as float)
                array = np.zeros(array.shape, dtype=spec.dtype)
            if exact_dtypes and array.size and array.dtype != spec.dtype and not (
                    spec.dtype == object and array.dtype.kind in "OS"):
                raise invalid(f"input {key!r} expects {_dtype_name(spec.dtype)} but {_dtype_name(array.dtype)} "
                              "is provided")
            if spec.dtype == object:
                if array.dtype.kind not in "OSU":
                    raise invalid(f"input {key!r} expects strings (DT_STRING), got {array.dtype}")
                array = np.vectorize(lambda v: v.encode("utf-8") if isinstance(v, str) else v,
                                     otypes=[object])(array) if array.size else array.astype(object)
            else:
                if array.dtype.kind not in "biuf" or (array.dtype.kind == "f" and spec.dtype.kind in "iu"):
                    raise invalid(f"input {key!r} expects {spec.dtype.name}, got {array.dtype}")
                if array.dtype.kind in "iu" and array.size and spec.dtype.kind in "iu":
                    info = np.iinfo(spec.dtype)
                    if array.min() < info.min or array.max() > info.max:
                        raise invalid(f"input {key!r}: values out of range for {spec.dtype.name}")
                array = array.astype(spec.dtype)
            if spec.shape is not None:
                if array.ndim != len(spec.shape):
                    raise invalid(f"input {key!r} expects rank {len(spec.shape)} (shape {_shape(spec.shape)}), got "
                                  f"shape {list(array.shape)}")
                for want, got in zip(spec.shape, array.shape):
                    if want is not None and want != got:
                        raise invalid(f"input {key!r} expects shape {_shape(spec.shape)}, got {list(array.shape)}")
            if array.ndim:
                if batch is not None and array.shape[0] != batch:
                    raise invalid(f"inputs disagree on the batch size: {key!r} has {array.shape[0]}, others {batch}")
                batch = array.shape[0]
            if array.dtype.kind in "iu":
                self.encoder_limits.check(key, array)
            if signature.examples is not None and spec.dtype == object:
                signature.examples.check(key, array)
            checked[key] = array
        return checked

    def run(self, signature: Signature, inputs: dict[str, np.ndarray],
            output_filter: list[str] | None = None) -> dict[str, np.ndarray]:
        """Run a signature on checked inputs; a graph error becomes INVALID_ARGUMENT with TensorFlow's message."""
        names = output_filter or sorted(signature.outputs)
        unknown = [n for n in names if n not in signature.outputs]
        if unknown:
            raise invalid(f"output_filter {unknown} not in signature outputs {sorted(signature.outputs)}")
        try:
            return self._session.run({n: signature.outputs[n].name for n in names},
                                     {signature.inputs[k].name: v for k, v in inputs.items()})
        except tf.errors.OpError as error:
            log.info("model %s version %s signature %s failed: %s", self.name, self.version, signature.name,
                     error.message)
            raise graph_error(self.name, self.version, error) from None
        except UnicodeDecodeError:  # TensorFlow quoted the request's bytes in its message and they are not UTF-8
            raise invalid(f"model {self.name} version {self.version} could not parse the input of signature "
                          f"{signature.name!r} (its bytes are not what the signature expects, e.g. a serialized "
                          "tf.Example)") from None

    def acquire(self) -> "Servable":
        """Count a request in (the manager does this while resolving it, so a retiring version finishes it)."""
        with self._idle:
            if self._retired:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, f"model {self.name} version {self.version} is "
                                   "being unloaded")
            self._users += 1
        return self

    def release(self) -> None:
        with self._idle:
            self._users -= 1
            self._idle.notify_all()

    def retire(self, timeout: float | None = None) -> None:
        """Refuse new requests, wait for those in flight, then free the session (unload)."""
        with self._idle:
            self._retired = True
            drained = self._idle.wait_for(lambda: self._users == 0, timeout)
        if not drained:  # a run is still going: closing its session under it is unsafe; the process exit frees it
            log.warning("model %s version %s still has %d request(s) running; not closing its session", self.name,
                        self.version, self._users)
            return
        self._session.close()


def _dtype_name(dtype: np.dtype) -> str:
    return "string" if dtype.kind in "OSU" else dtype.name


def _shape(shape) -> list:
    return [-1 if d is None else d for d in shape]

