"""Checks read from a SavedModel's graph, run on each request before it joins a batch.

A request that would fail inside the graph fails alone and early with a message naming its own fault, instead of
costing its batch a failed run (the batch scheduler's isolation is the guarantee; these checks make it rare):

- `ExampleFeatures`: a signature whose function parses tf.Examples (ParseExampleV2 with required dense features,
  as TF Serving's classify/regress signatures do) refuses input that is not a serialized tf.Example, or lacks a
  required feature, or holds it in the wrong list type or count.
- `EncoderLimits`: for exports whose embedding variables are named `token_embedding/embeddings` and
  `position_embedding/embeddings` (bert-keras exports), `token_ids` must lie in [0, vocabulary size) and the
  encoder inputs may not be longer than max_position_embeddings. The graph's own functions hold the gathers that
  check these; tracing an arbitrary input to its gather through nested functions is not attempted.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError

from bert_keras.serving.errors import invalid
from bert_keras.serving_contract import ENCODER_INPUTS, TOKEN_IDS

PARSE_EXAMPLE_OP = "ParseExampleV2"
TOKEN_EMBEDDING_VARIABLE = "token_embedding/embeddings"
POSITION_EMBEDDING_VARIABLE = "position_embedding/embeddings"
_LIST_KINDS = {tf.string: "bytes_list", tf.int64: "int64_list", tf.float32: "float_list"}
_PASS_THROUGH = {"Identity", "IdentityN"}


@dataclasses.dataclass(frozen=True)
class ExampleFeatures:
    """The required dense features a signature parses: {name: (tf.train.Feature list field, value count or None)}."""

    required: dict[str, tuple[str, int | None]]

    def check(self, input_name: str, serialized: np.ndarray) -> None:
        """INVALID_ARGUMENT naming the first example that the graph's ParseExample would refuse."""
        for index, data in enumerate(serialized.reshape(-1)):
            where = f"input {input_name!r} example {index}"
            try:
                example = tf.train.Example.FromString(bytes(data))
            except (DecodeError, TypeError):
                raise invalid(f"{where} is not a serialized tf.train.Example") from None
            features = example.features.feature
            for name, (kind, count) in self.required.items():
                if name not in features:
                    raise invalid(f"{where}: feature {name!r} is required but could not be found (it needs a "
                                  f"{kind})")
                found = features[name].WhichOneof("kind")
                if found != kind:
                    raise invalid(f"{where}: feature {name!r} must be a {kind}, got {found or 'an empty feature'}")
                values = len(getattr(features[name], kind).value)
                if count is not None and values != count:
                    raise invalid(f"{where}: feature {name!r} must have {count} value(s), got {values}")


def _called_function(graph: tf.Graph, tensor_name: str) -> str | None:
    """The function a signature output comes from (through Identity ops), if it comes from a call."""
    op = graph.get_tensor_by_name(tensor_name).op
    while op.type in _PASS_THROUGH and op.inputs:
        op = op.inputs[0].op
    attr = op.node_def.attr.get("f")
    return attr.func.name if attr is not None and attr.HasField("func") else None


def _parse_nodes(library: dict, root: str) -> list:
    """(function, ParseExampleV2 node) pairs in `root` and every function it calls."""
    found, pending, seen = [], [root], set()
    while pending:
        name = pending.pop()
        if name in seen or name not in library:
            continue
        seen.add(name)
        for node in library[name].node_def:
            if node.op == PARSE_EXAMPLE_OP:
                found.append((library[name], node))
            pending += [value.func.name for value in node.attr.values() if value.HasField("func")]
    return found


def _constant(function, input_name: str) -> np.ndarray | None:
    node_name = input_name.split(":")[0]
    for node in function.node_def:
        if node.name == node_name and node.op == "Const":
            return tf.make_ndarray(node.attr["value"].tensor)
    return None


def example_features(meta_graph, graph: tf.Graph, output_tensor: str) -> ExampleFeatures | None:
    """The required features of the one ParseExampleV2 behind a signature output, or None if not exactly one."""
    root = _called_function(graph, output_tensor)
    if root is None:
        return None
    library = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    nodes = _parse_nodes(library, root)
    if len(nodes) != 1:
        return None
    function, node = nodes[0]
    # inputs: serialized, names, sparse_keys, dense_keys, ragged_keys, dense_defaults...
    keys = _constant(function, node.input[3])
    if keys is None:
        return None
    dtypes = [tf.dtypes.as_dtype(t) for t in node.attr["Tdense"].list.type]
    shapes = [tf.TensorShape(s) for s in node.attr["dense_shapes"].list.shape]
    required = {}
    for index, key in enumerate(keys.reshape(-1)):
        default = _constant(function, node.input[5 + index]) if 5 + index < len(node.input) else None
        if default is None or default.size or dtypes[index] not in _LIST_KINDS:
            continue  # has a default (optional) or a type this check does not model: left to the graph
        shape = shapes[index] if index < len(shapes) else tf.TensorShape(None)
        count = shape.num_elements() if shape.is_fully_defined() else None
        required[key.decode("utf-8")] = (_LIST_KINDS[dtypes[index]], count)
    return ExampleFeatures(required) if required else None


@dataclasses.dataclass(frozen=True)
class EncoderLimits:
    """What bert-keras' encoder accepts: token ids below `vocabulary_size`, at most `max_length` positions."""

    vocabulary_size: int | None = None
    max_length: int | None = None

    def check(self, name: str, array: np.ndarray) -> None:
        """INVALID_ARGUMENT for an encoder input the graph's gathers would refuse."""
        if name in ENCODER_INPUTS and self.max_length is not None and array.ndim == 2 and \
                array.shape[1] > self.max_length:
            raise invalid(f"input {name!r} has {array.shape[1]} positions, more than the model's "
                          f"max_position_embeddings {self.max_length}")
        if name == TOKEN_IDS and self.vocabulary_size is not None:
            check_id_range(name, array, self.vocabulary_size)


def _variable_rows(graph: tf.Graph, suffix: str) -> int | None:
    for op in graph.get_operations():
        if op.type == "VarHandleOp" and op.name.endswith(suffix):
            shape = tf.TensorShape(op.get_attr("shape"))
            if shape.rank == 2 and shape[0] is not None:
                return int(shape[0])
    return None


def encoder_limits(graph: tf.Graph) -> EncoderLimits:
    """The limits of the bert-keras encoder in `graph`, read from its embedding variables (None where absent)."""
    return EncoderLimits(_variable_rows(graph, TOKEN_EMBEDDING_VARIABLE),
                         _variable_rows(graph, POSITION_EMBEDDING_VARIABLE))


def check_id_range(name: str, array: np.ndarray, bound: int) -> None:
    """INVALID_ARGUMENT for an id outside [0, bound), naming the first one as TensorFlow's gather would."""
    if not array.size:
        return
    bad = np.flatnonzero((array < 0) | (array >= bound))
    if bad.size:
        position = np.unravel_index(bad[0], array.shape)
        raise invalid(f"input {name!r}: indices[{','.join(map(str, position))}] = {array[position]} is not in "
                      f"[0, {bound}) (the model's vocabulary size)")
