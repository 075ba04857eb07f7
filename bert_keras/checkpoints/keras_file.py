"""bert-keras' own checkpoint directory: encoder.keras (a saved `BertEncoder`), vocab.txt, tokenizer_config.json.

`bert-keras convert --to keras` writes it; `load_checkpoint` reads it back as format "keras". The casing is kept
in a tokenizer_config.json the same way `save_hf_checkpoint` keeps it, so transformers-style tools read it too.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import keras

from bert_keras.atomic_io import atomic_file
from bert_keras.checkpoints.loaded import LoadedCheckpoint, encoder_class
from bert_keras.checkpoints.tokenizer_config import read_lowercase, write_tokenizer_config
from bert_keras.errors import InvalidInputError

if TYPE_CHECKING:
    from bert_keras.modeling.encoder import BertEncoder

KERAS_FILE = "encoder.keras"
VOCAB_FILE = "vocab.txt"


def save_keras_checkpoint(encoder: BertEncoder, directory: str | os.PathLike, vocab_path: str | None = None,
                          lowercase: bool | None = None) -> str:
    """Write `encoder` as a Keras checkpoint directory that `load_checkpoint` reads back.

    Args:
        encoder: a `BertEncoder`.
        directory: where to write encoder.keras (created if missing; files are replaced atomically).
        vocab_path: a vocab.txt to copy beside it.
        lowercase: the tokenizer casing, written to tokenizer_config.json when known.

    Returns:
        `directory`.
    """
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    with atomic_file(os.path.join(directory, KERAS_FILE)) as staging:
        encoder.save(staging)
    if vocab_path:
        with atomic_file(os.path.join(directory, VOCAB_FILE)) as staging:
            shutil.copyfile(vocab_path, staging)
    if lowercase is not None:
        write_tokenizer_config(directory, lowercase)
    return directory


def load_keras_checkpoint(directory: str | os.PathLike) -> LoadedCheckpoint:
    """Load a directory written by `save_keras_checkpoint` (or `bert-keras convert --to keras`).

    Raises:
        FileNotFoundError: `directory` has no encoder.keras.
        InvalidInputError: encoder.keras holds something other than a `BertEncoder`, or tokenizer_config.json is not
            valid JSON.
    """
    directory = os.fspath(directory)
    path = os.path.join(directory, KERAS_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{directory}: no {KERAS_FILE} (expected a directory written by "
                                "`bert-keras convert --to keras`)")
    encoder = keras.saving.load_model(path, compile=False)
    if not isinstance(encoder, encoder_class()):
        raise InvalidInputError(f"{path}: holds a {type(encoder).__name__}; expected a bert_keras BertEncoder "
                         "(a task model's .keras file loads with its task class' from_preset)")
    vocab = os.path.join(directory, VOCAB_FILE)
    return LoadedCheckpoint(encoder=encoder, config=encoder.config, vocab_path=vocab if os.path.exists(vocab) else None,
                            lowercase=read_lowercase(directory))
