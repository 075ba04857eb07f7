"""The pretrain benchmark: pretraining quality on real movie reviews against the unigram baseline.

    python scripts/benchmark.py pretrain [--quick]
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from bert_keras.assets.corpora import review_documents, write_pretraining_corpus
from bert_keras.config import BertConfig
from bert_keras.data.pair_config import PairConfig
from bert_keras.data.pretraining import build_pretraining_arrays, pretraining_dataset
from bert_keras.text import BertTokenizer, learn_wordpiece_vocab, write_vocab_file
from bert_keras.text.masking import MaskedLMMasker
from bert_keras.training.pretraining import build_pretraining
from bert_keras.training.pretraining_config import PretrainingConfig

QUICK_ARGS = {"train_documents": 150, "held_out_documents": 60, "vocab_size": 800, "train_steps": 4}


def pretrain_benchmark(train_documents: int = 2000, held_out_documents: int = 300, vocab_size: int = 4000,
                       train_steps: int = 1000, sequence_length: int = 64, predictions: int = 10) -> dict:
    """Pretraining quality on real movie reviews: learn a vocab from `train_documents` reviews, pretrain a small
    BERT (2 layers, hidden 64) with `model.fit`, then masked-LM accuracy on held-out reviews against the
    unigram baseline on the very same targets (the best constant guess: the most frequent target token)."""
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
