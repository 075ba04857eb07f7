"""Pretraining data on real reviews: NSP pairs (structure, 50/50 labels, true vs random next), TFRecord shards,
the masked tf.data pipeline, and bad input."""

import numpy as np
import pytest
import tensorflow as tf

from bert_keras.assets.corpora import review_documents, write_pretraining_corpus
from bert_keras.data import pretraining
from bert_keras.data.pair_config import PairConfig
from bert_keras.data.pretraining import (
    build_pretraining_arrays,
    create_pairs,
    pretraining_dataset,
    read_pretraining_metadata,
    tfrecord_pairs,
    tokenize_documents,
    write_pretraining_tfrecords,
)
from bert_keras.errors import InputFileError, InvalidInputError
from bert_keras.text.corpus import read_documents
from bert_keras.text.masking import MaskedLMMasker

MAX_SEQ_LENGTH = 64


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_pretraining_corpus(str(tmp_path_factory.mktemp("corpus") / "reviews.txt"), review_documents(1500))


@pytest.fixture(scope="module")
def documents(corpus, tokenizer):
    return tokenize_documents(read_documents(corpus), tokenizer)


@pytest.fixture(scope="module")
def pairs(documents):
    return create_pairs(documents, PairConfig(max_seq_length=MAX_SEQ_LENGTH, seed=1))


def _occurrences(index, streams, piece):
    """(document, start) of every contiguous occurrence of `piece`, found through a trigram index."""
    return [(d, i) for d, i in index.get(tuple(piece[:3]), []) if streams[d][i:i + len(piece)] == piece]


def test_documents_keep_their_sentences(corpus, documents):
    raw = read_documents(corpus)
    assert len(raw) == 1500 and len(documents) == 1500
    assert sum(len(d) for d in raw) > 10000


def test_next_sentence_labels_are_balanced(pairs):
    labels = np.array([p.is_random_next for p in pairs])
    assert len(labels) > 4000
    assert abs(labels.mean() - 0.5) < 0.01, labels.mean()


def test_pairs_fit_and_short_seq_prob_makes_short_pairs(pairs, documents):
    lengths = np.array([len(p.first) + len(p.second) + 3 for p in pairs])
    assert lengths.max() <= MAX_SEQ_LENGTH
    assert all(p.first and p.second for p in pairs)
    assert np.mean(lengths == MAX_SEQ_LENGTH) > 0.5  # most pairs fill the target

    def short_share(prob):
        pairs = create_pairs(documents, PairConfig(max_seq_length=MAX_SEQ_LENGTH, short_seq_prob=prob, seed=1))
        return np.mean([len(p.first) + len(p.second) + 3 < MAX_SEQ_LENGTH for p in pairs])

    # A chunk aims at a random shorter target with probability p; document ends give short pairs anyway
    # (measured on these reviews: 10.5% at p=0, 15.8% at p=0.1, 34% at p=0.5).
    assert short_share(0.1) > short_share(0.0) + 0.03
    assert short_share(0.5) > short_share(0.0) + 0.15


def test_actual_next_continues_the_document_and_random_next_comes_from_elsewhere(pairs, documents):
    streams = [[t for sentence in d for t in sentence] for d in documents]
    index = {}
    for d, stream in enumerate(streams):
        for i in range(len(stream) - 2):
            index.setdefault(tuple(stream[i:i + 3]), []).append((d, i))
    checked = {True: 0, False: 0}
    for pair in pairs[:400]:
        if len(pair.first) < 8 or len(pair.second) < 8:
            continue  # short spans can occur by chance in several documents
        homes_a = _occurrences(index, streams, pair.first)
        homes_b = _occurrences(index, streams, pair.second)
        assert homes_a and homes_b, "A and B must be contiguous spans of the corpus (truncation trims the ends)"
        if pair.is_random_next:
            assert not {d for d, _ in homes_a} & {d for d, _ in homes_b}
        else:
            assert any(da == db and ib > ia for da, ia in homes_a for db, ib in homes_b)
        checked[pair.is_random_next] += 1
    assert min(checked.values()) > 100


def test_packed_arrays_and_masked_batches_have_bert_layout(corpus, tokenizer, minilm_vocab):
    arrays = build_pretraining_arrays(corpus, tokenizer, PairConfig(max_seq_length=MAX_SEQ_LENGTH, seed=2))
    ids, segments, mask = arrays["token_ids"], arrays["segment_ids"], arrays["padding_mask"]
    for row in range(200):
        length = int(mask[row].sum())
        seps = np.nonzero(ids[row, :length] == tokenizer.sep_id)[0]
        assert ids[row, 0] == tokenizer.cls_id and len(seps) == 2 and seps[1] == length - 1
        np.testing.assert_array_equal(segments[row, :length], (np.arange(length) > seps[0]).astype(np.int8))
        assert np.all(ids[row, length:] == tokenizer.pad_id) and np.all(segments[row, length:] == 0)
    masker = MaskedLMMasker(minilm_vocab, max_predictions=10)
    dataset = pretraining_dataset(arrays, masker, batch_size=16, seed=3)
    (x, y, weights), (x2, _, _) = list(dataset.take(2))
    assert set(x) == {"token_ids", "segment_ids", "padding_mask", "mask_positions"}
    assert x["token_ids"].shape == (16, MAX_SEQ_LENGTH) and x["mask_positions"].shape == (16, 10)
    assert y["mlm"].shape == (16, 10) and y["nsp"].shape == (16,)
    assert weights["mlm"].dtype == tf.float32 and float(tf.reduce_sum(weights["mlm"])) > 16
    assert not np.array_equal(x["mask_positions"], x2["mask_positions"])


