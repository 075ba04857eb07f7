"""The infer benchmark: BERT inference of bert-keras against transformers (PyTorch) and keras-hub, in one process.

    python scripts/benchmark.py infer [--quick]

Four parts, all on the real all-MiniLM-L6-v2 weights and real movie reviews (the quick mode swaps in a tiny random
checkpoint written in the same Hugging Face layout, so the same code runs; see benchmarks/fixtures.py):
- peak: this CPU's float32 matmul peak (the best of TensorFlow, numpy and PyTorch on large square products);
- fixed: the encoder alone at batch 32 x 128 tokens (ids in, pooled vectors out), against PyTorch and keras-hub's
  BertBackbone, with and without XLA, plus bfloat16 mixed precision; achieved GFLOP/s as a fraction of the peak;
- end_to_end: raw text in, pooled vectors out, at batch sizes 1/8/32: our SavedModel, our Keras model called
  eagerly, and transformers' tokenizer + BertModel under inference_mode;
- padding: 1,024 real reviews of their real lengths through the same pipelines, padded to the maximum length, to
  each batch's longest text, and to the longest text of length-sorted batches.
"""

from __future__ import annotations

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
from bert_keras.benchmarks.fixtures import sample_reviews, tiny_checkpoint
from bert_keras.benchmarks.timing import best_seconds
from bert_keras.checkpoints import load_checkpoint
from bert_keras.export import export_saved_model
from bert_keras.modeling import BertEncoder
from bert_keras.modeling.flops import encoder_flops
from bert_keras.precision import global_dtype_policy
from bert_keras.text import BertPreprocessor, BertTokenizer

FIXED_BATCH = 32
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

    def token_lengths(self, texts: list[str]) -> np.ndarray:
        return np.minimum(self.tokenizer.tokenize(texts).row_lengths().numpy() + 2, self.sequence_length)


def _fixed_shape(pipes: _Pipelines, peak: float, repeats: int) -> dict:
    """Encoder only, batch 32 x `sequence_length` real tokens (no padding), ids in and pooled vectors out."""
    length = pipes.sequence_length
    texts = [t for t in sample_reviews(2000, seed=1) if len(t) > 8 * length]  # long reviews: >= `length` tokens
    ids = {k: v.numpy() for k, v in pipes.preprocessors["max_length"](tf.constant(texts[:4 * FIXED_BATCH])).items()}
    full = ids["padding_mask"].sum(1) == length
    ids = {k: v[full][:FIXED_BATCH] for k, v in ids.items()}
    if len(ids["token_ids"]) < FIXED_BATCH:
        raise RuntimeError(f"found only {len(ids['token_ids'])} reviews of {length} tokens for the fixed batch")
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

    with global_dtype_policy("mixed_bfloat16"):
        bf16 = BertEncoder(config)
    bf16.set_weights(pipes.encoder.get_weights())
    ours_bf16 = tf.function(lambda x: bf16(x, training=False)["pooled_output"], input_signature=[spec])
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
    results.update(_end_to_end(pipes, batch_sizes, texts_per_size, repeats))
    results.update(_padding(pipes, padding_texts, max(batch_sizes), repeats))
    return results
