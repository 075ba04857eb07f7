"""Activation functions named by BERT configs, mapped to exact Keras implementations."""

from __future__ import annotations

from typing import Callable

import keras

from bert_keras.config import ACTIVATIONS, EXACT_GELU, TANH_GELU
from bert_keras.errors import InvalidInputError


def gelu_exact(x):
    """GELU with the erf formula, as in Hugging Face BERT and PyTorch's default."""
    return keras.activations.gelu(x, approximate=False)


def gelu_tanh(x):
    """GELU with the tanh approximation, as in Google's original BERT code and keras-hub."""
    return keras.activations.gelu(x, approximate=True)


_FUNCTIONS: dict[str, Callable] = {
    EXACT_GELU: gelu_exact,
    TANH_GELU: gelu_tanh,
    "relu": keras.activations.relu,
    "silu": keras.activations.silu,
    "tanh": keras.activations.tanh,
}


def get_activation(name: str) -> Callable:
    """The Keras function for a config's `hidden_act` name (any alias in `ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise InvalidInputError(f"Unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return _FUNCTIONS[ACTIVATIONS[name]]
