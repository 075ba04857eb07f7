"""Servable: one version of a SavedModel, loaded as TF Serving loads it (SavedModelBundle).

A TF1 session loads the "serve" MetaGraph; requests feed and fetch the SignatureDef's tensor names. This is the
path TF Serving takes, so an export that works only through tf.saved_model.load fails here too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading

import grpc
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tf-text ops exports use; TF Serving >= 2.12 links them)
from tensorflow.python.util import deprecation

from bert_keras.serving.errors import ServingError, invalid
from bert_keras.serving_contract import DEFAULT_SIGNATURE, SERVE_TAG


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
        self.signatures = {
            key: Signature(key, sig.method_name, {k: _spec(v) for k, v in sig.inputs.items()},
                           {k: _spec(v) for k, v in sig.outputs.items()})
            for key, sig in meta_graph.signature_def.items() if not key.startswith("__")}
        self._users = 0
        self._retired = False
        self._idle = threading.Condition()

    def signature(self, name: str | None) -> Signature:
        """The named signature (default serving_default); INVALID_ARGUMENT naming the model's signatures if absent."""
        name = name or DEFAULT_SIGNATURE
        if name not in self.signatures:
            raise invalid(f"Serving signature name: \"{name}\" not found in signature def; model {self.name} "
                          f"version {self.version} has {sorted(self.signatures)}")
        return self.signatures[name]

    def check_inputs(self, signature: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The inputs converted to the signature's dtypes and checked against its shapes."""
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
        except tf.errors.InvalidArgumentError as error:
            raise invalid(error.message.split("\n")[0]) from None

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
            self._idle.wait_for(lambda: self._users == 0, timeout)
        self._session.close()


def _shape(shape) -> list:
    return [-1 if d is None else d for d in shape]
