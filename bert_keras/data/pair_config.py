"""PairConfig: how documents become next-sentence pairs (a plain dataclass; `bert-keras pretrain-data` reads its
defaults for its flags)."""

from __future__ import annotations

import dataclasses

from bert_keras.errors import InvalidInputError

SPECIAL_TOKENS_PER_PAIR = 3  # [CLS] A [SEP] B [SEP]


@dataclasses.dataclass(frozen=True)
class PairConfig:
    """How documents become sentence pairs.

    Args:
        max_seq_length: packed length, [CLS]/[SEP] included.
        short_seq_prob: probability of a shorter random target length (so the model sees short inputs too).
        random_next_prob: probability that B comes from another document (label 1).
        dupe_factor: how many times each document is turned into pairs (different splits each time).
        seed: seed of the pair sampling.
    """

    max_seq_length: int = 128
    short_seq_prob: float = 0.1
    random_next_prob: float = 0.5
    dupe_factor: int = 1
    seed: int = 12345

    def __post_init__(self) -> None:
        if not isinstance(self.max_seq_length, int) or self.max_seq_length < SPECIAL_TOKENS_PER_PAIR + 2:
            raise InvalidInputError(f"max_seq_length must be an integer >= {SPECIAL_TOKENS_PER_PAIR + 2}, "
                                    f"got {self.max_seq_length!r}")
        for name in ("short_seq_prob", "random_next_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidInputError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if not isinstance(self.dupe_factor, int) or self.dupe_factor < 1:
            raise InvalidInputError(f"dupe_factor must be a positive integer, got {self.dupe_factor!r}")
