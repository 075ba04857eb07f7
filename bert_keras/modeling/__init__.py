"""Keras models and layers: the BERT encoder (task heads build on it)."""

from bert_keras.modeling.encoder import BertEncoder
from bert_keras.modeling.transformer_layer import BertTransformerLayer

__all__ = ["BertEncoder", "BertTransformerLayer"]
