"""BertPreprocessor: raw strings (one or two segments) -> encoder inputs, tokenizer + packer in one layer."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from bert_keras.text.packer import BertPacker
from bert_keras.text.string_layer import StringLayer
from bert_keras.text.tokenizer import BertTokenizer


def _as_batch(texts) -> tf.Tensor:
    """A 1-D string tensor; a single string becomes a batch of one."""
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    return tf.reshape(texts, [1]) if texts.shape.rank == 0 else texts


@keras.saving.register_keras_serializable(package="bert_keras")
class BertPreprocessor(StringLayer):
    """Tokenize one or two string segments and pack them for `BertEncoder`.

    Args:
        tokenizer: a `BertTokenizer`.
        sequence_length: the longest packed sequence ([CLS]/[SEP] included).
        truncate, padding, tail_tokens, pad_to_multiple_of: as in `BertPacker`.

    Call: strings `[batch]` (a list, a numpy array, a tensor; one string is a batch of one) and optionally the
    second segments -> dict of int32 `[batch, length]` `token_ids`, `segment_ids`, `padding_mask`.

    Examples:
    ```python
    tokenizer = bert_keras.BertTokenizer(bert_keras.assets.asset_path("minilm") + "/vocab.txt")
    preprocessor = bert_keras.BertPreprocessor(tokenizer, sequence_length=16, padding="longest")
    preprocessor("The capital of France is [MASK].")["token_ids"]  # [[101, 1996, ..., 103, 1012, 102]]
    preprocessor(["Is it good?", "Yes."], ["Really?", "No."])["segment_ids"]  # 0 then 1
    ```
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
        segments = [_as_batch(first)] + ([] if second is None else [_as_batch(second)])
        return self.packer(*[self.tokenizer(s) for s in segments])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(tokenizer=keras.saving.serialize_keras_object(self.tokenizer),
                      sequence_length=self.packer.sequence_length, truncate=self.packer.truncate,
                      padding=self.packer.padding, tail_tokens=self.packer.tail_tokens,
                      pad_to_multiple_of=self.packer.pad_to_multiple_of)
        return config
