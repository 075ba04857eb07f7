"""LocalityScaffold: a temporary distance penalty on the attention logits of early pretraining.

A small BERT pretrained on a CPU budget stalls on a plateau where every head reads the bag of characters in the
sequence and none reads the characters next to the mask: learning to attend by position needs the query and key
weights and the position table to line up at once, and the bag already lowers the loss (docs/BENCHMARKS.md). The
scaffold adds `-slope_h * max(0, |i - j| - 1)` to head h's logits, so some heads see only a token's neighbours
from the first step and the layers above learn to use what they bring. It then fades to zero, and the position
weights learn to do what the penalty did. After the fade the model is plain BERT: the scaffold has no weights and
is never saved.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from bert_keras.errors import InvalidInputError

# Head h's penalty per token of distance beyond the neighbours: 4, 1, 0.25, ... (a head that sees its neighbours
# and itself, then ever wider ones); the last head of several gets 0 and attends as it likes throughout.
STRONGEST_SLOPE, SLOPE_RATIO = 4.0, 0.25
HOLD_FRACTION = 1 / 3  # full strength for the first third of the scaffold's steps, then a linear fade


def scaffold_slopes(num_heads: int) -> list[float]:
    """The per-head penalty slopes for `num_heads` heads (see the module docstring)."""
    slopes = [STRONGEST_SLOPE * SLOPE_RATIO**head for head in range(num_heads)]
    if num_heads > 1:
        slopes[-1] = 0.0
    return slopes


def scaffold_strength(step, total_steps: int):
    """The scaffold's multiplier at optimizer step `step`: 1 for the first third of `total_steps`, then linear to
    0 at `total_steps`, 0 after (a float32 tensor; `step` may be a Python int or a variable)."""
    hold = int(total_steps * HOLD_FRACTION)
    fade = max(1, total_steps - hold)
    step = ops.cast(step, "float32")
    return ops.clip(1.0 - (step - hold) / fade, 0.0, 1.0)


class LocalityScaffold:
    """Adds a fading penalty on attention distance to every block of an encoder while it pretrains.

    The strength follows the optimizer's own step counter, which backups save and restore, so a resumed run picks
    up where it was (tested on one device; distributed strategies read the same counter but are untested with
    it). It holds no weights: a checkpoint saved at any step is a plain BERT one
    (before the fade ends, that model reads its neighbours only partly without the penalty).

    Args:
        total_steps: the optimizer steps over which it holds, then fades out (must be >= 1).
        step: the optimizer's step counter (`model.optimizer.iterations`).

    Examples:
    ```python
    encoder = bert_keras.BertEncoder(bert_keras.BertConfig.named("tiny", vocab_size=100))
    step = keras.Variable(0, dtype="int64", trainable=False)
    scaffold = LocalityScaffold(total_steps=300, step=step)
    scaffold.attach(encoder)   # pretrain (model.fit) ...
    scaffold.detach(encoder)   # the encoder is plain BERT again
    ```
    """

    def __init__(self, total_steps: int, step):
        if total_steps < 1:
            raise InvalidInputError(f"locality scaffold steps must be >= 1, got {total_steps}")
        self.total_steps = total_steps
        self.step = step

    def strength(self):
        """The current multiplier (float32 scalar tensor)."""
        return scaffold_strength(self.step, self.total_steps)

    def bias(self, num_heads: int, length):
        """The float32 `[heads, length, length]` penalty to add to the attention logits now."""
        positions = tf.range(length)
        distance = ops.cast(ops.abs(positions[:, None] - positions[None, :]), "float32")
        slopes = ops.convert_to_tensor(scaffold_slopes(num_heads), "float32")
        return -self.strength() * slopes[:, None, None] * ops.maximum(distance - 1.0, 0.0)[None]

    def attach(self, encoder: keras.Model) -> None:
        """Makes every transformer block of `encoder` add this penalty (before the first fit traces them)."""
        for layer in encoder.transformer_layers:
            layer.locality_scaffold = self

    @staticmethod
    def detach(encoder: keras.Model) -> None:
        """Removes any scaffold from `encoder`'s blocks."""
        for layer in encoder.transformer_layers:
            layer.locality_scaffold = None
