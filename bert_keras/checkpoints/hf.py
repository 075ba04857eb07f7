"""Hugging Face BERT checkpoints: read config.json + model.safetensors (or pytorch_model.bin), write them back."""

from __future__ import annotations

import os
import re
import shutil
from typing import TYPE_CHECKING, Mapping

import numpy as np
from safetensors.numpy import load_file, save_file

from bert_keras.checkpoints.layout import check_tensors, encoder_tensors
from bert_keras.checkpoints.loaded import LoadedCheckpoint, build_encoder
from bert_keras.checkpoints.tokenizer_config import read_lowercase, write_tokenizer_config
from bert_keras.config import BertConfig
from bert_keras.errors import CheckpointMismatchError, MissingDependencyError

if TYPE_CHECKING:
    from bert_keras.modeling.encoder import BertEncoder

HF_PREFIX = "bert"  # transformers' base_model_prefix of BertFor* models
PRETRAINING_ARCHITECTURE = "BertForPreTraining"

SAFETENSORS_FILE = "model.safetensors"
TORCH_FILE = "pytorch_model.bin"
# Prefixes of task-head tensors in BertFor* checkpoints: kept aside (for heads), not loaded into the encoder.
HEAD_PREFIXES = ("cls.", "classifier.", "qa_outputs.")
# Buffers that are not weights.
IGNORED = ("embeddings.position_ids",)
_LAYER_NORM = re.compile(r"(LayerNorm)\.(weight|bias|gamma|beta)$")


def hf_to_canonical(name: str) -> tuple[str, bool]:
    """Canonical name of an HF BertModel tensor (no ``bert.`` prefix), and whether it must be transposed."""
    norm = _LAYER_NORM.search(name)
    if norm:
        suffix = "gamma" if norm.group(2) in ("weight", "gamma") else "beta"
        name, transpose = name[: norm.start()] + "LayerNorm." + suffix, False
    elif name.startswith("embeddings.") and name.endswith(".weight"):
        name, transpose = name[: -len(".weight")], False
    elif name.endswith(".weight"):
        name, transpose = name[: -len(".weight")] + ".kernel", True
    else:
        transpose = False
    name = re.sub(r"encoder\.layer\.(\d+)\.", r"encoder.layer_\1.", name)
    return name.replace(".", "/"), transpose


def canonical_to_hf(name: str) -> tuple[str, bool]:
    """HF BertModel tensor name of a canonical name, and whether it must be transposed."""
    name = re.sub(r"encoder/layer_(\d+)/", r"encoder/layer/\1/", name).replace("/", ".")
    if name.endswith("LayerNorm.gamma"):
        return name[: -len("gamma")] + "weight", False
    if name.endswith("LayerNorm.beta"):
        return name[: -len("beta")] + "bias", False
    if name.endswith(".kernel"):
        return name[: -len("kernel")] + "weight", True
    if name.startswith("embeddings.") and not name.endswith(".bias"):
        return name + ".weight", False
    return name, False


def read_hf_tensors(directory: str) -> dict[str, np.ndarray]:
    """All tensors of an HF checkpoint directory as numpy arrays (safetensors preferred; .bin needs torch)."""
    safetensors_path = os.path.join(directory, SAFETENSORS_FILE)
    torch_path = os.path.join(directory, TORCH_FILE)
    if os.path.exists(safetensors_path):
        return load_file(safetensors_path)
    if os.path.exists(torch_path):
        try:  # optional: only the legacy pickle format needs torch, which is not a runtime dependency
            import torch
        except ImportError:
            raise MissingDependencyError(f"{torch_path}: reading a PyTorch .bin checkpoint needs torch "
                              "(pip install torch==2.13.0), or convert it to model.safetensors") from None
        state = torch.load(torch_path, map_location="cpu", weights_only=True)
        return {k: v.float().numpy() for k, v in state.items()}
    raise FileNotFoundError(f"{directory}: no {SAFETENSORS_FILE} or {TORCH_FILE} found")


