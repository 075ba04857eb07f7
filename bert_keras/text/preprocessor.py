"""BertPreprocessor: raw strings (one or two segments) -> encoder inputs, tokenizer + packer in one layer."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from bert_keras.text.packer import BertPacker
from bert_keras.text.string_layer import StringLayer
from bert_keras.text.tokenizer import BertTokenizer


@keras.saving.register_keras_serializable(package="bert_keras")
class BertPreprocessor(StringLayer):
    """Tokenize one or two string segments and pack them for `BertEncoder`.

    Args:
        tokenizer: a `BertTokenizer`.
        sequence_length: the longest packed sequence ([CLS]/[SEP] included).
        truncate, padding, tail_tokens, pad_to_multiple_of: as in `BertPacker`.
    """

    def __init__(self, tokenizer: BertTokenizer, sequence_length: int = 128, truncate: str = "longest_first",
                 padding: str = "max_length", tail_tokens: int = 0, pad_to_multiple_of: int = 1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        self.tokenizer = tokenizer
        self.packer = BertPacker(sequence_length, cls_id=tokenizer.cls_id, sep_id=tokenizer.sep_id,
                                 pad_id=tokenizer.pad_id, truncate=truncate, padding=padding,
                                 tail_tokens=tail_tokens, pad_to_multiple_of=pad_to_multiple_of)

    def call(self, first, second=None) -> dict[str, tf.Tensor]:
        return self.packer(self.tokenizer(first), None if second is None else self.tokenizer(second))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(tokenizer=keras.saving.serialize_keras_object(self.tokenizer),
                      sequence_length=self.packer.sequence_length, truncate=self.packer.truncate,
                      padding=self.packer.padding, tail_tokens=self.packer.tail_tokens,
                      pad_to_multiple_of=self.packer.pad_to_multiple_of)
        return config
