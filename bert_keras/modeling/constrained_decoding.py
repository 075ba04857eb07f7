"""Constrained (Viterbi) decoding of word tags: the most probable tag sequence that a tag scheme reads back whole.

A token classifier scores each word's tags independently, and its per-word argmax often breaks an entity's chain
(BMES `B-LOC M-LOC O`), which strict decoding then drops entirely. Here the sentence's tags are chosen jointly: the
sequence maximising the sum of per-word log-probabilities among the sequences in which every entity tag belongs to
an entity the scheme's strict rules keep (`TagScheme.spans`). For the schemes here that set is exactly the tag
sequences whose adjacent pairs, first tag and last tag are allowed (tests check it against `spans` on every short
sequence), so a first-order Viterbi over a 0 / -inf transition matrix finds the best one, in the graph, for a batch
at once. No tags are learned: the transitions are the scheme's rules, not a CRF.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import tensorflow as tf

from bert_keras.data.tag_schemes import OUTSIDE, TagScheme, tag_scheme

_FORBIDDEN = -1e9  # a float32 log-score no allowed path reaches (sums of log-softmax over a sentence are far above)
_PROBE_TYPES = ("X", "Y")  # two entity types: enough to see every same-type / other-type rule
_RULES_CACHE: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # by scheme name; the tables are small


def _is_whole(scheme: TagScheme, tags: Sequence[str]) -> bool:
    """Whether the scheme's strict reading keeps every entity tag of `tags` (it re-encodes to the same tags)."""
    return scheme.encode(scheme.spans(tags), len(tags)) == list(tags)


def _prefix_rules(scheme: TagScheme) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Allowed (previous, current) pairs, first tags and last tags over the probe tag set, found by enumerating
    every whole sequence of up to 4 tags (a pair is allowed when some whole sequence holds it)."""
    if scheme.name not in _RULES_CACHE:
        _RULES_CACHE[scheme.name] = _enumerated_rules(scheme)
    return _RULES_CACHE[scheme.name]


def _enumerated_rules(scheme: TagScheme) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    names = scheme.labels(_PROBE_TYPES)
    index = {name: i for i, name in enumerate(names)}
    pairs = np.zeros((len(names), len(names)), bool)
    first, last = np.zeros(len(names), bool), np.zeros(len(names), bool)
    for length in range(1, 5):
        for tags in itertools.product(names, repeat=length):
            if _is_whole(scheme, tags):
                first[index[tags[0]]] = last[index[tags[-1]]] = True
                for a, b in zip(tags, tags[1:]):
                    pairs[index[a], index[b]] = True
    return pairs, first, last


def transition_rules(label_names: Sequence[str], scheme: str | TagScheme) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bool `allowed[previous label, label]`, `allowed_first[label]`, `allowed_last[label]` for labels of `scheme`.

    Labels that are not tags of the scheme (nor O) are treated like O."""
    scheme = tag_scheme(scheme)
    pairs, first, last = _prefix_rules(scheme)
    probe = {name: i for i, name in enumerate(scheme.labels(_PROBE_TYPES))}

    def probe_tag(name: str, kind_index: int) -> int:
        if name == OUTSIDE or not scheme.allows(name):
            return probe[OUTSIDE]
        return probe[f"{name[0]}-{_PROBE_TYPES[kind_index]}"]

    kinds = [name[2:] if scheme.allows(name) and name != OUTSIDE else None for name in label_names]
    size = len(label_names)
    allowed = np.zeros((size, size), bool)
    for a, b in itertools.product(range(size), repeat=2):
        # Same type -> probe X, X; different types -> X, Y (O's type does not matter).
        allowed[a, b] = pairs[probe_tag(label_names[a], 0), probe_tag(label_names[b], int(kinds[a] != kinds[b]))]
    allowed_first = np.array([first[probe_tag(name, 0)] for name in label_names])
    allowed_last = np.array([last[probe_tag(name, 0)] for name in label_names])
    return allowed, allowed_first, allowed_last


