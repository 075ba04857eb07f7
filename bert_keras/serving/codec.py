"""Tensors in and out of the wire formats: TensorProto (gRPC) and TF Serving's REST JSON (row and columnar)."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

from bert_keras.serving.errors import invalid

B64 = "b64"
MAX_RANK = 32  # deeper JSON lists are refused before numpy sees them (TF Serving's tensors have far lower ranks)
# TensorProto's repeated value fields; a tensor uses one of them, or tensor_content.
_VALUE_FIELDS = ("half_val", "float_val", "double_val", "int_val", "string_val", "scomplex_val", "int64_val",
                 "bool_val", "dcomplex_val", "uint32_val", "uint64_val")


def _declared(proto: tensor_pb2.TensorProto) -> tuple[int, int]:
    """(elements, item size) a TensorProto declares: its shape's product and 1 byte per string."""
    elements = int(np.prod([max(d.size, 0) for d in proto.tensor_shape.dim], dtype=np.float64))
    dtype = tf.dtypes.as_dtype(proto.dtype) if proto.dtype else None
    return elements, 1 if dtype is None or dtype == tf.string else dtype.size


def declared_bytes(proto: tensor_pb2.TensorProto) -> int:
    """The bytes a TensorProto expands to (its declared shape times its item size)."""
    elements, itemsize = _declared(proto)
    return elements * itemsize


def _declared_size(name: str, proto: tensor_pb2.TensorProto, expected_shape, max_bytes: int | None,
                   max_batch: int | None) -> None:
    """Refuse a TensorProto from its declared shape and content counts alone, before anything is allocated."""
    dims = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise invalid(f"input {name!r}: tensor_shape {dims} has a negative dimension")
    if max_batch is not None and dims and dims[0] > max_batch:
        raise invalid(f"input {name!r} declares a batch of {dims[0]}, larger than the maximum input batch size "
                      f"{max_batch}")
    if expected_shape is not None:
        if len(dims) != len(expected_shape) or any(w is not None and w != d for w, d in zip(expected_shape, dims)):
            want = [-1 if d is None else d for d in expected_shape]
            raise invalid(f"input {name!r} expects shape {want}, the request declares {dims}")
    elements, itemsize = _declared(proto)
    if max_bytes is not None and elements * itemsize > max_bytes:
        raise invalid(f"input {name!r} declares shape {dims} ({elements} elements, {elements * itemsize} bytes), "
                      f"more than the server's limit of {max_bytes} bytes for a request's tensors "
                      "(--max_message_bytes)")
    if proto.tensor_content:
        if len(proto.tensor_content) != elements * itemsize:
            raise invalid(f"input {name!r}: tensor_content holds {len(proto.tensor_content)} bytes, shape {dims} "
                          f"of {tf.dtypes.as_dtype(proto.dtype).name if proto.dtype else 'no dtype'} needs "
                          f"{elements * itemsize}")
        return
    values = sum(len(getattr(proto, field)) for field in _VALUE_FIELDS)
    if values > elements:
        raise invalid(f"input {name!r}: {values} values for shape {dims} ({elements} elements)")


def from_tensor_proto(name: str, proto: tensor_pb2.TensorProto, expected_shape=None,
                      max_bytes: int | None = None, max_batch: int | None = None) -> np.ndarray:
    """The array a request's TensorProto holds, after checking its declared shape (against `expected_shape`,
    a tuple with None for any size, when given), size (against `max_bytes`) and batch dimension (against
    `max_batch`, the batcher's limit) before allocating it."""
    _declared_size(name, proto, expected_shape, max_bytes, max_batch)
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError) as error:
        raise invalid(f"input {name!r}: not a valid TensorProto: {error}") from None


def to_tensor_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    return tf.make_tensor_proto(array)


# ---------------------------------------------------------------------------------------------------- JSON in

def _decode_value(value: Any, where: str, depth: int = 0):
    if depth > MAX_RANK:
        raise invalid(f"{where}: lists nested deeper than {MAX_RANK} levels")
    if isinstance(value, dict):
        if set(value) != {B64}:
            raise invalid(f"{where}: an object value must be {{\"b64\": \"...\"}}, got keys {sorted(value)}")
        try:
            return base64.b64decode(value[B64], validate=True)
        except (ValueError, TypeError) as error:
            raise invalid(f"{where}: invalid base64: {error}") from None
    if isinstance(value, list):
        return [_decode_value(v, where, depth + 1) for v in value]
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as error:  # JSON's "\\ud800" escapes decode to a lone surrogate
            raise invalid(f"{where}: a string holds {value[error.start]!r}, a lone surrogate that is not valid "
                          "Unicode") from None
    if value is None:
        raise invalid(f"{where}: null is not a tensor value")
    return value


