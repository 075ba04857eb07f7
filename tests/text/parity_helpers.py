"""Helpers shared by the text tests: reference ids and readable mismatch reports."""

from __future__ import annotations

import tensorflow as tf


def reference_ids(reference, texts: list[str]) -> list[list[int]]:
    """The reference tokenizer's ids without [CLS]/[SEP], one list per text."""
    return reference(texts, add_special_tokens=False)["input_ids"]


def our_ids(tokenizer, texts, chunk: int = 1000) -> list[list[int]]:
    """Our tokenizer's ids for a list of str or bytes, in chunks (bounded memory)."""
    out: list[list[int]] = []
    for start in range(0, len(texts), chunk):
        out.extend(tokenizer(tf.constant(texts[start:start + chunk], tf.string)).to_list())
    return out


def mismatches(texts, ours, theirs) -> list[tuple]:
    return [(text, a, b) for text, a, b in zip(texts, ours, theirs) if a != b]


def mismatch_report(bad: list[tuple], reference=None, limit: int = 5) -> str:
    """The first mismatches as text: the input, our tokens/ids and the reference's."""
    lines = [f"{len(bad)} mismatch(es); the first {min(limit, len(bad))}:"]
    for text, ours, theirs in bad[:limit]:
        shown = text if len(text) <= 300 else text[:300] + "..."
        lines.append(f"  text:   {shown!r}")
        if reference is not None and isinstance(ours, list):
            ours, theirs = reference.convert_ids_to_tokens(ours), reference.convert_ids_to_tokens(theirs)
        lines.append(f"  ours:   {ours!r}")
        lines.append(f"  theirs: {theirs!r}")
    return "\n".join(lines)
