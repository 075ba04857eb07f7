"""BertConfig: every BERT hyper-parameter, the published sizes, and the two JSON formats.

Field names follow Google's ``bert_config.json`` (which Hugging Face's ``config.json`` extends), so a config
file maps to the dataclass one field per key.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from bert_keras.errors import InvalidInputError
from bert_keras.json_files import read_json

# Activation names a checkpoint config may carry. "gelu" is the exact (erf) GELU as in Hugging Face's BERT;
# the tanh approximation has several names in the wild. Google's original modeling.py called its tanh formula
# "gelu": see `BertConfig.from_google_dict`.
EXACT_GELU = "gelu"
TANH_GELU = "gelu_approximate"
ACTIVATIONS = {
    "gelu": EXACT_GELU,
    "gelu_python": EXACT_GELU,
    "gelu_approximate": TANH_GELU,
    "gelu_new": TANH_GELU,
    "gelu_pytorch_tanh": TANH_GELU,
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
    "tanh": "tanh",
}

# The published BERT shapes (Turc et al. 2019 miniatures; Devlin et al. 2019 base/large): (layers, hidden).
NAMED_SIZES = {
    "tiny": (2, 128),
    "mini": (4, 256),
    "small": (4, 512),
    "medium": (8, 512),
    "base": (12, 768),
    "large": (24, 1024),
}
HEAD_DIM = 64  # every published BERT size uses 64-dimensional attention heads
FFN_MULTIPLIER = 4  # ... and an intermediate size of 4 x hidden

_HF_ONLY_DEFAULTS = {"model_type": "bert", "architectures": ["BertModel"], "position_embedding_type": "absolute"}
# transformers has no "gelu_approximate": its name for the same tanh formula is "gelu_new".
_HF_ACTIVATION_NAMES = {TANH_GELU: "gelu_new"}


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Hyper-parameters of a BERT encoder.

    Args:
        vocab_size: number of WordPiece ids.
        hidden_size: width of every token representation.
        num_hidden_layers: number of transformer blocks.
        num_attention_heads: attention heads per block; must divide `hidden_size`.
        intermediate_size: width of the feed-forward layer.
        hidden_act: feed-forward activation, one of `ACTIVATIONS` ("gelu" is the exact erf form).
        hidden_dropout_prob: dropout on embeddings and every residual branch.
        attention_probs_dropout_prob: dropout on attention probabilities.
        max_position_embeddings: longest sequence the position table covers.
        type_vocab_size: number of segment ids.
        initializer_range: stddev of the truncated-normal initializer.
        layer_norm_eps: epsilon of every LayerNorm.
        pad_token_id: id of [PAD] in the vocabulary.

    Examples:
    ```python
    config = bert_keras.BertConfig.named("mini", vocab_size=30522)  # 4 layers, hidden 256
    config.save_hf_json("config.json")  # transformers' BertConfig reads it
    assert bert_keras.BertConfig.from_json_file("config.json") == config
    ```
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = EXACT_GELU
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidInputError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise InvalidInputError(
                       f"BertConfig.hidden_size ({self.hidden_size}) must be divisible by "
                       f"num_attention_heads ({self.num_attention_heads})")
        if self.hidden_act not in ACTIVATIONS:
            raise InvalidInputError(
                       f"BertConfig.hidden_act {self.hidden_act!r} is not supported; expected one of "
                       f"{sorted(ACTIVATIONS)}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise InvalidInputError(f"BertConfig.{name} must be in [0, 1), got {value!r}")
        for name in ("initializer_range", "layer_norm_eps"):
            if not getattr(self, name) > 0:
                raise InvalidInputError(f"BertConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise InvalidInputError(
                       f"BertConfig.pad_token_id must be in [0, vocab_size={self.vocab_size}), got "
                       f"{self.pad_token_id!r}")

    @property
    def head_size(self) -> int:
        """Width of one attention head."""
        return self.hidden_size // self.num_attention_heads

    @property
    def activation(self) -> str:
        """The activation's canonical name: "gelu" (erf), "gelu_approximate" (tanh), "relu", "silu" or "tanh"."""
        return ACTIVATIONS[self.hidden_act]

    @classmethod
    def named(cls, size: str, **overrides: Any) -> "BertConfig":
        """A published size (tiny/mini/small/medium/base/large) with optional field overrides."""
        if size not in NAMED_SIZES:
            raise InvalidInputError(f"Unknown BERT size {size!r}; expected one of {list(NAMED_SIZES)}")
        layers, hidden = NAMED_SIZES[size]
        fields = dict(num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=hidden // HEAD_DIM,
                      intermediate_size=FFN_MULTIPLIER * hidden)
        fields.update(overrides)
        return cls(**fields)

    def replace(self, **changes: Any) -> "BertConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (used by Keras get_config)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "BertConfig":
        """Build from a dict of our fields; unknown keys are an error naming the source."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidInputError(f"{source}: unknown BertConfig fields {unknown}; expected a subset of "
                                    f"{sorted(names)}")
        return cls(**data)

    # ---- Hugging Face config.json ----
    @classmethod
    def from_hf_dict(cls, data: dict[str, Any], source: str = "config.json") -> "BertConfig":
        """Read a Hugging Face BERT config (extra keys such as architectures are ignored)."""
        if not isinstance(data, dict):
            raise InvalidInputError(f"{source}: expected a JSON object, got {type(data).__name__}")
        model_type = data.get("model_type", "bert")
        if model_type != "bert":
            raise InvalidInputError(f"{source}: model_type is {model_type!r}, expected 'bert'")
        position_type = data.get("position_embedding_type", "absolute")
        if position_type != "absolute":
            raise InvalidInputError(f"{source}: position_embedding_type {position_type!r} is not supported; "
                                    "expected 'absolute'")
        return cls._from_known_keys(data, source)

    def to_hf_dict(self) -> dict[str, Any]:
        """A Hugging Face ``config.json`` dict that transformers' BertModel loads."""
        out = dict(_HF_ONLY_DEFAULTS)
        out.update(self.to_dict())
        out["hidden_act"] = _HF_ACTIVATION_NAMES.get(self.hidden_act, self.hidden_act)
        return out

    # ---- Google bert_config.json ----
    @classmethod
    def from_google_dict(cls, data: dict[str, Any], source: str = "bert_config.json",
                         exact_gelu: bool = False) -> "BertConfig":
        """Read Google's original ``bert_config.json``.

        Google's modeling.py named its tanh approximation "gelu", so by default "gelu" here becomes
        "gelu_approximate" to reproduce the original implementation; `exact_gelu=True` keeps the erf form
        (what Hugging Face conversions of the same checkpoints use).
        """
        config = cls._from_known_keys(data, source)
        if config.hidden_act == EXACT_GELU and not exact_gelu:
            config = config.replace(hidden_act=TANH_GELU)
        return config

    def to_google_dict(self) -> dict[str, Any]:
        """Google's ``bert_config.json`` keys (the original code reads "gelu" as its tanh formula)."""
        out = self.to_dict()
        out.pop("layer_norm_eps")
        out.pop("pad_token_id")
        if self.activation == TANH_GELU:
            out["hidden_act"] = "gelu"
        elif self.activation == EXACT_GELU:
            raise InvalidInputError("Google's bert_config.json cannot express the exact (erf) GELU: its 'gelu' is the "
                                    "tanh approximation. Save this config as Hugging Face config.json instead.")
        return out

    @classmethod
    def _from_known_keys(cls, data: dict[str, Any], source: str) -> "BertConfig":
        if not isinstance(data, dict):
            raise InvalidInputError(f"{source}: expected a JSON object, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        required = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
        missing = [k for k in required if k not in data]
        if missing:
            raise InvalidInputError(f"{source}: missing required BERT fields {missing}")
        kwargs = {k: data[k] for k in names if k in data and data[k] is not None}
        try:
            return cls(**kwargs)
        except ValueError as error:
            raise InvalidInputError(f"{source}: {error}") from None

    # ---- files ----
    @classmethod
    def from_json_file(cls, path: str | os.PathLike, exact_gelu: bool = False) -> "BertConfig":
        """Read either format: a file with ``model_type`` (or named config.json) is read as Hugging Face's."""
        path = os.fspath(path)
        data = read_json(path)
        if "model_type" in data or os.path.basename(path) == "config.json":
            return cls.from_hf_dict(data, source=path)
        return cls.from_google_dict(data, source=path, exact_gelu=exact_gelu)

    def save_hf_json(self, path: str | os.PathLike, architectures: list[str] | None = None) -> None:
        """Write a Hugging Face ``config.json`` (``architectures`` default: ["BertModel"])."""
        data = self.to_hf_dict()
        if architectures:
            data["architectures"] = list(architectures)
        _write_json(path, data)

    def save_google_json(self, path: str | os.PathLike) -> None:
        """Write a Google ``bert_config.json``."""
        _write_json(path, self.to_google_dict())


def _write_json(path: str | os.PathLike, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
