"""Does an encoder read a token's neighbours? Attention mass on the previous / next token, and how alike the
position embeddings of neighbouring positions are.

A trained BERT has heads that put much of their mass on the previous or the next token, and neighbouring rows of
its position table point the same way. A model that predicts masked tokens from the bag of tokens in the sequence
(the plateau of early MLM training) has neither: every head gives a neighbour about what uniform attention would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bert_keras.serving_contract import PADDING_MASK

# A head giving its previous or next token this many times what uniform attention would is reading neighbours.
LOCAL_FACTOR = 3


def _mean_at_offset(probs: np.ndarray, lengths: np.ndarray, offset: int) -> np.ndarray:
    """Mean over every real query token q whose key q + offset is real of probs[b, h, q, q + offset]: `[heads]`."""
    total, count = np.zeros(probs.shape[1]), 0
    for row, length in enumerate(lengths):
        queries = np.arange(max(0, -offset), length - max(0, offset))
        total += probs[row][:, queries, queries + offset].sum(axis=-1)
        count += len(queries)
    return total / max(count, 1)


def position_cosine(encoder, distance: int = 1, positions: int | None = None) -> float:
    """Mean cosine similarity of the position embeddings of positions `distance` apart, over the first
    `positions` rows of the table (all of them when None)."""
    table = np.asarray(encoder.position_embedding.position_embeddings)[:positions]
    unit = table / np.linalg.norm(table, axis=-1, keepdims=True)
    return float(np.mean(np.sum(unit[:-distance] * unit[distance:], axis=-1)))


def attention_locality(encoder, inputs: dict[str, Any]) -> dict[str, Any]:
    """Per layer and head, the mean attention a real token gives to the real token before it (`previous`), after
    it (`next`) and to itself (`self`), each a `[layers][heads]` list; `uniform`, what a head spreading its
    attention evenly over the real tokens would give any one of them (the same queries as `previous`); and
    `position_cosine_adjacent` / `position_cosine_distance_10`, `position_cosine` over the positions `inputs` use.

    Args:
        encoder: a `BertEncoder`.
        inputs: its input dict (`token_ids`, `segment_ids`, `padding_mask`, `[batch, length]`).
    """
    lengths = np.asarray(inputs[PADDING_MASK]).sum(axis=-1).astype(int)
    layers = [np.asarray(p) for p in encoder.attention_probabilities(inputs)]
    previous_queries = np.maximum(lengths - 1, 0)
    uniform = float(np.sum(previous_queries / np.maximum(lengths, 1)) / max(previous_queries.sum(), 1))
    length = int(lengths.max())
    return {
        "previous": [_mean_at_offset(p, lengths, -1).tolist() for p in layers],
        "next": [_mean_at_offset(p, lengths, 1).tolist() for p in layers],
        "self": [_mean_at_offset(p, lengths, 0).tolist() for p in layers],
        "uniform": uniform,
        "position_cosine_adjacent": position_cosine(encoder, 1, length),
        "position_cosine_distance_10": position_cosine(encoder, 10, length) if length > 10 else None,
    }


def locality_summary(figures: dict[str, Any], factor: float = LOCAL_FACTOR) -> dict[str, Any]:
    """The headline of `attention_locality`'s figures: the largest mass any head gives a neighbour (previous or
    next), that as a multiple of uniform, and how many heads give a neighbour at least `factor` x uniform."""
    neighbour = np.maximum(np.asarray(figures["previous"]), np.asarray(figures["next"]))
    strongest = float(neighbour.max())
    return {"strongest_neighbour_attention": strongest,
            "strongest_neighbour_vs_uniform": strongest / figures["uniform"],
            "local_heads": int(np.sum(neighbour >= factor * figures["uniform"])), "heads": int(neighbour.size)}
