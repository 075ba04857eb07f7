"""The profile benchmark: where our encoder's time goes per op class, beside OpenVINO's per-layer counts.

    python scripts/benchmark.py profile [--quick]

The encoder (real all-MiniLM-L6-v2 weights; the quick mode's tiny random checkpoint) is exported as a Keras
ExportArchive SavedModel (ids in, pooled vector out) and fed real reviews of exactly `sequence_length` tokens at
each batch size (default 32 x 128 and 1 x 128), then:
- ours: loaded the way TF Serving loads it (the TF1 loader + session.run on the signature's tensors) and run with
  FULL_TRACE; every executed node's op time (op_end - op_start) is summed per op class (`op_class`: the node's op
  type from the partition graphs, refined by its name scope), per run;
- OpenVINO float32 on the same SavedModel with PERF_COUNT: its per-layer real times summed per the same classes,
  and how many layers it executes against how many nodes TensorFlow executes.
Figures per batch size B: batchB_{ours|openvino}_{class}_ms and _share (of the summed op time), _op_ms (the sum),
_wall_ms (one untraced run, best of `runs`), _nodes (executed compute nodes/layers per run, bookkeeping such as
Const/Identity/_Arg excluded), _{class}_count; batchB_ours_speed_vs_openvino = OpenVINO wall ms / ours (> 1: we
are faster) and batchB_ours_vs_openvino_nodes = our nodes / OpenVINO's executed layers.
"""

from __future__ import annotations

import collections
import os
import re
import tempfile

import numpy as np
import tensorflow as tf

from bert_keras.assets import asset_path
from bert_keras.benchmarks.anchors import THREADS, export_encoder_ids, full_length_ids, openvino_model, openvino_pooled
from bert_keras.benchmarks.fixtures import tiny_checkpoint
from bert_keras.benchmarks.timing import best_seconds
from bert_keras.checkpoints import load_checkpoint
from bert_keras.text import BertPreprocessor, BertTokenizer

QUICK_ARGS = {"quick": True, "batch_sizes": (4, 1), "sequence_length": 16, "runs": 2}
CLASSES = ("matmul", "attention_matmul", "softmax", "transpose_reshape", "layer_norm", "gelu", "embeddings", "mask",
           "fused_subgraph", "bookkeeping", "other")
# Op types that decide the class whatever the name scope: TensorFlow's (plain, grappler-fused and oneDNN names)
# and OpenVINO CPU plugin layer types. OpenVINO's "MatMul" is a batched (attention) product: its dense
# projections are "FullyConnected".
TYPE_CLASSES = {
    "matmul": {"MatMul", "_FusedMatMul", "_MklMatMul", "_MklFusedMatMul", "_MklNativeFusedMatMul",
               "FullyConnected"},
    "attention_matmul": {"BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "_MklBatchMatMul", "_MklBatchMatMulV2",
                         "_MklNativeBatchMatMul"},
    "softmax": {"Softmax", "_MklSoftmax", "SoftMax"},
    "transpose_reshape": {"Transpose", "_MklTranspose", "ConjugateTranspose", "Reshape", "ExpandDims", "Squeeze",
                          "Reorder", "Unsqueeze"},
    "fused_subgraph": {"Subgraph"},  # OpenVINO's snippets: several elementwise layers compiled into one kernel
    "bookkeeping": {"_SOURCE", "_Arg", "_Retval", "Const", "Identity", "NoOp", "VarHandleOp", "ReadVariableOp",
                    "Parameter", "Result", "Shape", "ShapeOf", "StridedSlice", "Pack", "Concat"},
}
# Name scopes (our layer names, kept in both engines' node names) for the elementwise ops they hold.
NAME_CLASSES = (("layer_norm", re.compile(r"layer_norm")),
                ("gelu", re.compile(r"/Gelu/|/intermediate")),
                ("embeddings", re.compile(r"embedding")),
                ("mask", re.compile(r"attention_bias|transformer_layer_\d+(_\d+)?/add$")))
FALLBACK_TYPE_CLASSES = {"Erf": "gelu", "Erfc": "gelu", "GatherV2": "embeddings", "Gather": "embeddings"}
# OpenVINO's MatMul/Softmax as they appear in the attention block of our graph (names of the TF ops they came from).
OPENVINO_TYPE_OVERRIDES = {"MatMul": "attention_matmul"}


def op_class(op_type: str, name: str, openvino: bool = False) -> str:
    """The issue's op class of one executed node: by op type first (products, softmax, layout, bookkeeping), then
    by the name scope of our layers (LayerNorm, GELU, embeddings, the attention mask), else "other"."""
    if openvino and op_type in OPENVINO_TYPE_OVERRIDES:
        return OPENVINO_TYPE_OVERRIDES[op_type]
    for label, types in TYPE_CLASSES.items():
        if op_type in types:
            return label
    for label, pattern in NAME_CLASSES:
        if pattern.search(name):
            return label
    return FALLBACK_TYPE_CLASSES.get(op_type, "other")


