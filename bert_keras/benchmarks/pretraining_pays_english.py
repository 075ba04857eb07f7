"""The pretraining-pays benchmark in English, smaller: all-MiniLM-L6-v2 pretrained further (MLM + NSP, fresh heads)
on the movie-review training texts, against MiniLM as is, both fine-tuned with the main job's classify recipe and
scored on the held-out reviews.

all-MiniLM-L6-v2 is a sentence-embedding model: it ships no masked-LM head, so the continued pretraining starts
its MLM and NSP heads from fresh weights (the MLM output layer tied to MiniLM's word embeddings). Stages, each kept
in WORK_DIR (default out/pretraining-pays-english) and skipped when done, so a rerun resumes:
    data        `bert-keras datasets reviews`: the seeded train / test split of the 33,530 reviews
    corpus      the training reviews, less any whose text is also a test review; one sentence a line, one
                review a document
    shards      `bert-keras pretrain-data` with MiniLM's vocab
    pretrain    `bert-keras pretrain --init-checkpoint MINILM`, backed up every 100 steps
    finetune    the classify recipe (RECIPES["classify"], the main job's) from MiniLM as is and from the
                continued checkpoint, the same seed

    nohup bert-keras benchmark pretraining-pays-english > out/pretraining-pays-english.log 2>&1 &   # ~50 minutes
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile

from bert_keras.assets import asset_path
from bert_keras.assets.corpora import text_documents, write_pretraining_corpus
from bert_keras.assets.datasets import write_dataset
from bert_keras.benchmarks.finetune import recipe_settings
from bert_keras.benchmarks.fixtures import tiny_checkpoint
from bert_keras.benchmarks.pretraining_pays import finetune_stage, pretrain_stage
from bert_keras.data.pair_config import PairConfig
from bert_keras.data.pretraining import METADATA_FILE, read_pretraining_metadata, write_pretraining_tfrecords
from bert_keras.text import BertTokenizer

DEFAULT_WORK_DIR = os.path.join("out", "pretraining-pays-english")
SEED = 0
# Continued pretraining: 800 steps of 32 sequences of 128 (about 17 minutes here; ~0.4 of a pass over the pairs),
# at a fine-tuning-sized learning rate with warmup, so the fresh heads' first gradients do not wreck the encoder.
PRETRAIN = dict(max_seq_length=128, max_predictions_per_seq=20, batch_size=32, train_steps=800,
                steps_per_epoch=100, warmup_steps=80, learning_rate=5e-5, backup_every_steps=100, seed=SEED,
                verbose=2)
DUPE_FACTOR, NUM_SHARDS = 1, 4
INITS = ("as_is", "continued")
# --quick: a tiny random "MiniLM", a few reviews and steps (checks that every stage runs; figures meaningless).
QUICK_PRETRAIN = dict(max_seq_length=32, max_predictions_per_seq=4, batch_size=8, train_steps=4, steps_per_epoch=2,
                      warmup_steps=1, backup_every_steps=None, verbose=0)
QUICK_DOCUMENTS, QUICK_TEST_EXAMPLES = 60, 16
QUICK_ARGS = {"quick": True}


def _reviews(work_dir: str, quick: bool) -> dict[str, str]:
    paths = write_dataset("reviews", os.path.join(work_dir, "data"), seed=SEED)
    if quick:
        paths = {split: _sample(path, QUICK_DOCUMENTS if split == "train" else QUICK_TEST_EXAMPLES)
                 for split, path in paths.items()}
    return paths


def _sample(path: str, count: int) -> str:
    """A copy of a review CSV with every k-th row, about `count` of them (quick runs: both labels)."""
    out = f"{os.path.splitext(path)[0]}.sample{count}.csv"
    with open(path, encoding="utf-8", newline="") as f, open(out, "w", encoding="utf-8", newline="") as g:
        header, *rows = list(csv.reader(f))
        csv.writer(g).writerows([header, *rows[::max(1, len(rows) // count)][:count]])
    return out


def _texts(path: str) -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        return [row["text"] for row in csv.DictReader(f)]


def _corpus(work_dir: str, train_file: str, test_file: str) -> tuple[str, int, int]:
    """The pretraining text: each training review as a document, less those that are also a test review (the
    reviews repeat a few texts, which the seeded split can put on both sides); (path, documents, dropped)."""
    test = set(_texts(test_file))
    train = _texts(train_file)
    kept = [text for text in train if text not in test]
    documents = text_documents(kept)
    path = os.path.join(work_dir, "corpus", "reviews_train.txt")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        staging = path + ".partial"
        write_pretraining_corpus(staging, documents)
        os.replace(staging, path)
    return path, len(documents), len(train) - len(kept)


def _shards(work_dir: str, corpus: str, vocab: str, max_seq_length: int) -> str:
    directory = os.path.join(work_dir, "shards")
    if not os.path.exists(os.path.join(directory, METADATA_FILE)):
        write_pretraining_tfrecords([corpus], directory, BertTokenizer(vocab), PairConfig(
            max_seq_length=max_seq_length, dupe_factor=DUPE_FACTOR, seed=SEED), num_shards=NUM_SHARDS)
    return directory


def pretraining_pays_english_benchmark(work_dir: str | None = None, quick: bool = False) -> dict:
    """Every stage of the module docstring (skipping the finished ones) and the figures: held-out review accuracy
    from MiniLM as is and after continued pretraining, the gain, pretraining time and tokens seen."""
    root = tempfile.mkdtemp(prefix="bert-keras-pays-en-") if quick else None
    work_dir = work_dir or root or DEFAULT_WORK_DIR
    os.makedirs(work_dir, exist_ok=True)
    as_is = tiny_checkpoint(os.path.join(work_dir, "tiny")) if quick else asset_path("minilm")
    vocab = os.path.join(as_is, "vocab.txt")
    settings = {**PRETRAIN, **(QUICK_PRETRAIN if quick else {}), "init_checkpoint": as_is}
    paths = _reviews(work_dir, quick)
    corpus, documents, dropped = _corpus(work_dir, paths["train"], paths["test"])
    shards = _shards(work_dir, corpus, vocab, settings["max_seq_length"])
    continued, seconds = pretrain_stage(work_dir, shards, vocab, settings)
    steps, batch, length = (settings[k] for k in ("train_steps", "batch_size", "max_seq_length"))
    metadata = read_pretraining_metadata(shards)
    results: dict = {"work_dir": work_dir, "corpus_reviews": documents,
                     "corpus_reviews_dropped_as_test_text": dropped, "pretrain_pairs": metadata["num_pairs"],
                     "pretrain_steps": steps, "pretrain_seconds": seconds, "pretrain_sequences_seen": steps * batch,
                     "pretrain_token_positions_seen": steps * batch * length,
                     "pretrain_learning_rate": settings["learning_rate"]}
    finetune = {**recipe_settings("classify", quick), "task": "classify", "seed": SEED}
    for init, checkpoint in zip(INITS, (as_is, continued)):
        metrics = finetune_stage(os.path.join(work_dir, "finetune", init), checkpoint, paths, finetune)
        results[f"{init}_test_accuracy"] = metrics["test"]["accuracy"]
        results[f"{init}_best_epoch"] = metrics["best_epoch"]
        results[f"{init}_finetune_seconds"] = metrics["wall_seconds"]
    results["test_examples"] = len(_texts(paths["test"]))
    results["accuracy_gain_points"] = 100 * (results["continued_test_accuracy"] - results["as_is_test_accuracy"])
    history = os.path.join(work_dir, "pretrain", "history.csv")
    if os.path.exists(history):
        with open(history, encoding="utf-8", newline="") as f:
            last = list(csv.DictReader(f))[-1]
        results.update({f"pretrain_final_{k}": float(v) for k, v in last.items() if "accuracy" in k and v != "NA"})
    if root:
        shutil.rmtree(root, ignore_errors=True)
    return results
