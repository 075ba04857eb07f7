"""The tokenize benchmark: in-graph tokenize + pack (exact and tflite modes) against transformers' Rust tokenizer.

    python scripts/benchmark.py tokenize [--quick]
"""

from __future__ import annotations

import tensorflow as tf
from transformers import BertTokenizerFast
from transformers.models.bert.tokenization_bert import load_vocab

from bert_keras.assets.corpora import movie_reviews
from bert_keras.benchmarks.fixtures import minilm_vocab
from bert_keras.benchmarks.timing import best_seconds
from bert_keras.text import BertPreprocessor, BertTokenizer

QUICK_ARGS = {"num_texts": 64, "batch_size": 32, "repeats": 1}


def tokenize_benchmark(num_texts: int = 2000, sequence_length: int = 128, batch_size: int = 256,
                       repeats: int = 3) -> dict:
    """In-graph tokenize + pack (exact and tflite modes) vs transformers' BertTokenizerFast (Rust) on real reviews.

    Both sides produce padded token_ids/segment_ids/masks of `sequence_length` for the same texts in batches.
    """
    vocab = minilm_vocab()
    texts = [text for text, _ in movie_reviews(limit=num_texts)]
    batches = [texts[i:i + batch_size] for i in range(0, len(texts), batch_size)]
    tensors = [tf.constant(b) for b in batches]
    reference = BertTokenizerFast(vocab=dict(load_vocab(vocab)))

    def run_reference():
        for batch in batches:
            reference(batch, truncation=True, max_length=sequence_length, padding="max_length")

    results = {"num_texts": len(texts), "sequence_length": sequence_length, "batch_size": batch_size}
    results["reference_texts_per_s"] = len(texts) / best_seconds(run_reference, repeats)
    for mode in ("exact", "tflite"):
        preprocessor = BertPreprocessor(BertTokenizer(vocab, mode=mode), sequence_length=sequence_length)
        fn = tf.function(preprocessor.call, input_signature=[tf.TensorSpec([None], tf.string)])

        def run_ours():
            for batch in tensors:
                fn(batch)["token_ids"].numpy()

        results[f"{mode}_texts_per_s"] = len(texts) / best_seconds(run_ours, repeats)
        results[f"{mode}_ratio"] = results[f"{mode}_texts_per_s"] / results["reference_texts_per_s"]
    return results