def test_masks_change_between_epochs(corpus, tokenizer, minilm_vocab):
    arrays = build_pretraining_arrays(corpus, tokenizer, PairConfig(max_seq_length=MAX_SEQ_LENGTH, seed=2))
    small = {k: v[:32] for k, v in arrays.items()}
    dataset = pretraining_dataset(small, MaskedLMMasker(minilm_vocab), batch_size=32, shuffle_buffer=0, seed=4)
    first, second = [batch[0] for batch in dataset.take(2)]  # the same 32 pairs, two passes
    np.testing.assert_array_equal(first["segment_ids"], second["segment_ids"])
    assert not np.array_equal(first["mask_positions"], second["mask_positions"])


def test_tfrecord_shards_hold_the_same_pairs_and_read_back_padded(corpus, tokenizer, minilm_vocab, tmp_path):
    config = PairConfig(max_seq_length=MAX_SEQ_LENGTH, seed=5)
    out = tmp_path / "shards"
    metadata = write_pretraining_tfrecords(corpus, out, tokenizer, config, num_shards=3)
    assert sorted(p.name for p in out.iterdir()) == [
        "pretraining-00000-of-00003.tfrecord", "pretraining-00001-of-00003.tfrecord",
        "pretraining-00002-of-00003.tfrecord", "pretraining_data.json"]
    assert read_pretraining_metadata(out) == metadata
    arrays = build_pretraining_arrays(corpus, tokenizer, config)  # one chunk: the very same pairs
    assert metadata["num_pairs"] == len(arrays["token_ids"])
    assert max(metadata["pairs_per_shard"]) - min(metadata["pairs_per_shard"]) <= 1
    read = list(tfrecord_pairs(out, shuffle_files=False).as_numpy_iterator())
    expected = sorted((tuple(ids[m == 1]), tuple(s[m == 1]), int(label)) for ids, s, m, label in zip(
        arrays["token_ids"], arrays["segment_ids"], arrays["padding_mask"], arrays["next_sentence_label"]))
    got = sorted((tuple(r["token_ids"]), tuple(r["segment_ids"]), int(r["next_sentence_label"])) for r in read)
    assert got == expected
    dataset = pretraining_dataset(tfrecord_pairs(out), MaskedLMMasker(minilm_vocab), batch_size=8,
                                  max_seq_length=MAX_SEQ_LENGTH)
    x, y, _ = next(iter(dataset))
    assert x["token_ids"].shape == (8, MAX_SEQ_LENGTH)


def _batches(dataset, count):
    return [tf.nest.map_structure(lambda t: t.numpy(), batch) for batch in dataset.take(count)]


def test_a_stream_started_at_a_batch_continues_the_whole_stream_there(corpus, tokenizer, minilm_vocab, tmp_path):
    """What a resumed pretraining gets: from batch k on, the very pairs, order and masks of the stream from 0,
    across the end of a pass (25 pairs, batches of 8: the fourth batch wraps) and from TFRecord shards."""
    arrays = build_pretraining_arrays(corpus, tokenizer, PairConfig(max_seq_length=MAX_SEQ_LENGTH, seed=2))
    small = {k: v[:25] for k, v in arrays.items()}
    shards = tmp_path / "shards"
    write_pretraining_tfrecords(corpus, shards, tokenizer, PairConfig(max_seq_length=MAX_SEQ_LENGTH, seed=2),
                                num_shards=2)
    masker = MaskedLMMasker(minilm_vocab, max_predictions=10)
    for source, length in ((small, None), (shards, MAX_SEQ_LENGTH)):
        def stream(start, source=source, length=length):
            pairs = tfrecord_pairs(source) if length else source
            return pretraining_dataset(pairs, masker, batch_size=8, max_seq_length=length, shuffle_buffer=16,
                                       seed=9, start_batch=start)
        whole, resumed = _batches(stream(0), 6), _batches(stream(3), 3)
        for expected, got in zip(whole[3:], resumed, strict=True):
            tf.nest.map_structure(np.testing.assert_array_equal, got, expected)
        assert not np.array_equal(whole[0][0]["token_ids"], resumed[0][0]["token_ids"])
    with pytest.raises(InvalidInputError, match="start_batch must be >= 0, got -1"):
        pretraining_dataset(small, masker, batch_size=8, start_batch=-1)


