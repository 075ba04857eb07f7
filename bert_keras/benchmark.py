"""Benchmarks that compare bert-keras with a reference in the same run (ratios, not absolute timings).

Each benchmark returns a dict of figures and prints a small table; `scripts/benchmark.py` and
`bert-keras benchmark` call them and write the dict as JSON.
"""

from __future__ import annotations

import time
from typing import Callable


def _best_time(fn: Callable[[], object], repeats: int) -> float:
    """Fastest of `repeats` timed calls after one warm-up call (tracing, caches)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def tokenize_benchmark(num_texts: int = 2000, sequence_length: int = 128, batch_size: int = 256,
                       repeats: int = 3) -> dict:
    """In-graph tokenize + pack (exact and tflite modes) vs transformers' BertTokenizerFast (Rust) on real reviews.

    Both sides produce padded token_ids/segment_ids/masks of `sequence_length` for the same texts in batches.
    """
    import tensorflow as tf
    from transformers import BertTokenizerFast
    from transformers.models.bert.tokenization_bert import load_vocab

    from bert_keras.assets import asset_path
    from bert_keras.corpora import movie_reviews
    from bert_keras.text import BertPreprocessor, BertTokenizer

    vocab = asset_path("minilm") + "/vocab.txt"
    texts = [text for text, _ in movie_reviews(limit=num_texts)]
    batches = [texts[i:i + batch_size] for i in range(0, len(texts), batch_size)]
    tensors = [tf.constant(b) for b in batches]
    reference = BertTokenizerFast(vocab=dict(load_vocab(vocab)))

    def run_reference():
        for batch in batches:
            reference(batch, truncation=True, max_length=sequence_length, padding="max_length")

    results = {"num_texts": len(texts), "sequence_length": sequence_length, "batch_size": batch_size}
    results["reference_texts_per_s"] = len(texts) / _best_time(run_reference, repeats)
    for mode in ("exact", "tflite"):
        preprocessor = BertPreprocessor(BertTokenizer(vocab, mode=mode), sequence_length=sequence_length)
        fn = tf.function(preprocessor.call, input_signature=[tf.TensorSpec([None], tf.string)])

        def run_ours():
            for batch in tensors:
                fn(batch)["token_ids"].numpy()

        results[f"{mode}_texts_per_s"] = len(texts) / _best_time(run_ours, repeats)
        results[f"{mode}_ratio"] = results[f"{mode}_texts_per_s"] / results["reference_texts_per_s"]
    return results


def print_table(name: str, results: dict) -> None:
    """Print a benchmark's figures as aligned `key  value` lines."""
    print(f"== {name}")
    for key, value in results.items():
        print(f"  {key:28s} {value:,.2f}" if isinstance(value, float) else f"  {key:28s} {value}")


BENCHMARKS = {"tokenize": tokenize_benchmark}
QUICK_ARGS = {"tokenize": {"num_texts": 64, "batch_size": 32, "repeats": 1}}