def _to_array(value: Any, where: str) -> np.ndarray:
    decoded = _decode_value(value, where)
    try:
        array = np.array(decoded, dtype=object if _has_bytes(decoded) else None)
    except ValueError as error:
        raise invalid(f"{where}: ragged or malformed tensor: {error}") from None
    if array.dtype == object and array.size and not all(isinstance(v, bytes) for v in array.reshape(-1)):
        raise invalid(f"{where}: mixes strings with other values or has ragged lists")
    return array


def _has_bytes(value) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, bytes)


def request_inputs(body: Any, input_names: list[str]) -> tuple[dict[str, np.ndarray], bool]:
    """({input: array}, row_format) from a :predict body with "instances" (rows) or "inputs" (columns)."""
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object with \"instances\" or \"inputs\"")
    if ("instances" in body) == ("inputs" in body):
        raise invalid("the request body must have exactly one of \"instances\" (row format) or \"inputs\" "
                      "(columnar format)")
    if "inputs" in body:
        value = body["inputs"]
        if isinstance(value, dict) and not set(value) <= {B64}:
            return {k: _to_array(v, f"inputs[{k!r}]") for k, v in value.items()}, False
        if len(input_names) != 1:
            raise invalid(f"\"inputs\" must name each input of the signature: {input_names}")
        return {input_names[0]: _to_array(value, "inputs")}, False
    rows = body["instances"]
    if not isinstance(rows, list):
        raise invalid("\"instances\" must be a list")
    named = bool(rows) and all(isinstance(r, dict) and not set(r) <= {B64} for r in rows)
    if not named:
        if any(isinstance(r, dict) and not set(r) <= {B64} for r in rows):
            raise invalid("\"instances\" mixes objects with plain values")
        if len(input_names) != 1:
            raise invalid(f"each instance must be an object naming the signature's inputs {input_names}")
        return {input_names[0]: _to_array(rows, "instances")}, True
    keys = set(rows[0])
    for index, row in enumerate(rows):
        if set(row) != keys:
            raise invalid(f"instance {index} has inputs {sorted(row)}, the first has {sorted(keys)}")
    return {k: _to_array([row[k] for row in rows], f"instances[*][{k!r}]") for k in sorted(keys)}, True


# --------------------------------------------------------------------------------------------------- JSON out

def _json_value(array: np.ndarray, name: str):
    if array.dtype == object or array.dtype.kind == "S":
        binary = name.endswith("_bytes")

        def encode(v: bytes):
            if not binary:
                try:
                    return v.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return {B64: base64.b64encode(v).decode("ascii")}

        return np.vectorize(encode, otypes=[object])(array).tolist() if array.size else array.tolist()
    return array.tolist()


def response_body(outputs: dict[str, np.ndarray], row_format: bool) -> dict:
    """TF Serving's :predict response: {"predictions": rows} or {"outputs": columns}; one output unnamed."""
    values = {name: _json_value(array, name) for name, array in outputs.items()}
    if not row_format:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    batch = {len(v) if isinstance(v, list) else -1 for v in values.values()}
    if len(batch) != 1 or -1 in batch:
        raise invalid("outputs do not share a batch dimension: use the columnar \"inputs\" format")
    size = batch.pop()
    return {"predictions": [{name: value[i] for name, value in values.items()} for i in range(size)]}


def example_from_json(features: Any, where: str) -> tf.train.Example:
    """A tf.train.Example from a REST :classify example object ({feature: value or list})."""
    if not isinstance(features, dict):
        raise invalid(f"{where}: an example must be an object of features")
    example = tf.train.Example()
    for key, value in features.items():
        values = value if isinstance(value, list) else [value]
        decoded = [_decode_value(v, f"{where}[{key!r}]", 1) for v in values]
        try:
            feature = example.features.feature[key]
        except (UnicodeError, ValueError):
            raise invalid(f"{where}: feature name {key!r} is not valid Unicode") from None
        if all(isinstance(v, bytes) for v in decoded):
            feature.bytes_list.value.extend(decoded)
        elif all(isinstance(v, bool) or isinstance(v, int) for v in decoded):
            feature.int64_list.value.extend(int(v) for v in decoded)
        elif all(isinstance(v, (int, float)) for v in decoded):
            feature.float_list.value.extend(float(v) for v in decoded)
        else:
            raise invalid(f"{where}[{key!r}]: feature values must be all strings, all ints or all numbers")
    return example