def test_tfrecord_file_sharding_splits_the_pairs_between_workers(corpus, tokenizer, tmp_path):
    out = tmp_path / "shards"
    metadata = write_pretraining_tfrecords(corpus, out, tokenizer, PairConfig(max_seq_length=MAX_SEQ_LENGTH),
                                           num_shards=4)

    def pairs(**kwargs):
        return [tuple(r["token_ids"]) for r in tfrecord_pairs(out, **kwargs).as_numpy_iterator()]

    first, second = pairs(num_workers=2, worker_index=0), pairs(num_workers=2, worker_index=1)
    assert len(first) == metadata["pairs_per_shard"][0] + metadata["pairs_per_shard"][2]
    assert len(second) == metadata["pairs_per_shard"][1] + metadata["pairs_per_shard"][3]
    assert sorted(first + second) == sorted(pairs())
    assert pairs(num_workers=2, worker_index=1) == second  # the same order for every iterator
    with pytest.raises(ValueError, match="has 4 shards, fewer than the 5 workers"):
        tfrecord_pairs(out, num_workers=5)


def test_tfrecord_writing_that_fails_midway_leaves_nothing(corpus, tokenizer, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = pretraining._pair_example

    def failing(*args):
        calls["n"] += 1
        if calls["n"] == 500:
            raise RuntimeError("simulated crash")
        return original(*args)

    monkeypatch.setattr(pretraining, "_pair_example", failing)
    out = tmp_path / "shards"
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_pretraining_tfrecords(corpus, out, tokenizer, PairConfig(max_seq_length=MAX_SEQ_LENGTH))
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


# ---- bad input ----

def test_empty_corpus_is_an_error_naming_the_files(tmp_path, tokenizer):
    (tmp_path / "a.txt").write_text("\n\n  \n")
    (tmp_path / "b.txt").write_text("")
    with pytest.raises(InputFileError, match=r"the corpus is empty: no text in .*a\.txt, .*b\.txt"):
        build_pretraining_arrays(str(tmp_path), tokenizer, PairConfig())


def test_non_utf8_file_is_an_error_naming_file_and_line(tmp_path, tokenizer):
    path = tmp_path / "latin1.txt"
    path.write_bytes("first line\nsecond line\ncaf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(InputFileError, match=r"latin1\.txt:3: not valid UTF-8 at byte 4"):
        build_pretraining_arrays(str(path), tokenizer, PairConfig())


def test_a_single_document_cannot_make_random_next_pairs(tmp_path, tokenizer):
    path = tmp_path / "one.txt"
    path.write_text("one sentence here.\nanother sentence there.\n")
    with pytest.raises(InvalidInputError, match="at least 2 documents, the corpus has 1"):
        build_pretraining_arrays(str(path), tokenizer, PairConfig())


def test_missing_input_is_an_error_naming_it(tmp_path, tokenizer):
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        build_pretraining_arrays(str(tmp_path / "nothing_here" / "*.txt"), tokenizer, PairConfig())


@pytest.mark.parametrize("kwargs, message", [({"max_seq_length": 4}, "max_seq_length"),
                                             ({"dupe_factor": 0}, "dupe_factor"),
                                             ({"short_seq_prob": 1.5}, "short_seq_prob")])
def test_bad_pair_settings_are_clear_errors(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        PairConfig(**kwargs)


def test_tfrecord_shards_mix_a_corpus_that_comes_source_by_source(tokenizer, tmp_path):
    """A corpus of 60 news-like documents, then 60 review-like ones, read in chunks of 20 documents: each shard's
    order mixes both halves (as Google's script shuffles all instances), instead of holding the reviews at its end."""
    news = [[f"the river {w} rose in the north today .", f"officials said the river {w} would fall ."]
            for w in ["alpha", "beta", "gamma"] * 20]
    reviews = [[f"i loved this book about {w} .", f"the film of {w} was not as good ."]
               for w in ["delta", "omega", "sigma"] * 20]
    corpus = write_pretraining_corpus(str(tmp_path / "ordered.txt"), news + reviews)
    out = tmp_path / "shards"
    write_pretraining_tfrecords(corpus, out, tokenizer, PairConfig(max_seq_length=MAX_SEQ_LENGTH, dupe_factor=2),
                                num_shards=2, documents_per_chunk=20)
    river = tokenizer.vocabulary.index("river")
    spec = {"token_ids": tf.io.RaggedFeature(tf.int64)}
    for shard in sorted(out.glob("*.tfrecord")):
        records = [tf.io.parse_single_example(r, spec)["token_ids"].numpy()
                   for r in tf.data.TFRecordDataset(str(shard))]
        is_news = np.array([river in ids for ids in records])
        first_half = is_news[:len(is_news) // 2]
        assert 0.3 < first_half.mean() < 0.7, (shard.name, first_half.mean(), is_news.mean())
        assert 0.3 < is_news[len(is_news) // 2:].mean() < 0.7
    assert not list(out.glob("*.unshuffled"))