def load_hf_checkpoint(directory: str | os.PathLike) -> LoadedCheckpoint:
    """Load an HF BERT directory (config.json + weights [+ vocab.txt]) into a `BertEncoder`.

    Accepts BertModel names and the ``bert.``-prefixed names of BertFor* models; task-head tensors are
    returned in `LoadedCheckpoint.head_tensors` under their HF names. Raises `CheckpointMismatchError`
    listing every missing, unexpected or mis-shaped encoder tensor.
    """
    directory = os.fspath(directory)
    config_path = os.path.join(directory, "config.json")
    if not os.path.exists(config_path):
        raise FileNotFoundError(f"{directory}: no config.json (expected a Hugging Face BERT checkpoint directory)")
    config = BertConfig.from_json_file(config_path)
    raw = read_hf_tensors(directory)
    prefix = f"{HF_PREFIX}." if any(k.startswith(f"{HF_PREFIX}.") for k in raw) else ""
    canonical, heads, unexpected = {}, {}, []
    source_names = {}  # canonical name -> the tensor's name in the file, for error messages
    for name, array in raw.items():
        if name.startswith(HEAD_PREFIXES):
            heads[name] = array
            continue
        if not name.startswith(prefix):
            unexpected.append(name)
            continue
        inner = name[len(prefix):]
        if inner in IGNORED:
            continue
        key, transpose = hf_to_canonical(inner)
        canonical[key] = array.T if transpose else array
        source_names[key] = name
    try:
        check_tensors(canonical, config, directory)
    except CheckpointMismatchError as error:
        raise _in_hf_names(error, directory, prefix, source_names, unexpected) from None
    if unexpected:
        raise CheckpointMismatchError(directory, unexpected=unexpected)
    vocab = os.path.join(directory, "vocab.txt")
    return build_encoder(config, canonical, source=directory, vocab_path=vocab if os.path.exists(vocab) else None,
                         head_tensors=heads, lowercase=read_lowercase(directory))


def _in_hf_names(error: CheckpointMismatchError, directory: str, prefix: str, source_names: dict[str, str],
                 unexpected: list[str]) -> CheckpointMismatchError:
    """The same mismatch, with tensors named and shaped as in the HF file (not in canonical form).

    `unexpected` adds the file's tensors that never got a canonical name (outside the ``bert.`` prefix).
    """
    def hf_name(key: str) -> tuple[str, bool]:
        name, transpose = canonical_to_hf(key)
        return source_names.get(key, prefix + name), transpose

    mismatched = []
    for key, expected, got in error.mismatched:
        name, transpose = hf_name(key)
        if transpose:
            expected, got = tuple(reversed(expected)), tuple(reversed(got))
        mismatched.append((name, expected, got))
    return CheckpointMismatchError(directory, missing=[hf_name(k)[0] for k in error.missing],
                                   unexpected=unexpected + [source_names.get(k, k) for k in error.unexpected],
                                   mismatched=mismatched)


def save_hf_checkpoint(encoder: BertEncoder, directory: str | os.PathLike, vocab_path: str | None = None,
                       lowercase: bool | None = None, head_tensors: Mapping[str, np.ndarray] | None = None) -> str:
    """Write `encoder` as an HF BertModel directory: config.json, model.safetensors, and optionally vocab.txt and
    (when `lowercase` is known) a tokenizer_config.json that tells transformers whether to lower-case.

    With `head_tensors` (HF names, e.g. from `pretraining_heads.hf_head_tensors`) the file is a
    BertForPreTraining checkpoint instead: encoder tensors under `bert.`, the heads beside them. transformers'
    BertModel and BertForPreTraining/BertForMaskedLM load it alike.
    """
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    prefix = f"{HF_PREFIX}." if head_tensors else ""
    tensors = {}
    for key, array in encoder_tensors(encoder).items():
        name, transpose = canonical_to_hf(key)
        tensors[prefix + name] = np.ascontiguousarray(array.T if transpose else array)
    for name, array in (head_tensors or {}).items():
        tensors[name] = np.ascontiguousarray(array)
    save_file(tensors, os.path.join(directory, SAFETENSORS_FILE), metadata={"format": "pt"})
    encoder.config.save_hf_json(os.path.join(directory, "config.json"),
                                architectures=[PRETRAINING_ARCHITECTURE] if head_tensors else None)
    if vocab_path:
        shutil.copyfile(vocab_path, os.path.join(directory, "vocab.txt"))
    if lowercase is not None:
        write_tokenizer_config(directory, lowercase)
    return directory
