"""Import and export of BERT weights: Hugging Face, Google TF1 checkpoints, keras-hub backbones."""

from __future__ import annotations

import json
import os

from bert_keras.checkpoints.google import load_google_checkpoint
from bert_keras.checkpoints.hf import load_hf_checkpoint, save_hf_checkpoint
from bert_keras.checkpoints.keras_hub_backbone import load_keras_hub_backbone
from bert_keras.checkpoints.layout import CheckpointMismatchError
from bert_keras.checkpoints.loaded import LoadedCheckpoint

FORMATS = ("hf", "google", "keras_hub")


def detect_format(directory: str | os.PathLike) -> str:
    """Which kind of checkpoint a directory holds: "hf", "google" or "keras_hub"."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory}: not a directory")
    if os.path.exists(os.path.join(directory, "bert_config.json")):
        return "google"
    config_path = os.path.join(directory, "config.json")
    if os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as error:
                raise ValueError(f"{config_path}: not valid JSON (line {error.lineno}): {error.msg}") from None
        is_keras_hub = isinstance(data, dict) and "class_name" in data and "module" in data
        return "keras_hub" if is_keras_hub else "hf"
    raise ValueError(f"{directory}: neither config.json (Hugging Face / keras-hub) nor bert_config.json (Google)")


def load_checkpoint(directory: str | os.PathLike, format: str | None = None, **kwargs) -> LoadedCheckpoint:
    """Load any supported BERT checkpoint directory; `format` is detected when not given."""
    format = format or detect_format(directory)
    loaders = {"hf": load_hf_checkpoint, "google": load_google_checkpoint, "keras_hub": load_keras_hub_backbone}
    if format not in loaders:
        raise ValueError(f"Unknown checkpoint format {format!r}; expected one of {FORMATS}")
    return loaders[format](directory, **kwargs)


__all__ = ["CheckpointMismatchError", "LoadedCheckpoint", "detect_format", "load_checkpoint",
           "load_google_checkpoint", "load_hf_checkpoint", "load_keras_hub_backbone", "save_hf_checkpoint"]
