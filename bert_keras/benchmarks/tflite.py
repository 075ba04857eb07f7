"""The tflite benchmark: the real MiniLM as TFLite float32 / float16 / int8 (and tokenizer-inside) models against
its SavedModel, in one process: file sizes, per-text latency, and how close the vectors stay.

    python scripts/benchmark.py tflite [--quick]

The model is the bundled all-MiniLM-L6-v2 checkpoint exported as an embedding model (no fine-tuning needed);
`bert-keras benchmark export` measures the same variants on the main job's fine-tuned classifier, with its
decisions.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import tensorflow as tf

from bert_keras.assets import asset_path
from bert_keras.benchmarks.fixtures import sample_reviews, tiny_checkpoint
from bert_keras.benchmarks.timing import median_ms
from bert_keras.export import export_saved_model, export_tflite, load_export_source
from bert_keras.export.tflite_runner import TfliteModel
from bert_keras.text import BertPreprocessor, BertTokenizer

QUICK_ARGS = {"quick": True, "num_texts": 12, "latency_texts": 6, "sequence_length": 32}


def _directory_mb(path: str) -> float:
    """Total size of the files under `path`, in MiB."""
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files) / 2 ** 20


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two [n, d] arrays."""
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def tflite_benchmark(checkpoint: str | None = None, num_texts: int = 200, latency_texts: int = 100,
                     sequence_length: int = 128, quick: bool = False) -> dict:
    """Export `checkpoint` (default: the bundled MiniLM) as SavedModel and TFLite and compare them on reviews."""
    work = tempfile.mkdtemp(prefix="tflite-benchmark-")
    if checkpoint is None:
        checkpoint = tiny_checkpoint(os.path.join(work, "tiny")) if quick else asset_path("minilm")
    texts = sample_reviews(num_texts, seed=4)
    threads = os.cpu_count() or 1
    results = {"checkpoint": checkpoint, "texts": len(texts), "latency_texts": min(latency_texts, len(texts)),
               "sequence_length": sequence_length, "tflite_threads": threads}

    source = load_export_source(checkpoint, task="embed", max_seq_length=sequence_length)  # loaded once for both
    saved = export_saved_model(source, os.path.join(work, "saved_model"), "minilm")
    lite = export_tflite(source, os.path.join(work, "tflite"))
    results["saved_model_mb"] = _directory_mb(saved.path)
    results.update({f"tflite_{variant}_mb": size / 2 ** 20 for variant, size in lite.sizes.items()})

    loaded = tf.saved_model.load(saved.path)
    by_text, by_ids = loaded.signatures["serving_default"], loaded.signatures["predict_ids"]
    preprocessor = BertPreprocessor(BertTokenizer(os.path.join(saved.path, "assets", "vocab.txt")),
                                    sequence_length, padding="longest")
    ids = [{k: v.numpy() for k, v in preprocessor(tf.constant([text])).items()} for text in texts]
    runners = {variant: TfliteModel(path, num_threads=threads) for variant, path in lite.paths.items()}

    reference = np.concatenate([by_text(text=tf.constant([t]))["pooled_output"].numpy() for t in texts])
    pooled = {}
    for variant, runner in runners.items():
        if variant == "text":
            rows = [runner(text=np.array([t.encode()], dtype=object))["pooled_output"] for t in texts]
        else:
            rows = [runner(**inputs)["pooled_output"] for inputs in ids]
        pooled[variant] = np.concatenate(rows)
    results["tflite_float32_max_abs_diff"] = float(np.abs(pooled["float32"] - reference).max())
    for variant in ("float16", "int8", "text"):
        cosine = _cosine(pooled[variant], reference)
        results[f"tflite_{variant}_cosine_mean"] = float(cosine.mean())
        results[f"tflite_{variant}_cosine_min"] = float(cosine.min())

    sample = list(range(results["latency_texts"]))
    results["latency_ms_saved_model_text"] = median_ms(lambda i: by_text(text=tf.constant([texts[i]])), sample)
    tensors = [{k: tf.constant(v) for k, v in inputs.items()} for inputs in ids]
    results["latency_ms_saved_model_ids"] = median_ms(lambda i: by_ids(**tensors[i]), sample)
    for variant, runner in runners.items():
        if variant == "text":
            results["latency_ms_tflite_text"] = median_ms(
                lambda i: runner(text=np.array([texts[i].encode()], dtype=object)), sample)
        else:
            results[f"latency_ms_tflite_{variant}"] = median_ms(lambda i: runner(**ids[i]), sample)
    float_ms = results["latency_ms_tflite_float32"]
    for variant in ("float16", "int8"):
        results[f"tflite_{variant}_latency_vs_float32"] = results[f"latency_ms_tflite_{variant}"] / float_ms
        results[f"tflite_{variant}_size_vs_float32"] = lite.sizes[variant] / lite.sizes["float32"]
    results["tflite_float32_latency_vs_saved_model_ids"] = float_ms / results["latency_ms_saved_model_ids"]
    results["tflite_int8_latency_vs_saved_model_ids"] = (results["latency_ms_tflite_int8"]
                                                         / results["latency_ms_saved_model_ids"])
    results["tflite_text_latency_vs_saved_model_text"] = (results["latency_ms_tflite_text"]
                                                          / results["latency_ms_saved_model_text"])
    return results
