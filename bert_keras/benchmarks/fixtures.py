"""What the benchmarks run on: real review samples, the main job's paths, and the models they measure.

The quick mode of every benchmark uses the one tiny model here (random weights, the real MiniLM vocab): it
checks that a benchmark runs, so its figures mean nothing.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from bert_keras.assets import asset_path
from bert_keras.assets.corpora import movie_reviews
from bert_keras.checkpoints import load_checkpoint, save_hf_checkpoint
from bert_keras.checkpoints.task_spec import TaskSpec
from bert_keras.config import BertConfig
from bert_keras.data.labels import LabelVocabulary
from bert_keras.modeling import BertEncoder
from bert_keras.tasks import save_trained_task
from bert_keras.tasks.classification import ClassificationTask
from bert_keras.text import BertTokenizer

# The main job's outputs (scripts/main_job.sh): the fine-tuned sentiment classifier and its held-out test split.
DEFAULT_MODEL = os.path.join("runs", "reviews", "model")
DEFAULT_DATA = os.path.join("data", "reviews", "test.csv")
# The tiny encoder of the quick runs (BERT-tiny's 2 layers, narrowed to hidden 32).
TINY_SHAPE = dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64)
SEED = 0


def sample_reviews(count: int, seed: int = 0) -> list[str]:
    """`count` real movie reviews, a seeded random sample (IMDB and Rotten Tomatoes, their real lengths)."""
    rows = movie_reviews()
    return [rows[i][0] for i in np.random.default_rng(seed).permutation(len(rows))[:count]]


def minilm_vocab() -> str:
    """The bundled all-MiniLM-L6-v2 vocab.txt (uncased WordPiece, 30,522 pieces)."""
    return os.path.join(asset_path("minilm"), "vocab.txt")


def tiny_encoder() -> BertEncoder:
    """The quick runs' encoder: `TINY_SHAPE`, seeded random weights, the MiniLM vocab's size."""
    keras.utils.set_random_seed(SEED)
    config = BertConfig.named("tiny", vocab_size=BertTokenizer(minilm_vocab()).vocabulary_size, **TINY_SHAPE)
    return BertEncoder(config)


def tiny_checkpoint(directory: str) -> str:
    """`tiny_encoder` written as a Hugging Face checkpoint directory (what transformers and `--checkpoint` read)."""
    return save_hf_checkpoint(tiny_encoder(), directory, vocab_path=minilm_vocab(), lowercase=True)


def tiny_classifier(directory: str) -> str:
    """`tiny_encoder` under a fresh two-label head, saved as a fine-tuned model directory (DIRECTORY/model)."""
    return save_classifier(directory, tiny_encoder())


def minilm_classifier(directory: str) -> str:
    """The real all-MiniLM-L6-v2 encoder under a fresh two-label head: the main job's model before fine-tuning
    (the same computation per text, so the same speed), for speed benchmarks on a machine without runs/."""
    return save_classifier(directory, load_checkpoint(asset_path("minilm")).encoder)


def save_classifier(directory: str, encoder: BertEncoder) -> str:
    """`encoder` under a seeded two-label classification head, saved as DIRECTORY/model (the finetune layout)."""
    keras.utils.set_random_seed(SEED)
    task = ClassificationTask(TaskSpec(task="classify"), BertTokenizer(minilm_vocab()), LabelVocabulary(["0", "1"]))
    return save_trained_task(os.path.join(directory, "model"), task.build_model(encoder), task)
