"""The infer benchmark: BERT inference of bert-keras against transformers (PyTorch) and keras-hub, in one process.

    python scripts/benchmark.py infer [--quick]

Four parts, all on the real all-MiniLM-L6-v2 weights and real movie reviews (the quick mode swaps in a tiny random
checkpoint written in the same Hugging Face layout, so the same code runs; see benchmarks/fixtures.py):
- peak: this CPU's float32 matmul peak (the best of TensorFlow, numpy and PyTorch on large square products);
- fixed: the encoder alone at batch 32 x 128 tokens (ids in, pooled vectors out), against PyTorch and keras-hub's
  BertBackbone, with and without XLA, plus bfloat16 mixed precision; achieved GFLOP/s as a fraction of the peak;
- end_to_end: raw text in, pooled vectors out, at batch sizes 1/8/32: our SavedModel, our Keras model called
  eagerly, and transformers' tokenizer + BertModel under inference_mode;
- anchors: the same fixed-shape encoder rows at batch 1/8/32 under the CPU engines a deployment would otherwise
  pick (benchmarks/anchors.py; 2 threads each): ours, ours in bfloat16, ONNX Runtime on transformers' BertModel
  exported to ONNX and fused by ORT's BERT optimizer (the fusion counts are recorded), OpenVINO float32 and
  bfloat16 on that ONNX file, and OpenVINO float32 on our own SavedModel; seq/s per engine and batch
  (anchor_batchB_ENGINE_seq_per_s), ours / theirs ratios (anchor_batchB_OURS_vs_THEIRS, > 1: ours faster) and
  every engine's max abs pooled-output diff from transformers eager (anchor_ENGINE_max_abs_diff_vs_torch);
- text: raw strings in, pooled vectors out at the end_to_end batch sizes: our SavedModel vs transformers' Rust
  tokenizer + that ONNX Runtime session (text_batchB_*), and the max abs diff between the two;
- padding: 1,024 real reviews of their real lengths through the same pipelines, padded to the maximum length, to
  each batch's longest text, and to the longest text of length-sorted batches.
"""

from __future__ import annotations

import functools
import os
import tempfile
from typing import Callable

import keras
import keras_hub
import numpy as np
import tensorflow as tf
import torch
import transformers
from transformers.models.bert.tokenization_bert import load_vocab

from bert_keras.assets import asset_path
from bert_keras.benchmarks import anchors
from bert_keras.benchmarks.anchors import ID_INPUTS, full_length_ids
from bert_keras.benchmarks.fixtures import sample_reviews, tiny_checkpoint
from bert_keras.benchmarks.timing import best_seconds
from bert_keras.checkpoints import load_checkpoint
from bert_keras.export import export_saved_model
from bert_keras.modeling import BertEncoder
from bert_keras.modeling.flops import encoder_flops
from bert_keras.precision import global_dtype_policy
from bert_keras.text import BertPreprocessor, BertTokenizer

FIXED_BATCH = 32
ANCHOR_BATCH_SIZES = (1, 8, 32)  # the anchor rows' batch sizes; each a divisor of FIXED_BATCH
# (ours, theirs) pairs reported as anchor_batchB_OURS_vs_THEIRS = ours seq/s / theirs seq/s (> 1: ours faster).
ANCHOR_RATIOS = (("ours", "onnxruntime"), ("ours", "openvino_f32"), ("ours", "openvino_f32_saved_model"),
                 ("ours_bfloat16", "openvino_bf16"))
QUICK_ARGS = {"quick": True, "batch_sizes": (1, 4), "texts_per_size": 8, "padding_texts": 24, "repeats": 1,
              "sequence_length": 32}


def _best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """`best_seconds` after two warm-up calls (tracing, then oneDNN's primitive caches)."""
    return best_seconds(fn, repeats, warmups=2)


