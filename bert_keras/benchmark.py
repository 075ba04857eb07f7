"""Benchmarks that compare bert-keras with a reference in the same run (ratios, not absolute timings).

Each benchmark returns a dict of figures and prints a small table; `scripts/benchmark.py` and
`bert-keras benchmark` call them and write the dict as JSON.
"""

from __future__ import annotations

import time
from typing import Callable


def best_seconds(fn: Callable[[], object], repeats: int, warmups: int = 1) -> float:
    """Fastest of `repeats` timed calls after `warmups` untimed ones (tracing, caches)."""
    for _ in range(warmups):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def median_ms(fn: Callable[[object], object], items) -> float:
    """Median milliseconds of `fn(item)` over `items`, after one warm-up call on the first."""
    import statistics

    fn(items[0])
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def sample_reviews(count: int, seed: int = 0) -> list[str]:
    """`count` real movie reviews, a seeded random sample (IMDB and Rotten Tomatoes, their real lengths)."""
    import numpy as np

    from bert_keras.assets.corpora import movie_reviews

    rows = movie_reviews()
    return [rows[i][0] for i in np.random.default_rng(seed).permutation(len(rows))[:count]]


def tokenize_benchmark(num_texts: int = 2000, sequence_length: int = 128, batch_size: int = 256,
                       repeats: int = 3) -> dict:
    """In-graph tokenize + pack (exact and tflite modes) vs transformers' BertTokenizerFast (Rust) on real reviews.

    Both sides produce padded token_ids/segment_ids/masks of `sequence_length` for the same texts in batches.
    """
    import tensorflow as tf
    from transformers import BertTokenizerFast
    from transformers.models.bert.tokenization_bert import load_vocab

    from bert_keras.assets import asset_path
    from bert_keras.assets.corpora import movie_reviews
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


# MiniLM's shape (all-MiniLM-L6-v2): the model the train and infer benchmarks time.
MINILM_SHAPE = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                    intermediate_size=1536, max_position_embeddings=512)
QUICK_SHAPE = dict(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                   intermediate_size=64, max_position_embeddings=64)