def _class_figures(prefix: str, micros: dict[str, float], counts: dict[str, int], runs: int) -> dict:
    """batchB_ENGINE_{class}_ms / _share / _count from per-class microseconds and node counts summed over `runs`."""
    total = sum(micros.values()) or 1.0
    figures = {f"{prefix}_op_ms": total / runs / 1000,
               f"{prefix}_nodes": sum(c for label, c in counts.items() if label != "bookkeeping") // runs}
    for label in CLASSES:
        figures[f"{prefix}_{label}_ms"] = micros.get(label, 0.0) / runs / 1000
        figures[f"{prefix}_{label}_share"] = micros.get(label, 0.0) / total
        figures[f"{prefix}_{label}_count"] = counts.get(label, 0) // runs
    return figures


class _SessionModel:
    """Our SavedModel in a TF1 session, as TF Serving's SavedModelBundle runs it (its serving_default signature)."""

    def __init__(self, directory: str):
        self.graph = tf.Graph()
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=THREADS)
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)
        with self.graph.as_default():
            meta = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], directory)
        signature = meta.signature_def["serving_default"]
        self.inputs = {name: tensor.name for name, tensor in signature.inputs.items()}
        self.output = signature.outputs["pooled_output"].name

    def run(self, ids: dict[str, np.ndarray], run_metadata: tf.compat.v1.RunMetadata | None = None) -> np.ndarray:
        """One session.run; with `run_metadata`, a FULL_TRACE run that also records the partition graphs."""
        options = None
        if run_metadata is not None:
            options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE,
                                              output_partition_graphs=True)
        feed = {tensor: ids[name] for name, tensor in self.inputs.items()}
        return self.session.run(self.output, feed, options=options, run_metadata=run_metadata)


def _wall_ms(run, runs: int) -> float:
    """Best of `runs` wall-clock milliseconds of `run()` after one warm-up call."""
    return 1000 * best_seconds(run, runs, warmups=1)


def profile_ours(model: _SessionModel, ids: dict[str, np.ndarray], runs: int, prefix: str) -> dict:
    """Per-class op time of our SavedModel over `runs` traced session runs (after two untraced warm-ups)."""
    micros: dict[str, float] = collections.defaultdict(float)
    counts: dict[str, int] = collections.Counter()
    fused_gelu = 0
    wall = _wall_ms(lambda: model.run(ids), runs)
    for _ in range(runs):
        metadata = tf.compat.v1.RunMetadata()
        model.run(ids, metadata)
        types = {node.name: node.op for graph in metadata.partition_graphs for node in graph.node}
        # oneDNN fuses the intermediate dense layer's GELU into its matmul on AVX-512 hosts: counted, timed as matmul.
        fused_gelu += sum(any(b"Gelu" in op for op in node.attr["fused_ops"].list.s)
                          for graph in metadata.partition_graphs for node in graph.node if "fused_ops" in node.attr)
        for device in metadata.step_stats.dev_stats:
            for node in device.node_stats:
                label = op_class(types.get(node.node_name, node.node_name), node.node_name)
                micros[label] += node.op_end_rel_micros - node.op_start_rel_micros
                counts[label] += 1
    return {**_class_figures(prefix, micros, counts, runs), f"{prefix}_wall_ms": wall,
            f"{prefix}_gelu_fused_into_matmul_count": fused_gelu // runs}


def profile_openvino(directory: str, ids: dict[str, np.ndarray], runs: int, prefix: str) -> dict:
    """Per-class layer time of OpenVINO float32 on the same SavedModel (PERF_COUNT), summed over `runs` requests."""
    compiled = openvino_model(directory, "f32", profile=True)
    wall = _wall_ms(lambda: openvino_pooled(compiled, ids), runs)
    request = compiled.create_infer_request()
    request.infer(ids)
    micros: dict[str, float] = collections.defaultdict(float)
    counts: dict[str, int] = collections.Counter()
    for _ in range(runs):
        request.infer(ids)
        for layer in request.profiling_info:
            if layer.status.name != "EXECUTED":
                continue  # folded into a neighbour or constant: no kernel of its own
            label = op_class(layer.node_type, layer.node_name, openvino=True)
            micros[label] += layer.real_time.total_seconds() * 1e6
            counts[label] += 1
    return {**_class_figures(prefix, micros, counts, runs), f"{prefix}_wall_ms": wall}


def profile_benchmark(checkpoint: str | None = None, batch_sizes: tuple[int, ...] = (32, 1),
                      sequence_length: int = 128, runs: int = 10, quick: bool = False) -> dict:
    """Our encoder's time per op class (TF Serving's session path) against OpenVINO's, at each batch size; see
    the module doc. `checkpoint`: a Hugging Face BERT checkpoint directory (default: the bundled all-MiniLM-L6-v2).
    """
    work = tempfile.mkdtemp(prefix="profile-benchmark-")
    if checkpoint is None:
        checkpoint = tiny_checkpoint(os.path.join(work, "tiny")) if quick else asset_path("minilm")
    loaded = load_checkpoint(checkpoint)
    directory = export_encoder_ids(loaded.encoder, os.path.join(work, "saved_model"))
    tokenizer = BertTokenizer(loaded.vocab_path, lowercase=loaded.tokenizer_lowercase)
    preprocessor = BertPreprocessor(tokenizer, sequence_length, padding="max_length")
    ids = full_length_ids(preprocessor, sequence_length, max(batch_sizes))
    model = _SessionModel(directory)
    results: dict = {"checkpoint": checkpoint, "sequence_length": sequence_length, "runs": runs, "threads": THREADS,
                     "classes": ",".join(CLASSES)}
    for size in batch_sizes:
        batch = {name: array[:size] for name, array in ids.items()}
        results.update(profile_ours(model, batch, runs, f"batch{size}_ours"))
        results.update(profile_openvino(directory, batch, runs, f"batch{size}_openvino"))
        results[f"batch{size}_ours_vs_openvino_nodes"] = (results[f"batch{size}_ours_nodes"]
                                                          / max(results[f"batch{size}_openvino_nodes"], 1))
        results[f"batch{size}_ours_speed_vs_openvino"] = (results[f"batch{size}_openvino_wall_ms"]
                                                         / results[f"batch{size}_ours_wall_ms"])
    return results
