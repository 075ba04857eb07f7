"""Numeric precisions a run or an export can build its model under, and the one helper that applies them.

A precision is the name of a Keras dtype policy: "float32", "mixed_bfloat16" (matrix products in bfloat16,
variables in float32) or "mixed_float16" (the same in float16; training then needs loss scaling). Base layer:
imports Keras and the error family only, so training/, export/ and the benchmarks share it.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import keras

from bert_keras.errors import InvalidInputError

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def check_precision(precision: str) -> str:
    """`precision` if it is one of PRECISIONS, else InvalidInputError naming it and the choices."""
    if precision not in PRECISIONS:
        raise InvalidInputError(f"precision {precision!r} is unknown; expected one of {PRECISIONS}")
    return precision


@contextlib.contextmanager
def global_dtype_policy(precision: str) -> Iterator[None]:
    """Build models under `precision` (a Keras dtype policy name, e.g. one of PRECISIONS); the previous global
    policy is restored after, for the caller's other models (layers keep the policy they were built with)."""
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