def _pretraining_batch(vocab_size: int, batch_size: int, sequence_length: int, predictions: int, seed: int = 0):
    """Random full-length pairs with `predictions` masked positions per row (same data for both frameworks)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, vocab_size, (batch_size, sequence_length)).astype("int32")
    segment_ids = (np.arange(sequence_length)[None, :] >= sequence_length // 2).astype("int32").repeat(batch_size, 0)
    positions = np.sort(np.stack([rng.choice(np.arange(1, sequence_length), predictions, replace=False)
                                  for _ in range(batch_size)]), axis=1).astype("int32")
    mask_ids = np.take_along_axis(token_ids, positions, axis=1)
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": np.ones_like(token_ids),
            "mask_positions": positions, "mask_ids": mask_ids,
            "next_sentence_label": rng.integers(0, 2, batch_size).astype("int32")}


def _time_keras_training(shape: dict, batch: dict, steps: int, jit_compile: bool) -> float:
    """Examples/s of BertPretrainer.fit on a fixed batch: one warm-up epoch (tracing), one timed epoch."""
    import keras
    import numpy as np
    import tensorflow as tf

    from bert_keras.config import BertConfig
    from bert_keras.modeling import BertEncoder
    from bert_keras.modeling.pretrainer import BertPretrainer
    from bert_keras.training.optimizer import OptimizerConfig, create_optimizer

    keras.utils.set_random_seed(0)
    model = BertPretrainer(BertEncoder(BertConfig(**shape)))
    model.compile(optimizer=create_optimizer(OptimizerConfig(train_steps=10 * steps, warmup_steps=steps)),
                  jit_compile=jit_compile)
    x = {k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
    y = {"mlm": batch["mask_ids"], "nsp": batch["next_sentence_label"]}
    weights = {"mlm": np.ones(batch["mask_ids"].shape, "float32"),
               "nsp": np.ones(batch["next_sentence_label"].shape, "float32")}
    data = tf.data.Dataset.from_tensors((x, y, weights)).repeat()
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            times.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            times[-1] = time.perf_counter() - times[-1]

    model.fit(data, epochs=2, steps_per_epoch=steps, verbose=0, callbacks=[Timer()], shuffle=False)
    return steps * len(batch["token_ids"]) / times[-1]


def _time_torch_training(shape: dict, batch: dict, steps: int, gathered: bool = False) -> float:
    """Examples/s of a plain PyTorch loop over transformers' BertForPreTraining (AdamW, clip 1.0) on the batch.

    `gathered=False` is the stock model call (its MLM head scores every position, then the loss keeps the
    masked ones); `gathered=True` applies the same head to the masked positions only, as Google's BERT and
    ours do: the like-for-like reference for our compute.
    """
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(**shape)
    model = transformers.BertForPreTraining(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, eps=1e-6)
    positions = torch.tensor(batch["mask_positions"], dtype=torch.long)
    mask_ids = torch.tensor(batch["mask_ids"], dtype=torch.long)
    nsp_labels = torch.tensor(batch["next_sentence_label"], dtype=torch.long)
    labels = torch.full(batch["token_ids"].shape, -100, dtype=torch.long)
    labels.scatter_(1, positions, mask_ids)
    inputs = dict(input_ids=torch.tensor(batch["token_ids"], dtype=torch.long),
                  token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long),
                  attention_mask=torch.tensor(batch["padding_mask"], dtype=torch.long))
    cross_entropy = torch.nn.CrossEntropyLoss()

    def loss():
        if not gathered:
            return model(**inputs, labels=labels, next_sentence_label=nsp_labels).loss
        sequence, pooled = model.bert(**inputs)[:2]
        picked = torch.gather(sequence, 1, positions.unsqueeze(-1).expand(-1, -1, sequence.shape[-1]))
        mlm_logits = model.cls.predictions(picked)
        return (cross_entropy(mlm_logits.reshape(-1, config.vocab_size), mask_ids.reshape(-1))
                + cross_entropy(model.cls.seq_relationship(pooled), nsp_labels))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * len(batch["token_ids"]) / (time.perf_counter() - start)


def train_benchmark(batch_size: int = 32, sequence_length: int = 128, predictions: int = 20, steps: int = 10,
                    quick: bool = False) -> dict:
    """Pretraining examples/s (MLM + NSP, MiniLM shape) of BertPretrainer.fit, XLA off and on, vs PyTorch loops
    over transformers' BertForPreTraining (stock call, and its heads on the masked positions only), same shape,
    batch and data, in the same process. Ratios are against the stock call (what a user runs) and against the
    gathered loop (the same arithmetic as ours)."""
    import os

    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    shape = QUICK_SHAPE if quick else MINILM_SHAPE
    batch = _pretraining_batch(shape["vocab_size"], batch_size, sequence_length, predictions)
    results = {"shape": "quick" if quick else "MiniLM-L6-H384", "batch_size": batch_size,
               "sequence_length": sequence_length, "predictions_per_sequence": predictions, "steps": steps,
               "torch_threads": torch.get_num_threads()}
    results["torch_examples_per_s"] = _time_torch_training(shape, batch, steps)
    results["torch_gathered_examples_per_s"] = _time_torch_training(shape, batch, steps, gathered=True)
    for label, jit in (("keras", False), ("keras_xla", True)):
        results[f"{label}_examples_per_s"] = _time_keras_training(shape, batch, steps, jit)
        results[f"{label}_ratio"] = results[f"{label}_examples_per_s"] / results["torch_examples_per_s"]
        results[f"{label}_ratio_vs_gathered"] = (results[f"{label}_examples_per_s"]
                                                 / results["torch_gathered_examples_per_s"])
    return results


def pretrain_benchmark(train_documents: int = 2000, held_out_documents: int = 300, vocab_size: int = 4000,
                       train_steps: int = 1000, sequence_length: int = 64, predictions: int = 10) -> dict:
    """Pretraining quality on real movie reviews: learn a vocab from `train_documents` reviews, pretrain a small
    BERT (2 layers, hidden 64) with `model.fit`, then masked-LM accuracy on held-out reviews against the
    unigram baseline on the very same targets (the best constant guess: the most frequent target token)."""
    import os
    import tempfile

    import numpy as np

    from bert_keras.config import BertConfig
    from bert_keras.assets.corpora import review_documents, write_pretraining_corpus
    from bert_keras.data.pretraining import PairConfig, build_pretraining_arrays, pretraining_dataset
    from bert_keras.text import BertTokenizer, learn_wordpiece_vocab, write_vocab_file
    from bert_keras.text.masking import MaskedLMMasker
    from bert_keras.training.pretraining import PretrainingConfig, build_pretraining

    with tempfile.TemporaryDirectory() as root:
        corpus = write_pretraining_corpus(os.path.join(root, "corpus.txt"), review_documents(limit=train_documents))
        held_out = write_pretraining_corpus(os.path.join(root, "held_out.txt"), review_documents(
            limit=held_out_documents, skip=train_documents))
        start = time.perf_counter()
        vocab = write_vocab_file(learn_wordpiece_vocab([corpus], vocab_size), os.path.join(root, "vocab.txt"))
        vocab_seconds = time.perf_counter() - start
        bert_config = os.path.join(root, "bert_config.json")
        BertConfig(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                   intermediate_size=256, max_position_embeddings=sequence_length).save_hf_json(bert_config)
        run = build_pretraining(PretrainingConfig(
            vocab=vocab, inputs=[corpus], bert_config=bert_config, output_dir=os.path.join(root, "run"),
            max_seq_length=sequence_length, max_predictions_per_seq=predictions, batch_size=32,
            train_steps=train_steps, steps_per_epoch=max(train_steps // 4, 1), warmup_steps=train_steps // 10,
            learning_rate=4e-3, verbose=0))
        start = time.perf_counter()
        run.model.fit(run.dataset, **run.fit_kwargs)
        fit_seconds = time.perf_counter() - start
        pairs = build_pretraining_arrays([held_out], BertTokenizer(vocab), PairConfig(max_seq_length=sequence_length,
                                                                                       seed=1))
        batches = pretraining_dataset(pairs, MaskedLMMasker(vocab, max_predictions=predictions), 32,
                                      shuffle_buffer=0, repeat=False, seed=7)
        scores = run.model.evaluate(batches, return_dict=True, verbose=0)
    targets = np.concatenate([y["mlm"].numpy()[w["mlm"].numpy() > 0] for _, y, w in batches])
    unigram = float(np.bincount(targets).max() / len(targets))
    return {"train_documents": train_documents, "vocab_size": vocab_size, "train_steps": train_steps,
            "vocab_seconds": vocab_seconds, "fit_seconds": fit_seconds, "held_out_targets": int(len(targets)),
            "held_out_mlm_accuracy": scores["mlm_accuracy"], "unigram_baseline_accuracy": unigram,
            "accuracy_ratio": scores["mlm_accuracy"] / unigram, "held_out_mlm_loss": scores["mlm_loss"],
            "uniform_guess_loss": float(np.log(vocab_size)), "held_out_nsp_accuracy": scores["nsp_accuracy"]}


def print_table(name: str, results: dict) -> None:
    """Print a benchmark's figures as aligned `key  value` lines."""
    print(f"== {name}")
    for key, value in results.items():
        if isinstance(value, float):
            if abs(value) >= 10:
                value = f"{value:,.2f}"
            elif value == 0 or abs(value) >= 1e-3:
                value = f"{value:.4f}"  # accuracies and ratios: 4 places
            else:
                value = f"{value:.2e}"  # differences between implementations
        print(f"  {key:32s} {value}")


