"""The casing of a checkpoint's tokenizer as transformers stores it: tokenizer_config.json's `do_lower_case`.

HF checkpoints and bert-keras' encoder.keras directories both carry it; one reader and one writer serve both.
"""

from __future__ import annotations

import json
import os

from bert_keras.atomic_io import write_text
from bert_keras.json_files import read_json

TOKENIZER_CONFIG_FILE = "tokenizer_config.json"


def read_lowercase(directory: str | os.PathLike) -> bool | None:
    """`do_lower_case` of `directory`'s tokenizer_config.json; None when the file or the setting is absent."""
    path = os.path.join(os.fspath(directory), TOKENIZER_CONFIG_FILE)
    if not os.path.exists(path):
        return None
    value = read_json(path).get("do_lower_case")
    return bool(value) if value is not None else None


def write_tokenizer_config(directory: str | os.PathLike, lowercase: bool) -> str:
    """Write a tokenizer_config.json that tells transformers (and `read_lowercase`) the casing, atomically."""
    path = os.path.join(os.fspath(directory), TOKENIZER_CONFIG_FILE)
    config = {"tokenizer_class": "BertTokenizer", "do_lower_case": bool(lowercase)}
    write_text(path, json.dumps(config, indent=2) + "\n")
    return path
