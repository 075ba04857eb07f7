"""Google's original TF1 BERT checkpoints: bert_config.json + bert_model.ckpt.{index,data-*} + vocab.txt."""

from __future__ import annotations

import glob
import os

import tensorflow as tf

from bert_keras.checkpoints.loaded import LoadedCheckpoint, build_encoder
from bert_keras.config import BertConfig
from bert_keras.errors import CheckpointMismatchError
from bert_keras.json_files import read_json

# Variables a pretraining/fine-tuning checkpoint holds besides the encoder: heads and optimizer state.
_HEAD_PREFIXES = ("cls/", "output_weights", "output_bias", "answer_class/")
_OPTIMIZER_SUFFIXES = ("/adam_m", "/adam_v", "/Adam", "/Adam_1")
_BOOKKEEPING = ("global_step",)


def find_checkpoint_prefix(directory: str) -> str:
    """The ``*.ckpt`` prefix inside a Google checkpoint directory (bert_model.ckpt preferred)."""
    preferred = os.path.join(directory, "bert_model.ckpt")
    if os.path.exists(preferred + ".index"):
        return preferred
    candidates = sorted(glob.glob(os.path.join(directory, "*.index")))
    if len(candidates) != 1:
        raise FileNotFoundError(
            f"{directory}: expected one TF checkpoint (*.index), found {[os.path.basename(c) for c in candidates]}")
    return candidates[0][: -len(".index")]


def load_google_checkpoint(directory: str | os.PathLike, exact_gelu: bool = False) -> LoadedCheckpoint:
    """Load a Google BERT checkpoint directory into a `BertEncoder`.

    Args:
        directory: holds bert_config.json, a TF1 checkpoint with ``bert/...`` variables, and vocab.txt.
        exact_gelu: Google's code computes "gelu" with the tanh formula, which is the default here so outputs
            equal the original implementation; True uses the erf form (as Hugging Face conversions do).
    """
    directory = os.fspath(directory)
    config_path = os.path.join(directory, "bert_config.json")
    if not os.path.exists(config_path):
        raise FileNotFoundError(f"{directory}: no bert_config.json (expected a Google BERT checkpoint directory)")
    config = BertConfig.from_google_dict(read_json(config_path), source=config_path, exact_gelu=exact_gelu)
    prefix = find_checkpoint_prefix(directory)
    reader = tf.train.load_checkpoint(prefix)
    tensors, heads, unexpected = {}, {}, []
    for name in reader.get_variable_to_shape_map():
        if name in _BOOKKEEPING or name.endswith(_OPTIMIZER_SUFFIXES):
            continue
        if name.startswith(_HEAD_PREFIXES):
            heads[name] = reader.get_tensor(name)
        elif name.startswith("bert/"):
            tensors[name[len("bert/"):]] = reader.get_tensor(name)
        else:
            unexpected.append(name)
    if unexpected:
        raise CheckpointMismatchError(prefix, unexpected=unexpected)
    vocab = os.path.join(directory, "vocab.txt")
    lowercase = _google_lowercase(directory)
    return build_encoder(config, tensors, source=prefix, vocab_path=vocab if os.path.exists(vocab) else None,
                         head_tensors=heads, lowercase=lowercase)


def _google_lowercase(directory: str) -> bool | None:
    """Google names its uncased releases 'uncased_L-...'; cased ones 'cased_L-...'."""
    name = os.path.basename(os.path.normpath(directory)).lower()
    if name.startswith("uncased") or "_uncased" in name:
        return True
    if name.startswith("cased") or "_cased" in name:
        return False
    return None


