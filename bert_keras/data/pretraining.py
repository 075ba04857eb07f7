"""Pretraining data: documents -> sentence pairs (NSP) -> packed id arrays or TFRecord shards -> masked tf.data.

Pair creation follows the BERT paper and Google's create_pretraining_data.py: sentences of a document are
gathered up to a target length (shorter with probability `short_seq_prob`), split at a random point into A and
B, and half the time B is replaced by text from a random other document (label 1). Masking is not done here but
in the tf.data pipeline (`pretraining_dataset`), so every epoch sees new masks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
from typing import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from bert_keras.atomic_io import atomic_directory
from bert_keras.data.pair_config import SPECIAL_TOKENS_PER_PAIR, PairConfig
from bert_keras.errors import InvalidInputError
from bert_keras.json_files import read_json
from bert_keras.text.corpus import iter_documents
from bert_keras.text.masking import MaskedLMMasker
from bert_keras.text.tokenizer import BertTokenizer

RANDOM_NEXT, ACTUAL_NEXT = 1, 0  # next_sentence_label values (as Google's and Hugging Face's BERT)
# In segmented corpora a token id carries this bit while it continues the previous token's word: pairs stay
# plain int lists through pairing and truncation, and `pack_pairs` splits the bit off into `word_continuation`.
CONTINUES_WORD = 1 << 30
METADATA_FILE = "pretraining_data.json"
SHARD_PATTERN = "pretraining-{index:05d}-of-{count:05d}.tfrecord"


@dataclasses.dataclass
class Pair:
    """One NSP example before packing: token ids of A and B, and whether B is a random next."""

    first: list[int]
    second: list[int]
    is_random_next: bool


def _segmented_ids(tokenizer: BertTokenizer, sentences: list[str]) -> list[list[int]]:
    """Ids of space-segmented sentences, `CONTINUES_WORD` set on every token after the first of a word.

    Each word is tokenized on its own: the same ids as the whole sentence, since BERT's tokenizer splits at
    whitespace before anything else.
    """
    words = tf.strings.split(tf.constant(sentences))
    pieces = tokenizer.tokenize(words.flat_values)
    first = tf.ragged.range(pieces.row_lengths()) == 0
    flagged = tf.where(first.flat_values, pieces.flat_values, pieces.flat_values | CONTINUES_WORD)
    flagged = tf.RaggedTensor.from_row_lengths(flagged, pieces.row_lengths())
    return tf.RaggedTensor.from_row_lengths(flagged, words.row_lengths()).merge_dims(1, 2).to_list()


def tokenize_documents(documents: Sequence[Sequence[str]], tokenizer: BertTokenizer,
                       batch_size: int = 2048, segmented: bool = False) -> list[list[list[int]]]:
    """WordPiece ids of every sentence, documents kept apart; sentences that tokenize to nothing are dropped.

    With `segmented=True` the sentences separate words with spaces (segmented Chinese) and ids carry
    `CONTINUES_WORD` inside a word, for whole-word masking.
    """
    sentences = [s for document in documents for s in document]
    ids: list[list[int]] = []
    for start in range(0, len(sentences), batch_size):
        batch = sentences[start:start + batch_size]
        if segmented:
            ids.extend(_segmented_ids(tokenizer, batch))
        else:
            ids.extend(tokenizer.tokenize(tf.constant(batch)).to_list())
    out, offset = [], 0
    for document in documents:
        pieces = [s for s in ids[offset:offset + len(document)] if s]
        offset += len(document)
        if pieces:
            out.append(pieces)
    return out


def _truncate_pair(first: list[int], second: list[int], max_tokens: int, rng: random.Random) -> None:
    """Trim the longer of the two (from a random end) until they fit, in place (as Google's truncate_seq_pair)."""
    while len(first) + len(second) > max_tokens:
        longer = first if len(first) > len(second) else second
        del longer[0 if rng.random() < 0.5 else -1]


def _pairs_from_document(documents: Sequence[list[list[int]]], index: int, config: PairConfig,
                         rng: random.Random) -> Iterator[Pair]:
    document = documents[index]
    max_tokens = config.max_seq_length - SPECIAL_TOKENS_PER_PAIR
    target = rng.randint(2, max_tokens) if rng.random() < config.short_seq_prob else max_tokens
    chunk: list[list[int]] = []
    length, i = 0, 0
    while i < len(document):
        chunk.append(document[i])
        length += len(document[i])
        if i == len(document) - 1 or length >= target:
            random_next = rng.random() < config.random_next_prob
            if not random_next and len(chunk) == 1:
                if i + 1 == len(document):
                    break  # a lone last sentence has no actual next; making it random would skew labels
                i += 1  # an actual next needs two sentences: take the following one as B
                chunk.append(document[i])
            split = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
            first = [t for sentence in chunk[:split] for t in sentence]
            if len(chunk) == 1 or random_next:
                other = rng.randrange(len(documents) - 1)  # any document but this one
                other += other >= index
                source = documents[other]
                second: list[int] = []
                for sentence in source[rng.randrange(len(source)):]:
                    second.extend(sentence)
                    if len(second) >= max(target - len(first), 1):
                        break
                i -= len(chunk) - split  # the unused sentences start the next chunk
                is_random = True
            else:
                second = [t for sentence in chunk[split:] for t in sentence]
                is_random = False
            _truncate_pair(first, second, max_tokens, rng)
            if first and second:
                yield Pair(first, second, is_random)
            chunk, length = [], 0
            target = rng.randint(2, max_tokens) if rng.random() < config.short_seq_prob else max_tokens
        i += 1


def create_pairs(documents: Sequence[list[list[int]]], config: PairConfig, rng: random.Random | None = None
                 ) -> list[Pair]:
    """NSP pairs from tokenized documents (`dupe_factor` passes), shuffled."""
    if len(documents) < 2:
        raise InvalidInputError(f"next-sentence pairs need at least 2 documents, the corpus has {len(documents)} "
                                "(separate documents with a blank line)")
    rng = rng or random.Random(config.seed)
    pairs = [pair for _ in range(config.dupe_factor) for index in range(len(documents))
             for pair in _pairs_from_document(documents, index, config, rng)]
    return _balance_labels(pairs, config.random_next_prob, rng)


def _balance_labels(pairs: list[Pair], random_next_prob: float, rng: random.Random) -> list[Pair]:
    """Drop surplus pairs of the over-represented label so `random_next_prob` of the pairs are random, shuffled.

    A random-next pair returns its unused sentences to the document (as in Google's script, so no text is
    wasted), which makes random pairs more numerous than drawn: about 53% instead of 50% on movie reviews.
    The surplus pairs are dropped; their A sentences mostly appear in other pairs.
    """
    random_pairs = [p for p in pairs if p.is_random_next]
    actual_pairs = [p for p in pairs if not p.is_random_next]
    if 0.0 < random_next_prob < 1.0 and random_pairs and actual_pairs:
        wanted_random = round(len(actual_pairs) * random_next_prob / (1.0 - random_next_prob))
        if wanted_random < len(random_pairs):
            random_pairs = rng.sample(random_pairs, wanted_random)
        else:
            wanted_actual = round(len(random_pairs) * (1.0 - random_next_prob) / random_next_prob)
            actual_pairs = rng.sample(actual_pairs, min(wanted_actual, len(actual_pairs)))
    pairs = random_pairs + actual_pairs
    rng.shuffle(pairs)
    return pairs


def pack_pairs(pairs: Sequence[Pair], max_seq_length: int, cls_id: int, sep_id: int, pad_id: int = 0,
               segmented: bool = False) -> dict[str, np.ndarray]:
    """[CLS] A [SEP] B [SEP] padded to `max_seq_length`: token_ids (int32), segment_ids and padding_mask (int8),
    next_sentence_label (int32); with `segmented`, also word_continuation (int8, from `CONTINUES_WORD`)."""
    count = len(pairs)
    token_ids = np.full((count, max_seq_length), pad_id, np.int32)
    segment_ids = np.zeros((count, max_seq_length), np.int8)
    padding_mask = np.zeros((count, max_seq_length), np.int8)
    labels = np.zeros((count,), np.int32)
    for row, pair in enumerate(pairs):
        ids = [cls_id, *pair.first, sep_id, *pair.second, sep_id]
        if len(ids) > max_seq_length:
            raise InvalidInputError(f"pair {row} has {len(ids)} tokens, more than "
                                    f"max_seq_length={max_seq_length}")
        token_ids[row, :len(ids)] = ids
        segment_ids[row, len(pair.first) + 2:len(ids)] = 1
        padding_mask[row, :len(ids)] = 1
        labels[row] = RANDOM_NEXT if pair.is_random_next else ACTUAL_NEXT
    arrays = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask,
              "next_sentence_label": labels}
    if segmented:
        arrays["word_continuation"] = (token_ids & CONTINUES_WORD != 0).astype(np.int8)
        token_ids &= CONTINUES_WORD - 1
    return arrays


