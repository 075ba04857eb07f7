"""What an importer returns: the encoder with its weights, the config, the vocab and any head tensors."""

from __future__ import annotations

import dataclasses
from typing import Mapping

import keras
import numpy as np

from bert_keras.checkpoints.layout import assign_encoder_weights, check_tensors
from bert_keras.config import BertConfig

# checkpoints/ sits below modeling/ (whose from_preset reads checkpoints), so it finds the encoder class the way a
# .keras file does: by its registered Keras name (bert_keras.modeling.encoder registers it on `import bert_keras`).
ENCODER_CLASS = "bert_keras>BertEncoder"


@dataclasses.dataclass
class LoadedCheckpoint:
    """An imported checkpoint.

    Attributes:
        encoder: a `BertEncoder` holding the checkpoint's weights.
        config: its `BertConfig`.
        vocab_path: the checkpoint's vocab.txt, if it has one.
        lowercase: whether its tokenizer lower-cases (None if the checkpoint does not say).
        head_tensors: task-head tensors under their source names (e.g. HF ``cls.predictions.*``).
    """

    encoder: keras.Model
    config: BertConfig
    vocab_path: str | None = None
    lowercase: bool | None = None
    head_tensors: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def tokenizer_lowercase(self) -> bool:
        """Whether to lower-case for this checkpoint: what it says, else True (BERT's uncased default)."""
        return True if self.lowercase is None else self.lowercase


def build_encoder(config: BertConfig, tensors: Mapping[str, np.ndarray], source: str, vocab_path: str | None = None,
                  head_tensors: Mapping[str, np.ndarray] | None = None, lowercase: bool | None = None
                  ) -> LoadedCheckpoint:
    """Check `tensors` against `config`, build a `BertEncoder` and assign them."""
    check_tensors(tensors, config, source)  # fail before paying for the model build
    encoder = encoder_class()(config)
    assign_encoder_weights(encoder, tensors, source)
    return LoadedCheckpoint(encoder=encoder, config=config, vocab_path=vocab_path, lowercase=lowercase,
                            head_tensors=dict(head_tensors or {}))


def registered_class(name: str) -> type[keras.Model]:
    """The bert_keras Keras class registered as `name` (e.g. ENCODER_CLASS): how this layer builds the models of
    the layer above it."""
    cls = keras.saving.get_registered_object(name)
    if cls is None:  # every bert_keras import runs bert_keras/__init__.py, which registers them all
        raise RuntimeError(f"{name} is not registered: import bert_keras first")
    return cls


def encoder_class() -> type[keras.Model]:
    """`bert_keras.BertEncoder`, looked up by its registered name (see ENCODER_CLASS)."""
    return registered_class(ENCODER_CLASS)