def matmul_peak(size: int = 4096, repeats: int = 5) -> dict:
    """GFLOP/s of a float32 `size` x `size` matrix product in TensorFlow, numpy and PyTorch (best of `repeats`)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    flops = 2 * size ** 3
    tf_a, tf_b = tf.constant(a), tf.constant(b)
    tf_matmul = tf.function(tf.matmul)
    torch_a, torch_b = torch.from_numpy(a), torch.from_numpy(b)
    return {"tensorflow": flops / _best_seconds(lambda: tf_matmul(tf_a, tf_b).numpy(), repeats) / 1e9,
            "numpy": flops / _best_seconds(lambda: a @ b, repeats) / 1e9,
            "pytorch": flops / _best_seconds(lambda: torch_a @ torch_b, repeats) / 1e9}


class _Pipelines:
    """The same checkpoint as a transformers BertModel and a bert-keras encoder + preprocessor + SavedModel."""

    def __init__(self, checkpoint: str, sequence_length: int, work: str):
        self.sequence_length = sequence_length
        loaded = load_checkpoint(checkpoint)
        self.config, self.encoder = loaded.config, loaded.encoder
        tokenizer = BertTokenizer(loaded.vocab_path, lowercase=loaded.tokenizer_lowercase)
        self.preprocessors = {padding: BertPreprocessor(tokenizer, sequence_length, padding=padding)
                              for padding in ("max_length", "longest")}
        self.tokenizer = tokenizer
        spec = {k: tf.TensorSpec([None, None], tf.int32) for k in ("token_ids", "segment_ids", "padding_mask")}
        self.encode_ids = tf.function(lambda x: self.encoder(x, training=False)["pooled_output"],
                                      input_signature=[spec])
        self.graph = {padding: tf.function(lambda text, p=preprocessor: self.encode_ids(p(text)),
                                           input_signature=[tf.TensorSpec([None], tf.string)])
                      for padding, preprocessor in self.preprocessors.items()}
        export = export_saved_model(checkpoint, os.path.join(work, "saved_model"), "minilm", task="embed",
                                    max_seq_length=sequence_length)
        self.saved_model = tf.saved_model.load(export.path).signatures["serving_default"]
        torch.set_num_threads(os.cpu_count() or 1)
        # vocab=, not vocab_file=: transformers 5 silently ignores vocab_file (a 5-token vocab, all [UNK]).
        self.torch_tokenizer = transformers.BertTokenizerFast(vocab=dict(load_vocab(loaded.vocab_path)),
                                                              do_lower_case=loaded.tokenizer_lowercase)
        self.torch_model = transformers.BertModel.from_pretrained(checkpoint).eval()

    def torch_pooled(self, texts: list[str], padding: str = "longest") -> np.ndarray:
        """transformers end to end: the Rust tokenizer, then BertModel under inference_mode."""
        inputs = self.torch_tokenizer(texts, padding=padding, truncation=True, max_length=self.sequence_length,
                                      return_tensors="pt")
        with torch.inference_mode():
            return self.torch_model(**inputs).pooler_output.numpy()

    def saved_model_pooled(self, texts: list[str]) -> np.ndarray:
        """Our SavedModel end to end: raw strings in (tokenization in the graph), pooled vectors out."""
        return self.saved_model(text=tf.constant(texts))["pooled_output"].numpy()

    def eager_pooled(self, texts: list[str]) -> np.ndarray:
        """Our Keras model called eagerly: the preprocessor layer, then the encoder, op by op."""
        inputs = self.preprocessors["longest"](tf.constant(texts))
        return self.encoder(inputs, training=False)["pooled_output"].numpy()

    def graph_pooled(self, texts: list[str], padding: str = "longest") -> np.ndarray:
        """Our preprocessor + encoder in one tf.function (what the SavedModel holds), without the export."""
        return self.graph[padding](tf.constant(texts)).numpy()

    def fixed_ids(self) -> dict[str, np.ndarray]:
        """`FIXED_BATCH` real reviews of exactly `sequence_length` tokens (no padding): the fixed-shape inputs."""
        return full_length_ids(self.preprocessors["max_length"], self.sequence_length, FIXED_BATCH)

    @functools.cached_property
    def encode_ids_bfloat16(self) -> tf.types.experimental.PolymorphicFunction:
        """`encode_ids` of a mixed_bfloat16 copy of the encoder (same weights; bfloat16 pooled vectors out)."""
        with global_dtype_policy("mixed_bfloat16"):
            bf16 = BertEncoder(self.config)
        bf16.set_weights(self.encoder.get_weights())
        spec = {k: tf.TensorSpec([None, None], tf.int32) for k in ID_INPUTS}
        return tf.function(lambda x: bf16(x, training=False)["pooled_output"], input_signature=[spec])

    def token_lengths(self, texts: list[str]) -> np.ndarray:
        return np.minimum(self.tokenizer.tokenize(texts).row_lengths().numpy() + 2, self.sequence_length)


def _fixed_shape(pipes: _Pipelines, peak: float, repeats: int) -> dict:
    """Encoder only, batch 32 x `sequence_length` real tokens (no padding), ids in and pooled vectors out."""
    length = pipes.sequence_length
    ids = pipes.fixed_ids()
    tf_ids = {k: tf.constant(v) for k, v in ids.items()}
    config = pipes.config
    flops = encoder_flops(config, length)
    results = {"fixed_batch": FIXED_BATCH, "fixed_length": length, "gflop_per_sequence": flops / 1e9}

    with torch.inference_mode():
        torch_ids = {"input_ids": torch.tensor(ids["token_ids"], dtype=torch.long),
                     "token_type_ids": torch.tensor(ids["segment_ids"], dtype=torch.long),
                     "attention_mask": torch.tensor(ids["padding_mask"], dtype=torch.long)}
        reference = pipes.torch_model(**torch_ids).pooler_output.numpy()
        rates = {"torch": FIXED_BATCH / _best_seconds(lambda: pipes.torch_model(**torch_ids), repeats)}
    rates["ours"] = FIXED_BATCH / _best_seconds(lambda: pipes.encode_ids(tf_ids).numpy(), repeats)
    results["fixed_ours_max_abs_diff_vs_torch"] = float(np.abs(pipes.encode_ids(tf_ids).numpy() - reference).max())
    spec = {k: tf.TensorSpec([None, None], tf.int32) for k in ids}
    ours_xla = tf.function(lambda x: pipes.encoder(x, training=False)["pooled_output"], input_signature=[spec],
                           jit_compile=True)
    rates["ours_xla"] = FIXED_BATCH / _best_seconds(lambda: ours_xla(tf_ids).numpy(), repeats)

    ours_bf16 = pipes.encode_ids_bfloat16
    rates["ours_bfloat16"] = FIXED_BATCH / _best_seconds(lambda: ours_bf16(tf_ids).numpy(), repeats)
    bf16_pooled = tf.cast(ours_bf16(tf_ids), tf.float32).numpy()
    results["fixed_bfloat16_max_abs_diff_vs_float32"] = float(np.abs(bf16_pooled - pipes.encode_ids(tf_ids)).max())

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size, max_sequence_length=config.max_position_embeddings)
    for label, jit in (("keras_hub", False), ("keras_hub_xla", True)):
        run = tf.function(lambda x: backbone(x, training=False)["pooled_output"], jit_compile=jit)
        rates[label] = FIXED_BATCH / _best_seconds(lambda: run(tf_ids).numpy(), repeats)

    for label, rate in rates.items():
        results[f"fixed_{label}_seq_per_s"] = rate
        results[f"fixed_{label}_gflop_per_s"] = rate * flops / 1e9
        results[f"fixed_{label}_peak_fraction"] = rate * flops / 1e9 / peak
    for label in ("ours", "ours_xla", "ours_bfloat16"):
        results[f"fixed_{label}_vs_torch"] = rates[label] / rates["torch"]
        results[f"fixed_{label}_vs_keras_hub"] = rates[label] / rates["keras_hub"]
    results["fixed_keras_hub_vs_torch"] = rates["keras_hub"] / rates["torch"]
    return results


def _rate(run: Callable[[dict], object], ids: dict[str, np.ndarray], size: int, repeats: int) -> float:
    """Sequences per second of `run` over the fixed rows, fed in batches of `size` (the same rows at every size)."""
    count = len(ids["token_ids"])
    batches = [{k: v[i:i + size] for k, v in ids.items()} for i in range(0, count - size + 1, size)]
    return len(batches) * size / _best_seconds(lambda: [run(batch) for batch in batches], repeats)


def _anchor_engines(pipes: _Pipelines, work: str) -> tuple[dict[str, Callable[[dict], np.ndarray]], dict]:
    """Every engine of the anchor rows as `ids (numpy, our names) -> pooled vectors (float32 numpy)`, plus the
    ONNX Runtime session and the fusion counts its optimizer reported (under "session" and "fusions")."""
    onnx_path = anchors.export_onnx(pipes.torch_model, os.path.join(work, "bert.onnx"))
    optimized = os.path.join(work, "bert_optimized.onnx")
    fusions = anchors.optimize_onnx(onnx_path, optimized, pipes.config.num_attention_heads, pipes.config.hidden_size)
    session = anchors.ort_session(optimized)
    # OpenVINO reads the exporter's file: the optimized one holds ONNX Runtime's own contrib ops.
    ov = {precision: anchors.openvino_model(onnx_path, precision) for precision in ("f32", "bf16")}
    saved_model = anchors.export_encoder_ids(pipes.encoder, os.path.join(work, "encoder_ids"))
    ov_saved_model = anchors.openvino_model(saved_model, "f32")
    engines = {
        "ours": lambda ids: pipes.encode_ids({k: tf.constant(v) for k, v in ids.items()}).numpy(),
        "ours_bfloat16": lambda ids: tf.cast(pipes.encode_ids_bfloat16({k: tf.constant(v) for k, v in ids.items()}),
                                             tf.float32).numpy(),
        "onnxruntime": lambda ids: anchors.ort_pooled(session, anchors.onnx_feed(ids)),
        "openvino_f32": lambda ids: anchors.openvino_pooled(ov["f32"], anchors.onnx_feed(ids)),
        "openvino_bf16": lambda ids: anchors.openvino_pooled(ov["bf16"], anchors.onnx_feed(ids)),
        "openvino_f32_saved_model": lambda ids: anchors.openvino_pooled(ov_saved_model, ids),
    }
    return engines, {"session": session, "fusions": fusions}


def _anchors(pipes: _Pipelines, work: str, repeats: int) -> tuple[dict, object]:
    """The fixed-shape encoder (ids in, pooled out, no padding) at `ANCHOR_BATCH_SIZES` under every engine of
    `_anchor_engines`, each engine's max abs diff from transformers eager, and ours / engine speed ratios.

    Returns the figures and the ONNX Runtime session (the text-in row reuses it).
    """
    ids = pipes.fixed_ids()
    with torch.inference_mode():
        reference = pipes.torch_model(**anchors.torch_feed(ids)).pooler_output.numpy()
    engines, extra = _anchor_engines(pipes, work)
    results: dict = {"anchor_threads": anchors.THREADS}
    results.update({f"anchor_onnxruntime_fused_{op}": count for op, count in extra["fusions"].items()})
    for label, run in engines.items():
        results[f"anchor_{label}_max_abs_diff_vs_torch"] = float(np.abs(run(ids) - reference).max())
    for size in ANCHOR_BATCH_SIZES:
        rates = {label: _rate(run, ids, size, repeats) for label, run in engines.items()}
        results.update({f"anchor_batch{size}_{label}_seq_per_s": rate for label, rate in rates.items()})
        for ours, theirs in ANCHOR_RATIOS:
            results[f"anchor_batch{size}_{ours}_vs_{theirs}"] = rates[ours] / rates[theirs]
    return results, extra["session"]


def _text_anchor(pipes: _Pipelines, session: object, batch_sizes: tuple[int, ...], texts_per_size: int,
                 repeats: int) -> dict:
    """Raw strings in, pooled vectors out: our SavedModel (tokenization in the graph) vs transformers' Rust
    tokenizer (padding to the longest, truncation) feeding the ONNX Runtime session; speeds and max abs diff."""

    def onnxruntime_pooled(texts: list[str]) -> np.ndarray:
        feed = pipes.torch_tokenizer(texts, padding="longest", truncation=True, max_length=pipes.sequence_length,
                                     return_tensors="np")
        return anchors.ort_pooled(session, feed)

    texts = sample_reviews(texts_per_size, seed=2)
    runners = {"saved_model": pipes.saved_model_pooled, "onnxruntime": onnxruntime_pooled}
    outputs = {label: np.concatenate([run(texts[i:i + 8]) for i in range(0, len(texts), 8)])
               for label, run in runners.items()}
    results = {"text_saved_model_max_abs_diff_vs_onnxruntime":
               float(np.abs(outputs["saved_model"] - outputs["onnxruntime"]).max())}
    for size in batch_sizes:
        batches = [texts[i:i + size] for i in range(0, len(texts) - size + 1, size)]
        for label, run in runners.items():
            seconds = _best_seconds(lambda: [run(batch) for batch in batches], repeats)
            results[f"text_batch{size}_{label}_texts_per_s"] = len(batches) * size / seconds
        results[f"text_batch{size}_saved_model_vs_onnxruntime"] = (
            results[f"text_batch{size}_saved_model_texts_per_s"] / results[f"text_batch{size}_onnxruntime_texts_per_s"])
    return results


def _end_to_end(pipes: _Pipelines, batch_sizes: tuple[int, ...], texts_per_size: int, repeats: int) -> dict:
    """Raw text in, pooled vectors out, at each batch size; the same real reviews for every pipeline."""
    texts = sample_reviews(texts_per_size, seed=2)
    results: dict = {"end_to_end_texts": len(texts)}
    runners = {"torch": pipes.torch_pooled, "saved_model": pipes.saved_model_pooled,
               "keras_eager": pipes.eager_pooled}
    outputs = {label: np.concatenate([run(texts[i:i + 8]) for i in range(0, len(texts), 8)])
               for label, run in runners.items()}
    for label in ("saved_model", "keras_eager"):
        results[f"end_to_end_{label}_max_abs_diff_vs_torch"] = float(np.abs(outputs[label] - outputs["torch"]).max())
    for size in batch_sizes:
        batches = [texts[i:i + size] for i in range(0, len(texts) - size + 1, size)]
        for label, run in runners.items():
            seconds = _best_seconds(lambda: [run(batch) for batch in batches], repeats)
            results[f"batch{size}_{label}_texts_per_s"] = len(batches) * size / seconds
        rate = lambda label: results[f"batch{size}_{label}_texts_per_s"]  # noqa: E731
        results[f"batch{size}_saved_model_vs_torch"] = rate("saved_model") / rate("torch")
        results[f"batch{size}_saved_model_vs_keras_eager"] = rate("saved_model") / rate("keras_eager")
    return results


def _padding(pipes: _Pipelines, num_texts: int, batch_size: int, repeats: int) -> dict:
    """Real review lengths: pad to the maximum, to each batch's longest, and sort by length before batching."""
    texts = sample_reviews(num_texts, seed=3)
    lengths = pipes.token_lengths(texts)
    order = np.argsort(lengths, kind="stable")
    orders = {"max_length": np.arange(len(texts)), "longest": np.arange(len(texts)), "sorted": order}
    results = {"padding_texts": len(texts), "padding_batch_size": batch_size,
               "padding_mean_tokens": float(lengths.mean()),
               "padding_share_at_max_length": float((lengths == pipes.sequence_length).mean())}
    for policy, picked in orders.items():
        rows = [picked[i:i + batch_size] for i in range(0, len(picked), batch_size)]
        chunks = [[texts[i] for i in row] for row in rows]
        padding = "max_length" if policy == "max_length" else "longest"
        widths = [pipes.sequence_length if padding == "max_length" else int(lengths[row].max()) for row in rows]
        results[f"padding_{policy}_real_token_share"] = float(lengths.sum() / sum(
            w * len(row) for w, row in zip(widths, rows)))
        ours_seconds = _best_seconds(lambda: [pipes.graph_pooled(c, padding) for c in chunks], repeats)
        torch_seconds = _best_seconds(lambda: [pipes.torch_pooled(c, padding) for c in chunks], repeats)
        results[f"padding_{policy}_ours_texts_per_s"] = len(texts) / ours_seconds
        results[f"padding_{policy}_torch_texts_per_s"] = len(texts) / torch_seconds
        results[f"padding_{policy}_ours_vs_torch"] = torch_seconds / ours_seconds
    for policy in ("longest", "sorted"):
        for side in ("ours", "torch"):
            results[f"padding_{policy}_{side}_gain_vs_max_length"] = (
                results[f"padding_{policy}_{side}_texts_per_s"] / results[f"padding_max_length_{side}_texts_per_s"])
    return results