def build_pretraining_arrays(inputs: str | os.PathLike | Sequence[str | os.PathLike], tokenizer: BertTokenizer,
                             config: PairConfig, segmented: bool = False) -> dict[str, np.ndarray]:
    """Raw text files (one sentence per line, blank line between documents) -> packed NSP arrays in memory.

    `segmented`: the text separates words with spaces; the arrays then mark word continuations.
    """
    documents = tokenize_documents(list(iter_documents(inputs)), tokenizer, segmented=segmented)
    pairs = create_pairs(documents, config)
    return pack_pairs(pairs, config.max_seq_length, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id,
                      segmented=segmented)


# ------------------------------------------------------------------------------------------- TFRecord shards

def vocab_fingerprint(vocabulary: Sequence[str]) -> str:
    """sha256 of the vocab lines: ties data shards to the vocab that made them."""
    return hashlib.sha256("\n".join(vocabulary).encode("utf-8")).hexdigest()


def _int_feature(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _chunks(documents: Iterable[list[str]], size: int) -> Iterator[list[list[str]]]:
    chunk: list[list[str]] = []
    for document in documents:
        chunk.append(document)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_pretraining_tfrecords(inputs: str | os.PathLike | Sequence[str | os.PathLike],
                                output_dir: str | os.PathLike, tokenizer: BertTokenizer, config: PairConfig,
                                num_shards: int = 8, documents_per_chunk: int = 20000, overwrite: bool = False,
                                segmented: bool = False) -> dict:
    """Stream a corpus that need not fit in memory into `num_shards` TFRecord files of unmasked NSP pairs.

    Documents are read `documents_per_chunk` at a time; random next sentences are drawn from the same chunk, and
    pairs are shuffled within it and dealt round-robin to the shards. Each shard is then shuffled whole (held in
    memory one shard at a time: use more shards for a corpus whose shard would not fit), so a shard's order mixes
    all chunks, as Google's script shuffles all instances: a corpus that comes source by source (news, then
    reviews) does not reach the model source by source. Everything is written into a temporary sibling directory
    that is renamed to `output_dir` at the end, so a crash never leaves a partial data set.
    A `pretraining_data.json` records the settings, counts and the vocab fingerprint. Returns that metadata.
    `segmented`: the text separates words with spaces; the shards then also hold `word_continuation`.
    """
    if num_shards < 1:
        raise InvalidInputError(f"num_shards must be >= 1, got {num_shards!r}")
    rng = random.Random(config.seed)
    counts = [0] * num_shards
    labels = [0, 0]
    with atomic_directory(output_dir, overwrite=overwrite) as staging:
        paths = [os.path.join(staging, SHARD_PATTERN.format(index=i, count=num_shards)) for i in range(num_shards)]
        unshuffled = [f"{path}.unshuffled" for path in paths]
        writers = [tf.io.TFRecordWriter(path) for path in unshuffled]
        try:
            for chunk in _chunks(iter_documents(inputs), documents_per_chunk):
                for pair in create_pairs(tokenize_documents(chunk, tokenizer, segmented=segmented), config, rng):
                    shard = sum(counts) % num_shards
                    label = RANDOM_NEXT if pair.is_random_next else ACTUAL_NEXT
                    writers[shard].write(_pair_example(pair, label, tokenizer).SerializeToString())
                    counts[shard] += 1
                    labels[label] += 1
        finally:
            for writer in writers:
                writer.close()
        for source, path in zip(unshuffled, paths):
            _write_shuffled(source, path, rng)
        metadata = {"max_seq_length": config.max_seq_length, "num_pairs": sum(counts), "pairs_per_shard": counts,
                    "random_next_pairs": labels[RANDOM_NEXT], "vocab_size": tokenizer.vocabulary_size,
                    "vocab_sha256": vocab_fingerprint(tokenizer.vocabulary), "lowercase": tokenizer.lowercase,
                    "segmented": segmented, "pair_config": dataclasses.asdict(config)}
        with open(os.path.join(staging, METADATA_FILE), "w", encoding="utf-8") as f:
            json.dump(metadata, f, indent=2)
    return metadata


def _write_shuffled(source: str, path: str, rng: random.Random) -> None:
    """Write the records of TFRecord file `source` to `path` in a random order, then delete `source`."""
    records = [bytes(record) for record in tf.data.TFRecordDataset(source).as_numpy_iterator()]
    rng.shuffle(records)
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    os.remove(source)


def _pair_example(pair: Pair, label: int, tokenizer: BertTokenizer) -> tf.train.Example:
    ids = [tokenizer.cls_id, *pair.first, tokenizer.sep_id, *pair.second, tokenizer.sep_id]
    segments = [0] * (len(pair.first) + 2) + [1] * (len(pair.second) + 1)
    features = {"token_ids": _int_feature([i & (CONTINUES_WORD - 1) for i in ids]),
                "segment_ids": _int_feature(segments), "next_sentence_label": _int_feature([label])}
    if any(i & CONTINUES_WORD for i in ids):
        features["word_continuation"] = _int_feature([int(i & CONTINUES_WORD != 0) for i in ids])
    return tf.train.Example(features=tf.train.Features(feature=features))


def read_pretraining_metadata(data_dir: str | os.PathLike) -> dict:
    """The `pretraining_data.json` of a shard directory (clear error if it is not one)."""
    path = os.path.join(os.fspath(data_dir), METADATA_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{data_dir}: no {METADATA_FILE}; not a directory written by "
                                "write_pretraining_tfrecords")
    return read_json(path)


def tfrecord_pairs(data_dir: str | os.PathLike, shuffle_files: bool = True, seed: int = 0, num_workers: int = 1,
                   worker_index: int = 0) -> tf.data.Dataset:
    """The packed pairs of a shard directory as a dataset of unpadded dicts.

    With `num_workers` > 1 this worker reads only its own files (file `i` goes to worker `i % num_workers`);
    turn tf.data's auto-sharding off (`data_sharding_options("off")`) so the strategy does not shard again.
    The file order is shuffled once with `seed` (the same for every iterator, so every worker and every
    re-opened iterator agree).
    """
    pattern = os.path.join(os.fspath(data_dir), "pretraining-*.tfrecord")
    paths = sorted(tf.io.gfile.glob(pattern))
    if len(paths) < num_workers:
        raise InvalidInputError(f"{data_dir} has {len(paths)} shards, fewer than the {num_workers} workers: write "
                                "at least one shard per worker (bert-keras pretrain-data --num-shards)")
    if not 0 <= worker_index < num_workers:
        raise InvalidInputError(f"worker_index {worker_index} is outside 0..{num_workers - 1}")
    files = tf.data.Dataset.from_tensor_slices(paths).shard(num_workers, worker_index)
    if shuffle_files:
        files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=False)
    spec = {"token_ids": tf.io.RaggedFeature(tf.int64), "segment_ids": tf.io.RaggedFeature(tf.int64),
            "next_sentence_label": tf.io.FixedLenFeature([], tf.int64)}
    segmented = read_pretraining_metadata(data_dir).get("segmented", False)
    if segmented:
        spec["word_continuation"] = tf.io.RaggedFeature(tf.int64)

    def parse(record):
        example = tf.io.parse_single_example(record, spec)
        pair = {"token_ids": tf.cast(example["token_ids"], tf.int32),
                "segment_ids": tf.cast(example["segment_ids"], tf.int8),
                "padding_mask": tf.ones_like(example["token_ids"], tf.int8),
                "next_sentence_label": tf.cast(example["next_sentence_label"], tf.int32)}
        if segmented:  # a pair without any multi-token word stores no feature: all zeros
            continuation = tf.cast(example["word_continuation"], tf.int8)
            pair["word_continuation"] = tf.pad(continuation, [[0, tf.size(pair["token_ids"]) - tf.size(continuation)]])
        return pair

    records = files.interleave(tf.data.TFRecordDataset, cycle_length=4, num_parallel_calls=tf.data.AUTOTUNE,
                               deterministic=True)
    return records.map(parse, num_parallel_calls=tf.data.AUTOTUNE)


