"""CPU inference anchors: the same BERT checkpoint under ONNX Runtime and OpenVINO, the engines a CPU deployment
would otherwise pick, so the infer benchmark can say where bert-keras stands against them (and the profile
benchmark can set our per-op times beside OpenVINO's per-layer counts).

Reference side only (dev dependencies, never imported by the package outside bert_keras/benchmarks/):
- `export_onnx`: transformers' BertModel -> an ONNX file (torch's TorchScript exporter), pooled output out;
- `optimize_onnx`: ONNX Runtime's BERT graph fusions on that file, with the fusion counts it reports;
- `ort_session` / `ort_pooled`: an ONNX Runtime session with a fixed thread count, fed token ids;
- `export_encoder_ids` / `openvino_model`: our encoder as a Keras ExportArchive SavedModel (ids in, pooled out),
  and an OpenVINO model compiled from it or from the ONNX file, with an explicit precision.
Every engine gets the same number of threads (`THREADS`): ratios between engines, not absolute speeds.
"""

from __future__ import annotations

import os
from typing import Mapping

import keras
import numpy as np
import onnxruntime
import openvino
import tensorflow as tf
import torch
import transformers
from onnxruntime.transformers.optimizer import optimize_model

from bert_keras.benchmarks.fixtures import sample_reviews
from bert_keras.modeling import BertEncoder
from bert_keras.text import BertPreprocessor

THREADS = 2
# Our encoder's inputs and the ONNX graph's inputs (transformers' names), in the same order.
ID_INPUTS = ("token_ids", "segment_ids", "padding_mask")
ONNX_INPUTS = ("input_ids", "token_type_ids", "attention_mask")
POOLED = "pooled_output"
ONNX_OPSET = 17


def full_length_ids(preprocessor: BertPreprocessor, length: int, count: int) -> dict[str, np.ndarray]:
    """`count` real reviews of at least `length` tokens, packed by `preprocessor` (padding to `length`) and cut to
    exactly `length`: a fixed shape with no padding, so every engine computes the same real tokens."""
    texts = [t for t in sample_reviews(2000, seed=1) if len(t) > 8 * length]  # long reviews: >= `length` tokens
    ids = {k: v.numpy() for k, v in preprocessor(tf.constant(texts[:4 * count])).items()}
    full = ids["padding_mask"].sum(1) == length
    ids = {k: v[full][:count] for k, v in ids.items()}
    if len(ids["token_ids"]) < count:
        raise RuntimeError(f"found only {len(ids['token_ids'])} reviews of {length} tokens, expected {count}")
    return ids


class _PooledOutput(torch.nn.Module):
    """BertModel called by keyword (transformers 5 changed the positional order), returning only pooler_output."""

    def __init__(self, model: transformers.BertModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, token_type_ids=token_type_ids,
                          attention_mask=attention_mask).pooler_output


def _trace_example(vocab_size: int) -> tuple[torch.Tensor, ...]:
    """Batch 2 x 16 with the second row padded: a trace on all-ones masks exports a graph that drops the mask
    arithmetic transformers takes for padded batches (measured: 7e-2 pooled-output diffs on every engine)."""
    ids = torch.arange(2 * 16, dtype=torch.long).reshape(2, 16) % vocab_size
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 10:] = 0
    return ids, torch.zeros_like(ids), mask


def export_onnx(model: transformers.BertModel, path: str) -> str:
    """`model` as an ONNX file at `path`: ids in (int64, dynamic batch and length), pooled output out.

    torch's TorchScript exporter (`dynamo=False`; torch 2.13 defaults to the dynamo one), opset `ONNX_OPSET`.
    The wrapper is put in eval mode first: the exporter restores the wrapper's own mode afterwards, and a fresh
    Module is in training mode, which would switch `model`'s dropout on for every later call.
    """
    axes = {name: {0: "batch", 1: "sequence"} for name in ONNX_INPUTS}
    axes[POOLED] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(_PooledOutput(model).eval(), _trace_example(model.config.vocab_size), path, dynamo=False,
                          input_names=list(ONNX_INPUTS), output_names=[POOLED], dynamic_axes=axes,
                          opset_version=ONNX_OPSET)
    return path


