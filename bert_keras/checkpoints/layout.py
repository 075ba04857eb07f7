"""The canonical weight names of a BERT encoder and their place in our Keras model.

Canonical names are Google's TF1 variable names without the leading ``bert/`` (for example
``encoder/layer_3/attention/self/query/kernel``), with kernels stored as `[in, out]`. Every importer translates
its source's names into these, and `assign_encoder_weights` checks the whole set before touching the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np

from bert_keras.config import BertConfig
from bert_keras.errors import CheckpointMismatchError

if TYPE_CHECKING:
    from bert_keras.modeling.encoder import BertEncoder

# Our Keras sub-layer name -> canonical name inside encoder/layer_N/.
_LAYER_PARTS = {
    "query": "attention/self/query",
    "key": "attention/self/key",
    "value": "attention/self/value",
    "attention_output": "attention/output/dense",
    "attention_layer_norm": "attention/output/LayerNorm",
    "intermediate": "intermediate/dense",
    "output": "output/dense",
    "output_layer_norm": "output/LayerNorm",
}
_TOP_LEVEL = {
    "token_embedding/embeddings": "embeddings/word_embeddings",
    "position_embedding/embeddings": "embeddings/position_embeddings",
    "segment_embedding/embeddings": "embeddings/token_type_embeddings",
    "embeddings_layer_norm/gamma": "embeddings/LayerNorm/gamma",
    "embeddings_layer_norm/beta": "embeddings/LayerNorm/beta",
    "pooler/kernel": "pooler/dense/kernel",
    "pooler/bias": "pooler/dense/bias",
}


def canonical_name(keras_path: str) -> str:
    """Canonical name of one of our encoder's variables (by its Keras path)."""
    if keras_path in _TOP_LEVEL:
        return _TOP_LEVEL[keras_path]
    layer, part, weight = keras_path.split("/")
    index = layer.rsplit("_", 1)[1]
    return f"encoder/layer_{index}/{_LAYER_PARTS[part]}/{weight}"


def expected_shapes(config: BertConfig) -> dict[str, tuple[int, ...]]:
    """Every canonical tensor of an encoder with this config, and its shape."""
    h, i = config.hidden_size, config.intermediate_size
    shapes = {
        "embeddings/word_embeddings": (config.vocab_size, h),
        "embeddings/position_embeddings": (config.max_position_embeddings, h),
        "embeddings/token_type_embeddings": (config.type_vocab_size, h),
        "embeddings/LayerNorm/gamma": (h,), "embeddings/LayerNorm/beta": (h,),
        "pooler/dense/kernel": (h, h), "pooler/dense/bias": (h,),
    }
    for n in range(config.num_hidden_layers):
        p = f"encoder/layer_{n}/"
        for part in ("attention/self/query", "attention/self/key", "attention/self/value", "attention/output/dense"):
            shapes[p + part + "/kernel"], shapes[p + part + "/bias"] = (h, h), (h,)
        shapes[p + "intermediate/dense/kernel"], shapes[p + "intermediate/dense/bias"] = (h, i), (i,)
        shapes[p + "output/dense/kernel"], shapes[p + "output/dense/bias"] = (i, h), (h,)
        for part in ("attention/output/LayerNorm", "output/LayerNorm"):
            shapes[p + part + "/gamma"], shapes[p + part + "/beta"] = (h,), (h,)
    return shapes


# transformers' BertForTokenClassification / BertForQuestionAnswering have no pooler (add_pooling_layer=False):
# a checkpoint may lack both pooler tensors; the pooler then keeps its initialisation (those heads do not use it).
POOLER = ("pooler/dense/kernel", "pooler/dense/bias")


def check_tensors(tensors: Mapping[str, np.ndarray], config: BertConfig, source: str) -> None:
    """Raise `CheckpointMismatchError` unless `tensors` holds exactly the encoder's canonical tensors (the pooler
    may be absent as a whole)."""
    expected = expected_shapes(config)
    optional = POOLER if not any(k in tensors for k in POOLER) else ()
    missing = [k for k in expected if k not in tensors and k not in optional]
    unexpected = [k for k in tensors if k not in expected]
    mismatched = [(k, expected[k], tuple(np.shape(v))) for k, v in tensors.items()
                  if k in expected and tuple(np.shape(v)) != expected[k]]
    if missing or unexpected or mismatched:
        raise CheckpointMismatchError(source, missing, unexpected, mismatched)


def assign_encoder_weights(encoder: BertEncoder, tensors: Mapping[str, np.ndarray], source: str) -> None:
    """Check the full set of canonical tensors, then assign them to `encoder`'s variables."""
    check_tensors(tensors, encoder.config, source)
    for variable in encoder.weights:
        name = canonical_name(variable.path)
        if name in tensors:  # only an absent pooler is skipped (check_tensors allows nothing else)
            variable.assign(np.asarray(tensors[name], dtype=variable.dtype))


def encoder_tensors(encoder: BertEncoder) -> dict[str, np.ndarray]:
    """Our encoder's weights as canonical-name -> float32 numpy array."""
    return {canonical_name(v.path): np.asarray(v.numpy(), dtype=np.float32) for v in encoder.weights}