# ------------------------------------------------------------------------------------------- tf.data pipeline

def pretraining_dataset(pairs: dict[str, np.ndarray] | tf.data.Dataset, masker: MaskedLMMasker, batch_size: int,
                        max_seq_length: int | None = None, shuffle_buffer: int = 10000, seed: int = 0,
                        repeat: bool = True, options: tf.data.Options | None = None,
                        start_batch: int = 0) -> tf.data.Dataset:
    """Batches of `(x, y, sample_weight)` for `BertPretrainer.fit`, masked anew each time a batch is drawn.

    Args:
        pairs: packed arrays from `build_pretraining_arrays` / `pack_pairs`, or `tfrecord_pairs(...)`.
        masker: the `MaskedLMMasker` to apply per batch.
        batch_size: global batch size (Keras splits it across replicas).
        max_seq_length: pad unpadded (TFRecord) pairs to this length.
        shuffle_buffer: pairs in the shuffle buffer (0 = no shuffling).
        seed: seed of shuffling and of the per-batch masking seeds.
        repeat: repeat forever (pretraining counts steps, not passes).
        options: tf.data options, e.g. auto-sharding for multi-worker runs.
        start_batch: begin at this batch of the stream (a resumed run: the stream is a fixed function of `seed`,
            so it continues with the pairs, order and masks an uninterrupted run would have drawn next).
    """
    if start_batch < 0:
        raise InvalidInputError(f"start_batch must be >= 0, got {start_batch!r}")
    if isinstance(pairs, dict):
        dataset = tf.data.Dataset.from_tensor_slices(pairs)
    else:
        if max_seq_length is None:
            raise InvalidInputError("max_seq_length is needed to pad pairs read from TFRecords")
        dataset = pairs
    if options is not None:
        dataset = dataset.with_options(options)
    if repeat:
        dataset = dataset.repeat()
    if shuffle_buffer:
        # After repeat, one shuffle stream spans all passes (each pass comes out in a new order), and without
        # reshuffling per iterator every new iterator replays the same stream: Keras opens a second iterator
        # under a distribution strategy, and a run must see the same batches whatever the strategy.
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=not repeat)
    # Skipped before batching and masking: only the reading and shuffling of the skipped pairs is paid for.
    dataset = dataset.skip(start_batch * batch_size)
    if isinstance(pairs, dict):
        dataset = dataset.batch(batch_size, drop_remainder=True)
    else:
        shapes = {"token_ids": [max_seq_length], "segment_ids": [max_seq_length], "padding_mask": [max_seq_length],
                  "next_sentence_label": []}
        if "word_continuation" in dataset.element_spec:
            shapes["word_continuation"] = [max_seq_length]
        dataset = dataset.padded_batch(batch_size, padded_shapes=shapes, drop_remainder=True)
    seeds = tf.data.Dataset.random(seed=seed).batch(2).skip(start_batch)

    def to_model(batch, batch_seed):
        to_mask = {"token_ids": batch["token_ids"], "padding_mask": tf.cast(batch["padding_mask"], tf.int32)}
        if "word_continuation" in batch:
            to_mask["word_continuation"] = tf.cast(batch["word_continuation"], tf.int32)
        masked = masker(to_mask, seed=batch_seed)
        x = {"token_ids": masked["token_ids"], "segment_ids": tf.cast(batch["segment_ids"], tf.int32),
             "padding_mask": tf.cast(batch["padding_mask"], tf.int32), "mask_positions": masked["mask_positions"]}
        y = {"mlm": masked["mask_ids"], "nsp": batch["next_sentence_label"]}
        return x, y, {"mlm": masked["mask_weights"], "nsp": tf.ones_like(batch["next_sentence_label"], tf.float32)}

    dataset = tf.data.Dataset.zip((dataset, seeds)).map(to_model, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
