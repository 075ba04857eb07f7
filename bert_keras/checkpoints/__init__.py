"""Import and export of BERT weights: Hugging Face, Google TF1 checkpoints, keras-hub backbones, .keras files;
sources given as local directories or hub names."""

from __future__ import annotations

import os

from bert_keras.checkpoints.google import load_google_checkpoint
from bert_keras.checkpoints.hf import load_hf_checkpoint, save_hf_checkpoint
from bert_keras.checkpoints.keras_file import KERAS_FILE, load_keras_checkpoint, save_keras_checkpoint
from bert_keras.checkpoints.keras_hub_backbone import load_keras_hub_backbone
from bert_keras.checkpoints.loaded import LoadedCheckpoint
from bert_keras.checkpoints.presets import resolve_checkpoint
from bert_keras.errors import InvalidInputError
from bert_keras.json_files import read_json

FORMATS = ("hf", "google", "keras_hub", "keras")


def detect_format(directory: str | os.PathLike) -> str:
    """Which kind of checkpoint a local directory holds: "hf", "google", "keras_hub" or "keras" (bert-keras'
    encoder.keras), told by its files."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory}: not a directory")
    if os.path.exists(os.path.join(directory, "bert_config.json")):
        return "google"
    if os.path.exists(os.path.join(directory, KERAS_FILE)):
        return "keras"
    config_path = os.path.join(directory, "config.json")
    if os.path.exists(config_path):
        data = read_json(config_path, expect=None)
        is_keras_hub = isinstance(data, dict) and "class_name" in data and "module" in data
        return "keras_hub" if is_keras_hub else "hf"
    raise InvalidInputError(f"{directory}: neither config.json (Hugging Face / keras-hub), bert_config.json "
                            f"(Google) nor {KERAS_FILE} (bert-keras convert --to keras)")


def load_checkpoint(source: str | os.PathLike, format: str | None = None, revision: str | None = None,
                    cache_dir: str | os.PathLike | None = None, **kwargs) -> LoadedCheckpoint:
    """Load any supported BERT checkpoint, from a local directory or a hub name; the one entry point.

    Args:
        source: a local checkpoint directory or a hub name (``hf://org/name``, ``org/name``, a keras-hub preset
            name such as ``bert_tiny_en_uncased``, ``kaggle://...``, optionally ``name@revision``), resolved by
            `resolve_checkpoint` (see there for the rule that tells a path from a name).
        format: one of `FORMATS`; detected from the directory's files when not given.
        revision: a hub revision (branch, tag or commit; a Kaggle version) to pin.
        cache_dir: the hub cache to use instead of the default one.
        **kwargs: options of the format's loader (e.g. ``exact_gelu`` for Google, ``hidden_act`` for keras-hub).
    """
    loaders = {"hf": load_hf_checkpoint, "google": load_google_checkpoint, "keras_hub": load_keras_hub_backbone,
               "keras": load_keras_checkpoint}
    if format is not None and format not in loaders:
        raise InvalidInputError(f"Unknown checkpoint format {format!r}; expected one of {FORMATS}")
    directory = resolve_checkpoint(source, revision=revision, cache_dir=cache_dir)
    return loaders[format or detect_format(directory)](directory, **kwargs)


__all__ = ["FORMATS", "LoadedCheckpoint", "detect_format",
           "load_checkpoint", "load_google_checkpoint", "load_hf_checkpoint", "load_keras_checkpoint",
           "load_keras_hub_backbone", "resolve_checkpoint", "save_hf_checkpoint", "save_keras_checkpoint"]