# name -> (module, function), imported when run: one benchmark does not pay for another's imports.
BENCHMARKS = {"tokenize": ("bert_keras.benchmark", "tokenize_benchmark"),
              "infer": ("bert_keras.inference_benchmark", "infer_benchmark"),
              "train": ("bert_keras.benchmark", "train_benchmark"),
              "serve": ("bert_keras.serving_benchmark", "serve_benchmark"),
              "tflite": ("bert_keras.tflite_benchmark", "tflite_benchmark"),
              "pretrain": ("bert_keras.benchmark", "pretrain_benchmark"),
              "finetune": ("bert_keras.finetune_recipes", "finetune_benchmark"),
              "export": ("bert_keras.export_benchmark", "export_benchmark")}
QUICK_ARGS = {"tokenize": {"num_texts": 64, "batch_size": 32, "repeats": 1},
              "infer": {"quick": True, "batch_sizes": (1, 4), "texts_per_size": 8, "padding_texts": 24,
                        "repeats": 1, "sequence_length": 32},
              "pretrain": {"train_documents": 150, "held_out_documents": 60, "vocab_size": 800, "train_steps": 4},
              "train": {"batch_size": 4, "sequence_length": 16, "predictions": 3, "steps": 2, "quick": True},
              "finetune": {"quick": True},
              "export": {"quick": True, "held_out": 50, "latency_texts": 10},
              "serve": {"quick": True, "num_texts": 64},
              "tflite": {"quick": True, "num_texts": 12, "latency_texts": 6, "sequence_length": 32}}
# Command-line options -> the keyword each benchmark takes; a benchmark without that keyword refuses the option.
PATH_OPTIONS = {"model": "a fine-tuned model directory (export, serve; default runs/reviews/model)",
                "data": "a labelled CSV of held-out texts (export; default data/reviews/test.csv)",
                "checkpoint": "a Hugging Face BERT checkpoint directory (infer, tflite; default the bundled "
                              "all-MiniLM-L6-v2)"}


def add_benchmark_arguments(parser) -> None:
    """The arguments `scripts/benchmark.py` and `bert-keras benchmark` share."""
    parser.add_argument("name", choices=list(BENCHMARKS), help="which benchmark")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs, figures meaningless")
    parser.add_argument("--json", default=None, help="where to write the figures (default out/benchmarks/NAME.json)")
    for option, text in PATH_OPTIONS.items():
        parser.add_argument(f"--{option}", default=None, help=text)


def run_benchmark(name: str, quick: bool = False, json_path: str | None = None, **paths: str | None) -> dict:
    """Run benchmark `name` (its quick sizes with `quick`), print its table and write its figures as JSON.

    `paths` are the `PATH_OPTIONS` given on the command line (None = not given).
    """
    import importlib
    import inspect
    import json
    import os

    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; expected one of {list(BENCHMARKS)}")
    module, function_name = BENCHMARKS[name]
    function = getattr(importlib.import_module(module), function_name)
    accepted = inspect.signature(function).parameters
    kwargs = dict(QUICK_ARGS[name]) if quick else {}
    for option, value in paths.items():
        if value is None:
            continue
        if option not in accepted:
            options = [f"--{p}" for p in PATH_OPTIONS if p in accepted]
            raise ValueError(f"benchmark {name!r} takes no --{option} (its path options: {options or 'none'})")
        kwargs[option] = value
    results = function(**kwargs)
    print_table(name, results)
    path = json_path or os.path.join("out", "benchmarks", f"{name}.json")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {path}")
    return results
