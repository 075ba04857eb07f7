"""FLOPs of a BERT encoder's forward pass: the figure benchmarks divide by time to get achieved GFLOP/s."""

from __future__ import annotations

from bert_keras.config import BertConfig


def encoder_flops(config: BertConfig, sequence_length: int) -> int:
    """Floating-point operations of the encoder's matrix products for one sequence (2 per multiply-add).

    Per layer: the query, key, value and attention-output projections (4 x L x H x H multiply-adds), the
    attention scores and the weighted sum of values (2 x L x L x H), and the two feed-forward projections
    (2 x L x H x I); then the pooler (H x H). Embedding lookups, LayerNorm, softmax, activations and bias adds
    are not counted: together they are a few percent, and matrix products are what a matmul peak measures.

    Args:
        config: the encoder's `BertConfig`.
        sequence_length: tokens per sequence, padding included (padded positions are computed too).
    """
    length, hidden, inner = sequence_length, config.hidden_size, config.intermediate_size
    per_layer = 4 * length * hidden * hidden + 2 * length * length * hidden + 2 * length * hidden * inner
    return 2 * (config.num_hidden_layers * per_layer + hidden * hidden)
