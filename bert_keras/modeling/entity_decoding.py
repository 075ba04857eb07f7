"""Entities from word tags in TF ops: a tag scheme's strict rules, or conlleval's, decoded for a whole batch at once.

The same decoding as `TagScheme.spans` (and `bert_keras.metrics.entity_spans` for conlleval), without a loop over
words, so that the exported NER signature returns the entities Python would read from its tags. That scan is: an
entity candidate starts at a `starts` pair, extends over the `inside` pairs after it, is kept when the pair after
its last word is an `ends` pair, and the scan goes on after it. Written as prefix sums:

- `open[i]`: word i belongs to a candidate, i.e. some `starts` word k <= i has `inside` at every word k+1..i;
  with m(i) the last word <= i that is not `inside`, that is "a `starts` word in m(i)..i" (one cumulative sum).
- `covered[i] = inside[i] and open[i-1]`: word i continues a candidate, so it cannot start one.
- A candidate starts at every `starts` word not covered and ends before the next word not covered.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from bert_keras.data.tag_schemes import CONLLEVAL, OUTSIDE, RULE_KINDS, TagScheme, tag_scheme


def label_tables(label_names: Sequence[str], scheme: TagScheme) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per label id: its prefix id (index into "O" + `scheme.prefixes`; other prefixes read as O), its entity type
    id (-1 for O) and the entity types in id order."""
    letters = OUTSIDE + scheme.prefixes
    types = sorted({name[2:] for name in label_names if name != OUTSIDE and name[:1] in scheme.prefixes})
    prefix_ids = np.array([letters.index(n[0]) if n != OUTSIDE and n[:1] in scheme.prefixes and n[1:2] == "-"
                           else 0 for n in label_names], np.int32)
    type_ids = np.array([types.index(n[2:]) if prefix_ids[i] else -1 for i, n in enumerate(label_names)], np.int32)
    return prefix_ids, type_ids, types


def _shift_right(values: tf.Tensor, fill) -> tf.Tensor:
    return tf.concat([tf.fill([tf.shape(values)[0], 1], tf.constant(fill, values.dtype)), values[:, :-1]], axis=1)


def decode_entities(label_ids: tf.Tensor, num_words: tf.Tensor, label_names: Sequence[str],
                    scheme: str | TagScheme | None = None) -> dict[str, tf.RaggedTensor]:
    """The entities of a batch of tagged sentences.

    Args:
        label_ids: int `[batch, words]`, ids into `label_names`; positions at or after `num_words` are ignored.
        num_words: int `[batch]`, the words of each sentence.
        label_names: the tag of each label id.
        scheme: a `TagScheme` (or a scheme name, for its strict rules), e.g. `tag_schemes.decoding_scheme(name)`;
            None for conlleval's rules (`tag_schemes.CONLLEVAL`).

    Returns:
        {"type": string, "first": int32, "last": int32 (word indices, inclusive)}, each ragged `[batch, (entities)]`
        in word order.
    """
    scheme = CONLLEVAL if scheme is None else tag_scheme(scheme)
    prefix_table, type_table, types = label_tables(label_names, scheme)
    label_ids = tf.cast(label_ids, tf.int32)
    batch, width = tf.shape(label_ids)[0], tf.shape(label_ids)[1]
    valid = tf.range(width)[None, :] < tf.cast(num_words, tf.int32)[:, None]
    safe = tf.clip_by_value(label_ids, 0, len(label_names) - 1)
    # One more position than words: the sentence end reads as O (it closes the last candidate).
    prefix = tf.pad(tf.where(valid, tf.gather(prefix_table, safe), 0), [[0, 0], [0, 1]])
    kind = tf.pad(tf.where(valid, tf.gather(type_table, safe), -1), [[0, 0], [0, 1]], constant_values=-1)
    pair = tf.stack([_shift_right(prefix, 0), prefix, tf.cast(_shift_right(kind, -1) == kind, tf.int32)], axis=-1)
    rule = {name: tf.gather_nd(tf.constant(scheme.tables[name]), pair) for name in RULE_KINDS}

    starts, inside = rule["starts"], rule["inside"]
    segment = tf.cumsum(tf.cast(~inside, tf.int32), axis=1)  # words m(i)..i share a segment id
    starts_before = tf.cumsum(tf.cast(starts, tf.int32), axis=1, exclusive=True)
    slots = width + 2
    flat_segment = tf.reshape(segment + tf.range(batch)[:, None] * slots, [-1])
    segment_base = tf.math.unsorted_segment_min(tf.reshape(starts_before, [-1]), flat_segment, batch * slots)
    base = tf.reshape(tf.gather(segment_base, flat_segment), tf.shape(segment))
    open_ = starts_before + tf.cast(starts, tf.int32) - base > 0
    covered = inside & _shift_right(open_, False)
    first = starts & ~covered
    # The next word not covered after each word (the sentence end never is), by a search in the running count.
    free = tf.cumsum(tf.cast(~covered, tf.int32), axis=1)
    after = tf.searchsorted(free, free + 1, side="left", out_type=tf.int32)
    kept = first & tf.gather(rule["ends"], tf.minimum(after, width), batch_dims=1)
    where = tf.cast(tf.where(kept), tf.int32)
    rows, starts_at = where[:, 0], where[:, 1]
    last = tf.gather_nd(after, where) - 1
    names = tf.gather(tf.constant(types or [""]), tf.gather_nd(kind, where))

    def ragged(values):
        return tf.RaggedTensor.from_value_rowids(values, rows, nrows=batch)

    return {"type": ragged(names), "first": ragged(starts_at), "last": ragged(last)}
