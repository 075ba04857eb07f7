"""The train benchmark: pretraining examples/s of BertPretrainer.fit (XLA off and on) against PyTorch loops over
transformers' BertForPreTraining, same shape, batch and data, in the same process.

    python scripts/benchmark.py train [--quick]
"""

from __future__ import annotations

import os
import time

import keras
import numpy as np
import tensorflow as tf
import torch
import transformers

from bert_keras.config import BertConfig
from bert_keras.modeling import BertEncoder
from bert_keras.modeling.pretrainer import BertPretrainer
from bert_keras.training.optimizer import OptimizerConfig, create_optimizer

# MiniLM's shape (all-MiniLM-L6-v2): the model the train and infer benchmarks time.
MINILM_SHAPE = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                    intermediate_size=1536, max_position_embeddings=512)
QUICK_SHAPE = dict(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                   intermediate_size=64, max_position_embeddings=64)
QUICK_ARGS = {"batch_size": 4, "sequence_length": 16, "predictions": 3, "steps": 2, "quick": True}


def _pretraining_batch(vocab_size: int, batch_size: int, sequence_length: int, predictions: int, seed: int = 0):
    """Random full-length pairs with `predictions` masked positions per row (same data for both frameworks)."""
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