def infer_benchmark(checkpoint: str | None = None, batch_sizes: tuple[int, ...] = (1, 8, 32),
                    sequence_length: int = 128, texts_per_size: int = 128, padding_texts: int = 1024,
                    repeats: int = 3, quick: bool = False) -> dict:
    """Inference speed of bert-keras vs transformers (PyTorch) and keras-hub in one process; see the module doc.

    `checkpoint`: a Hugging Face BERT checkpoint directory (default: the bundled all-MiniLM-L6-v2).
    """
    work = tempfile.mkdtemp(prefix="infer-benchmark-")
    if checkpoint is None:
        checkpoint = tiny_checkpoint(os.path.join(work, "tiny")) if quick else asset_path("minilm")
    peak = matmul_peak(size=512 if quick else 4096, repeats=2 if quick else 5)
    results = {"checkpoint": checkpoint, "sequence_length": sequence_length,
               "tensorflow_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count(),
               "torch_threads": torch.get_num_threads()}
    results.update({f"matmul_peak_{k}_gflop_per_s": v for k, v in peak.items()})
    results["matmul_peak_gflop_per_s"] = max(peak.values())
    pipes = _Pipelines(checkpoint, sequence_length, work)
    results.update(_fixed_shape(pipes, results["matmul_peak_gflop_per_s"], repeats))
    anchor_figures, session = _anchors(pipes, work, repeats)
    results.update(anchor_figures)
    results.update(_text_anchor(pipes, session, batch_sizes, texts_per_size, repeats))
    results.update(_end_to_end(pipes, batch_sizes, texts_per_size, repeats))
    results.update(_padding(pipes, padding_texts, max(batch_sizes), repeats))
    return results