def constrained_label_ids(word_logits: tf.Tensor, num_words: tf.Tensor, label_names: Sequence[str],
                          scheme: str | TagScheme, scored: tf.Tensor | None = None) -> tf.Tensor:
    """The best whole tag sequence of each sentence (Viterbi over the scheme's allowed transitions).

    Args:
        word_logits: float `[batch, words, labels]`, each word's tag logits.
        num_words: int `[batch]`; positions at or after it are ignored.
        label_names: the tag of each label id (must include "O").
        scheme: the tag scheme whose strict rules must keep every entity tag.
        scored: optional bool `[batch, words]`; False words (cut by truncation) are forced to "O".

    Returns:
        int32 `[batch, words]` label ids; -1 at and after `num_words`.
    """
    allowed, allowed_first, allowed_last = transition_rules(label_names, scheme)
    outside = list(label_names).index(OUTSIDE)
    logits = tf.cast(word_logits, tf.float32)
    batch, width = tf.shape(logits)[0], tf.shape(logits)[1]
    num_words = tf.cast(num_words, tf.int32)
    emissions = tf.nn.log_softmax(logits, axis=-1)
    if scored is not None:
        forced_outside = tf.where(tf.range(len(label_names)) == outside, 0.0, _FORBIDDEN)
        emissions = tf.where(scored[:, :, None], emissions, forced_outside[None, None, :])
    # At least two steps, one past every sentence's end, so that the scans below never run over an empty sequence
    # (a graph's scan cannot stack zero elements of a batch of unknown size); past the end nothing changes.
    emissions = tf.pad(emissions, [[0, 0], [0, tf.maximum(2 - width, 1)], [0, 0]])
    transitions = tf.constant(np.where(allowed, 0.0, _FORBIDDEN), tf.float32)
    first_penalty = tf.constant(np.where(allowed_first, 0.0, _FORBIDDEN), tf.float32)
    last_penalty = tf.constant(np.where(allowed_last, 0.0, _FORBIDDEN), tf.float32)
    steps = tf.transpose(emissions, [1, 0, 2])  # [words, batch, labels]
    valid = tf.transpose(tf.range(tf.shape(steps)[0])[None, :] < num_words[:, None])  # [words, batch]
    identity = tf.broadcast_to(tf.range(len(label_names), dtype=tf.int32), [batch, len(label_names)])

    def forward(carry, step):
        scores, _ = carry
        emission, is_word = step
        candidates = scores[:, :, None] + transitions[None]  # [batch, previous, current]
        best = tf.argmax(candidates, axis=1, output_type=tf.int32)
        updated = tf.reduce_max(candidates, axis=1) + emission
        # Past a sentence's end the scores stay and the back-pointers point at themselves.
        return (tf.where(is_word[:, None], updated, scores), tf.where(is_word[:, None], best, identity))

    start = steps[0] + first_penalty[None]
    scores, pointers = tf.scan(forward, (steps[1:], valid[1:]), initializer=(start, identity))
    final = tf.concat([start[None], scores], axis=0)[-1] + last_penalty[None]
    best_last = tf.argmax(final, axis=-1, output_type=tf.int32)

    def backward(tag, pointer):
        return tf.gather(pointer, tag, batch_dims=1)

    # pointers[t] maps the tag at word t + 1 to the best tag at word t; walk them from the last word back.
    earlier = tf.scan(backward, pointers, initializer=best_last, reverse=True)  # [words - 1, batch]
    path = tf.transpose(tf.concat([earlier, best_last[None]], axis=0))  # [batch, words (at least 1)]
    path = path[:, :width]
    return tf.where(tf.range(width)[None, :] < num_words[:, None], path, -1)


_COMPILED: dict[tuple, tf.types.experimental.GenericFunction] = {}


def _compiled(label_names: tuple[str, ...], scheme: TagScheme):
    """`constrained_label_ids` as one traced graph per label set and scheme (any batch and width)."""
    key = (label_names, scheme.name)
    if key not in _COMPILED:
        _COMPILED[key] = tf.function(
            lambda logits, num_words, scored: constrained_label_ids(logits, num_words, label_names, scheme, scored),
            input_signature=[tf.TensorSpec([None, None, len(label_names)], tf.float32),
                             tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, None], tf.bool)])
    return _COMPILED[key]


def constrained_sentence_ids(word_logits: Sequence[np.ndarray], scored: Sequence[np.ndarray],
                             label_names: Sequence[str], scheme: str | TagScheme, batch_size: int = 256
                             ) -> list[np.ndarray]:
    """`constrained_label_ids` for sentences of different lengths held in numpy: each sentence's `[words, labels]`
    logits and bool `[words]` scored mask -> its int label ids `[words]` (the same graph the exported model runs)."""
    function = _compiled(tuple(label_names), tag_scheme(scheme))
    out = []
    for begin in range(0, len(word_logits), batch_size):
        chunk, masks = word_logits[begin:begin + batch_size], scored[begin:begin + batch_size]
        lengths = np.array([len(m) for m in masks], np.int32)
        width = int(lengths.max(initial=0))
        logits = np.zeros((len(chunk), width, len(label_names)), np.float32)
        mask = np.zeros((len(chunk), width), bool)
        for row, (values, scored_words) in enumerate(zip(chunk, masks)):
            logits[row, :len(values)], mask[row, :len(scored_words)] = values, scored_words
        ids = function(tf.constant(logits), tf.constant(lengths), tf.constant(mask)).numpy()
        out.extend(ids[row, :length] for row, length in enumerate(lengths))
    return out