def optimize_onnx(path: str, out_path: str, num_heads: int, hidden_size: int) -> dict[str, int]:
    """ONNX Runtime's BERT fusions (optimize_model, model_type "bert") of `path`, written to `out_path`.

    Returns the fused-operator counts the optimizer reports (SkipLayerNormalization, BiasGelu, Attention, ...):
    which fusions matched this exporter's graph, i.e. how far ORT's fast kernels apply.
    """
    optimized = optimize_model(path, model_type="bert", num_heads=num_heads, hidden_size=hidden_size)
    optimized.save_model_to_file(out_path)
    return {op: int(count) for op, count in optimized.get_fused_operator_statistics().items()}


def torch_feed(ids: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Our id arrays as the int64 tensors BertModel takes by keyword (the eager reference of every engine)."""
    return {name: torch.as_tensor(array) for name, array in onnx_feed(ids).items()}


def ort_session(path: str, threads: int = THREADS) -> onnxruntime.InferenceSession:
    """An ONNX Runtime CPU session on `path` with `threads` intra-op threads and one inter-op thread."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def onnx_feed(ids: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Our id arrays (token_ids, segment_ids, padding_mask) under the ONNX graph's names, as int64."""
    return {onnx: np.asarray(ids[ours], dtype=np.int64) for ours, onnx in zip(ID_INPUTS, ONNX_INPUTS)}


def ort_pooled(session: onnxruntime.InferenceSession, feed: Mapping[str, np.ndarray]) -> np.ndarray:
    """Pooled vectors from an ONNX Runtime session fed by `onnx_feed` arrays (or a tokenizer's numpy output)."""
    return session.run([POOLED], {name: feed[name] for name in ONNX_INPUTS})[0]


def _pooled_endpoint(encoder: BertEncoder):
    """The exported function, built in a factory (a closure over a default argument does not encode)."""

    def pooled(inputs: dict) -> dict:
        return {POOLED: encoder(inputs, training=False)[POOLED]}

    return pooled


def export_encoder_ids(encoder: BertEncoder, directory: str) -> str:
    """Our encoder as a Keras ExportArchive SavedModel in `directory`: endpoint "serve" (the serving_default
    signature), a dict of int32 [None, None] token_ids / segment_ids / padding_mask in, {pooled_output} out."""
    archive = keras.export.ExportArchive()
    archive.track(encoder)
    spec = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in ID_INPUTS}
    archive.add_endpoint("serve", _pooled_endpoint(encoder), input_signature=[spec])
    archive.write_out(directory, verbose=False)
    return directory


def openvino_model(source: str, precision: str, threads: int = THREADS, profile: bool = False,
                   ) -> openvino.CompiledModel:
    """`source` (an ONNX file or a SavedModel directory) compiled by OpenVINO's CPU plugin at `precision`.

    `precision` is "f32" or "bf16", always passed: OpenVINO runs bfloat16 by default on CPUs with native bf16.
    `profile` turns on per-layer counters (PERF_COUNT) for `InferRequest.profiling_info`.
    """
    if precision not in ("f32", "bf16"):
        raise ValueError(f"precision must be 'f32' or 'bf16', got {precision!r}")
    core = openvino.Core()
    model = openvino.convert_model(source) if os.path.isdir(source) else core.read_model(source)
    config = {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads}
    if profile:
        config["PERF_COUNT"] = "YES"
    return core.compile_model(model, "CPU", config)


def openvino_pooled(compiled: openvino.CompiledModel, feed: Mapping[str, np.ndarray]) -> np.ndarray:
    """Pooled vectors (float32) from a compiled OpenVINO model; `feed` is keyed by the model's input names."""
    names = {name for port in compiled.inputs for name in port.get_names()}
    outputs = compiled({name: array for name, array in feed.items() if name in names})
    return np.asarray(outputs[compiled.outputs[0]], dtype=np.float32)
