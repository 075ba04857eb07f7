"""keras-hub BertBackbone (an object or a local preset directory) into our `BertEncoder`."""

from __future__ import annotations

import os

import keras_hub
import numpy as np

from bert_keras.checkpoints.loaded import LoadedCheckpoint, build_encoder
from bert_keras.config import TANH_GELU, BertConfig
from bert_keras.json_files import read_json

# keras-hub TransformerEncoder sub-layer path -> canonical part inside encoder/layer_N/.
_PARTS = {
    "self_attention_layer/query": "attention/self/query",
    "self_attention_layer/key": "attention/self/key",
    "self_attention_layer/value": "attention/self/value",
    "self_attention_layer/attention_output": "attention/output/dense",
    "self_attention_layer_norm": "attention/output/LayerNorm",
    "feedforward_intermediate_dense": "intermediate/dense",
    "feedforward_output_dense": "output/dense",
    "feedforward_layer_norm": "output/LayerNorm",
}
_TOP = {
    "token_embedding/embeddings": "embeddings/word_embeddings",
    "position_embedding/embeddings": "embeddings/position_embeddings",
    "segment_embedding/embeddings": "embeddings/token_type_embeddings",
    "embeddings_layer_norm/gamma": "embeddings/LayerNorm/gamma",
    "embeddings_layer_norm/beta": "embeddings/LayerNorm/beta",
    "pooled_dense/kernel": "pooler/dense/kernel",
    "pooled_dense/bias": "pooler/dense/bias",
}

# Where a preset saved by keras-hub keeps its tokenizer: the serialized tokenizer (its config holds `lowercase`)
# and the WordPiece vocabulary.
TOKENIZER_CONFIG_FILE = "tokenizer.json"
VOCAB_FILE = os.path.join("assets", "tokenizer", "vocabulary.txt")


def keras_hub_config(backbone, hidden_act: str = TANH_GELU) -> BertConfig:
    """The `BertConfig` of a keras-hub BertBackbone (which always uses tanh GELU and LayerNorm eps 1e-12)."""
    return BertConfig(
        vocab_size=backbone.vocabulary_size, hidden_size=backbone.hidden_dim, num_hidden_layers=backbone.num_layers,
        num_attention_heads=backbone.num_heads, intermediate_size=backbone.intermediate_dim, hidden_act=hidden_act,
        hidden_dropout_prob=backbone.dropout, attention_probs_dropout_prob=backbone.dropout,
        max_position_embeddings=backbone.max_sequence_length, type_vocab_size=backbone.num_segments)


def backbone_tensors(backbone) -> dict[str, np.ndarray]:
    """A keras-hub BertBackbone's weights under canonical names, attention kernels flattened to [in, out]."""
    hidden = backbone.hidden_dim
    tensors = {}
    for variable in backbone.weights:
        path, array = variable.path, np.asarray(variable.numpy(), dtype=np.float32)
        if path in _TOP:
            tensors[_TOP[path]] = array
            continue
        layer, rest = path.split("/", 1)
        part, weight = rest.rsplit("/", 1)
        index = layer.rsplit("_", 1)[1]
        if part == "self_attention_layer/attention_output" and weight == "kernel":
            array = array.reshape(hidden, hidden)  # [heads, head_size, hidden] -> [hidden, hidden]
        elif part.startswith("self_attention_layer/"):
            array = array.reshape(hidden, hidden) if weight == "kernel" else array.reshape(hidden)
        tensors[f"encoder/layer_{index}/{_PARTS[part]}/{weight}"] = array
    return tensors


def load_keras_hub_backbone(backbone_or_preset, hidden_act: str = TANH_GELU) -> LoadedCheckpoint:
    """Import a keras-hub BertBackbone, given as an object or a local preset directory.

    Args:
        backbone_or_preset: a `keras_hub.models.BertBackbone` or the path of a preset saved with
            `save_to_preset` (named presets are fetched by `load_checkpoint` / `resolve_checkpoint`, not here).
        hidden_act: keras-hub's BERT computes GELU with the tanh formula, so the default reproduces its outputs
            exactly; "gelu" switches to the erf form the original checkpoints were published with.

    A preset directory's vocabulary and casing come from its tokenizer (assets/tokenizer/vocabulary.txt and the
    `lowercase` of tokenizer.json); a backbone object carries no tokenizer, so both stay None.
    """
    vocab_path, lowercase = None, None
    if isinstance(backbone_or_preset, (str, os.PathLike)):
        preset = os.fspath(backbone_or_preset)
        if not os.path.isdir(preset):
            raise FileNotFoundError(f"{preset}: not a local keras-hub preset directory (this loader works offline)")
        backbone = keras_hub.models.BertBackbone.from_preset(preset)
        candidate = os.path.join(preset, VOCAB_FILE)
        vocab_path = candidate if os.path.exists(candidate) else None
        lowercase = preset_lowercase(preset)
        source = preset
    else:
        backbone, source = backbone_or_preset, f"keras-hub backbone {backbone_or_preset.name!r}"
    config = keras_hub_config(backbone, hidden_act=hidden_act)
    return build_encoder(config, backbone_tensors(backbone), source=source, vocab_path=vocab_path,
                         lowercase=lowercase)


def preset_lowercase(preset: str | os.PathLike) -> bool | None:
    """Whether a local keras-hub preset's tokenizer lower-cases: its tokenizer.json `config.lowercase`, or None
    when the preset has no tokenizer (or its tokenizer has no such setting)."""
    path = os.path.join(os.fspath(preset), TOKENIZER_CONFIG_FILE)
    if not os.path.exists(path):
        return None
    data = read_json(path, expect=None)
    value = data.get("config", {}).get("lowercase") if isinstance(data, dict) else None
    return bool(value) if value is not None else None
