"""The export benchmark: a fine-tuned classifier exported as SavedModel and TFLite, each checked against the Keras
model on held-out real reviews in the same run (fidelity, int8 agreement, sizes, per-text latency).

    python scripts/benchmark.py export [--quick]     # default model: runs/reviews/model (scripts/main_job.sh)
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import tensorflow as tf

from bert_keras.assets.corpora import movie_reviews
from bert_keras.benchmarks.fixtures import DEFAULT_DATA, DEFAULT_MODEL, tiny_classifier
from bert_keras.benchmarks.timing import median_ms
from bert_keras.export import export_saved_model, export_tflite
from bert_keras.export.tflite_runner import TfliteModel
from bert_keras.tasks import load_trained_task

QUICK_ARGS = {"quick": True, "held_out": 50, "latency_texts": 10}


def export_benchmark(model: str | None = None, data: str | None = None, held_out: int = 500,
                     latency_texts: int = 100, quick: bool = False) -> dict:
    """Export `model` (a fine-tuned classifier directory) and measure the exports against it on `data`."""
    work = tempfile.mkdtemp(prefix="export-benchmark-")
    model = tiny_classifier(work) if quick else (model or DEFAULT_MODEL)
    if not os.path.isfile(os.path.join(model, "task.json")):
        raise FileNotFoundError(f"{model}: no fine-tuned model; run scripts/main_job.sh first or pass --model")
    trained = load_trained_task(model)
    if data or (os.path.isfile(DEFAULT_DATA) and not quick):
        texts = trained.task.read(data or DEFAULT_DATA, labelled=False).texts[:held_out]
    else:
        texts = [t for t, _ in movie_reviews()[-held_out:]]
    results = {"model": os.path.abspath(model), "held_out_texts": len(texts)}

    start = time.perf_counter()
    saved = export_saved_model(model, os.path.join(work, "serving"), "reviews")
    results["saved_model_export_s"] = time.perf_counter() - start
    start = time.perf_counter()
    lite = export_tflite(model, os.path.join(work, "tflite"))
    results["tflite_export_s"] = time.perf_counter() - start
    results.update({f"tflite_{k}_mb": v / 2 ** 20 for k, v in lite.sizes.items()})

    serving = tf.saved_model.load(saved.path).signatures["serving_default"]
    preprocessor = trained.task.preprocessor()
    runners = {v: TfliteModel(lite.paths[v]) for v in lite.paths}
    logits = {k: [] for k in ("keras", "saved_model", *runners)}
    for i in range(0, len(texts), 25):
        batch = np.array(texts[i:i + 25], dtype=object)
        inputs = {k: v.numpy() for k, v in preprocessor(batch).items()}
        logits["keras"].append(trained.model(inputs).numpy())
        logits["saved_model"].append(serving(text=tf.constant(batch))["logits"].numpy())
        for variant, runner in runners.items():
            if variant == "text":
                logits[variant].extend(runner(text=batch[j:j + 1])["logits"] for j in range(len(batch)))
            else:
                logits[variant].append(runner(**inputs)["logits"])
    logits = {k: np.concatenate(v) for k, v in logits.items()}
    decisions = {k: v.argmax(-1) for k, v in logits.items()}
    results["saved_model_max_abs_diff"] = float(np.abs(logits["saved_model"] - logits["keras"]).max())
    results["tflite_float32_max_abs_diff"] = float(np.abs(logits["float32"] - logits["keras"]).max())
    for variant in ("float16", "int8", "text"):
        results[f"tflite_{variant}_argmax_agreement"] = float((decisions[variant] == decisions["float32"]).mean())

    sample = texts[:latency_texts]
    inputs_of = {t: {k: v.numpy() for k, v in preprocessor(np.array([t], dtype=object)).items()} for t in sample}
    results["latency_ms_saved_model"] = median_ms(lambda t: serving(text=tf.constant([t])), sample)
    for variant, runner in runners.items():
        if variant == "text":
            results["latency_ms_tflite_text"] = median_ms(
                lambda t: runner(text=np.array([t.encode()], dtype=object)), sample)
        else:
            results[f"latency_ms_tflite_{variant}_ids"] = median_ms(lambda t: runner(**inputs_of[t]), sample)
    results["int8_latency_ratio"] = results["latency_ms_tflite_int8_ids"] / results["latency_ms_tflite_float32_ids"]
    results.update(_bfloat16_figures(model, os.path.join(work, "serving"), serving, texts, logits["saved_model"]))
    return results


def _bfloat16_figures(model: str, base: str, float32_signature, texts: list[str], float32_logits) -> dict:
    """The bfloat16 SavedModel of `model` against the float32 one: decisions, logits and batched throughput."""
    export = export_saved_model(model, base, "reviews-bfloat16", precision="bfloat16")
    signature = tf.saved_model.load(export.path).signatures["serving_default"]
    logits = np.concatenate([signature(text=tf.constant(texts[i:i + 25]))["logits"].numpy()
                             for i in range(0, len(texts), 25)])
    batches = [tf.constant(texts[i:i + 32]) for i in range(0, len(texts) - 31, 32)]
    rates = {}
    for label, run in (("float32", float32_signature), ("bfloat16", signature)):
        run(text=batches[0])
        start = time.perf_counter()
        for batch in batches:
            run(text=batch)
        rates[label] = 32 * len(batches) / (time.perf_counter() - start)
    return {"bfloat16_argmax_agreement": float((logits.argmax(-1) == float32_logits.argmax(-1)).mean()),
            "bfloat16_max_abs_logit_diff": float(np.abs(logits - float32_logits).max()),
            "saved_model_float32_batch32_texts_per_s": rates["float32"],
            "saved_model_bfloat16_batch32_texts_per_s": rates["bfloat16"],
            "bfloat16_speedup": rates["bfloat16"] / rates["float32"]}
