"""Check that a SavedModel uses only ops TF Serving 2.12-2.19 can run: TensorFlow 2.12 core + tf-text 2.12.1.

TF Serving 2.12-2.19 links TensorFlow >= 2.12 and bundles tensorflow-text 2.12.1 (STACK.md), so a graph within
these sets loads on all of them. The sets come from the released wheels (scripts/derive_op_sets.py). Python ops
(py_function) are refused too: the TF Serving binary has no Python.
"""

from __future__ import annotations

import functools
import os

from tensorflow.core.protobuf import saved_model_pb2

from bert_keras.errors import InvalidInputError

OP_SET_FILES = ("tf_2_12_1_ops.txt", "tf_text_2_12_1_ops.txt")
PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
SAVED_MODEL_FILE = "saved_model.pb"


class UnsupportedOpsError(InvalidInputError):
    """A SavedModel holds ops outside TF Serving 2.12's op set; `ops` maps each to where it is used."""

    def __init__(self, path: str, ops: dict[str, list[str]]):
        self.path, self.ops = path, ops
        listing = "; ".join(f"{op} (in {', '.join(sorted(places)[:3])})" for op, places in sorted(ops.items()))
        super().__init__(f"{path}: {len(ops)} op(s) outside TensorFlow 2.12 core + tensorflow-text 2.12.1, "
                         f"which TF Serving 2.12-2.19 cannot load: {listing}")


@functools.lru_cache(maxsize=1)
def serving_op_set() -> frozenset[str]:
    """Every op TF Serving 2.12 knows, minus the Python ops."""
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "op_sets")
    ops: set[str] = set()
    for name in OP_SET_FILES:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            ops.update(line.strip() for line in f if line.strip() and not line.startswith("#"))
    return frozenset(ops - PYTHON_OPS)


def saved_model_ops(path: str) -> dict[str, list[str]]:
    """{op type: [graph or function names using it]} over the graph and every function of a SavedModel.

    Calls of the SavedModel's own functions (a node whose op is a function of its library) are not ops.
    """
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, SAVED_MODEL_FILE), "rb") as f:
        proto.ParseFromString(f.read())
    used: dict[str, set[str]] = {}
    functions = set()
    for meta_graph in proto.meta_graphs:
        for node in meta_graph.graph_def.node:
            used.setdefault(node.op, set()).add("graph")
        for function in meta_graph.graph_def.library.function:
            functions.add(function.signature.name)
            for node in function.node_def:
                used.setdefault(node.op, set()).add(function.signature.name)
    return {op: sorted(places) for op, places in used.items() if op not in functions}


def check_saved_model_ops(path: str) -> None:
    """Raise `UnsupportedOpsError` listing every op of the SavedModel at `path` outside the TF Serving set."""
    allowed = serving_op_set()
    bad = {op: places for op, places in saved_model_ops(path).items() if op not in allowed}
    if bad:
        raise UnsupportedOpsError(path, bad)
