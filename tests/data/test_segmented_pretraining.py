"""Whole-word masking of segmented Chinese: words come from the corpus' own segmentation (People's Daily 1998)."""

import re

import numpy as np
import pytest
import tensorflow as tf

from bert_keras.assets import asset_path
from bert_keras.assets.corpora import write_pretraining_corpus
from bert_keras.data.pair_config import PairConfig
from bert_keras.data.pretraining import (
    CONTINUES_WORD,
    build_pretraining_arrays,
    pretraining_dataset,
    tfrecord_pairs,
    tokenize_documents,
    write_pretraining_tfrecords,
)
from bert_keras.text import BertTokenizer
from bert_keras.text.masking import MaskedLMMasker

_TAG = re.compile(r"/[A-Za-z]+$")


@pytest.fixture(scope="module")
def segmented_documents():
    """200 paragraphs of the real corpus as 20 documents of 10 sentences, words separated by one space."""
    with open(asset_path("chinese_corpus"), encoding="utf-8") as f:
        lines = [" ".join(_TAG.sub("", w) for w in line.split()) for _, line in zip(range(200), f)]
    return [lines[i:i + 10] for i in range(0, 200, 10)]


@pytest.fixture(scope="module")
def chinese_tokenizer(chinese_vocab):
    return BertTokenizer(chinese_vocab)


def test_segmented_ids_equal_the_sentence_ids_and_flag_every_non_first_token_of_a_word(
        segmented_documents, chinese_tokenizer):
    flagged = tokenize_documents(segmented_documents, chinese_tokenizer, segmented=True)
    plain = tokenize_documents(segmented_documents, chinese_tokenizer)
    for doc_flagged, doc_plain, doc_text in zip(flagged, plain, segmented_documents):
        for ids, reference, sentence in zip(doc_flagged, doc_plain, doc_text):
            assert [i & (CONTINUES_WORD - 1) for i in ids] == reference
            # Hand count: a word of n tokens gives n - 1 continuations.
            words = chinese_tokenizer.tokenize(tf.constant(sentence.split())).row_lengths().numpy()
            assert sum(1 for i in ids if i & CONTINUES_WORD) == int(np.sum(words - 1)) if words.size else 0


def test_whole_word_masking_masks_segmented_words_whole(segmented_documents, chinese_tokenizer, chinese_vocab,
                                                      tmp_path):
    corpus = write_pretraining_corpus(str(tmp_path / "corpus.txt"), segmented_documents)
    arrays = build_pretraining_arrays(corpus, chinese_tokenizer, PairConfig(max_seq_length=64), segmented=True)
    assert arrays["token_ids"].max() < chinese_tokenizer.vocabulary_size  # the flag bit is split off
    continuation = arrays["word_continuation"].astype(bool)
    assert continuation.sum() > 1000
    masker = MaskedLMMasker(chinese_vocab, whole_word=True, max_predictions=10)
    batch = {"token_ids": arrays["token_ids"], "padding_mask": arrays["padding_mask"].astype(np.int32),
             "word_continuation": arrays["word_continuation"].astype(np.int32)}
    out = masker(batch, seed=tf.constant([1, 2]))
    chosen = np.zeros(arrays["token_ids"].shape, bool)
    weights = out["mask_weights"].numpy() > 0
    chosen[np.nonzero(weights)[0], out["mask_positions"].numpy()[weights]] = True
    vocab = chinese_tokenizer.vocabulary
    special = np.array([t.startswith("[") and t.endswith("]") for t in vocab])[arrays["token_ids"]]
    # Tokens that continue a word of maskable tokens (a word cut by [SEP] or holding [UNK] starts anew).
    inside = np.nonzero(continuation[:, 1:] & ~special[:, :-1] & ~special[:, 1:])
    # A token continuing a word is chosen exactly when the token before it is.
    np.testing.assert_array_equal(chosen[inside[0], inside[1] + 1], chosen[inside[0], inside[1]])
    assert (chosen[:, 1:] & continuation[:, 1:]).sum() > 100
    # Without the segmentation every Chinese character is its own word: the same rule would not hold.
    per_char = MaskedLMMasker(chinese_vocab, whole_word=True, max_predictions=10)(
        {k: batch[k] for k in ("token_ids", "padding_mask")}, seed=tf.constant([1, 2]))
    alone = np.zeros_like(chosen)
    w = per_char["mask_weights"].numpy() > 0
    alone[np.nonzero(w)[0], per_char["mask_positions"].numpy()[w]] = True
    assert np.any(alone[inside[0], inside[1] + 1] != alone[inside[0], inside[1]])


def test_tfrecord_shards_keep_the_word_boundaries(segmented_documents, chinese_tokenizer, chinese_vocab, tmp_path):
    corpus = write_pretraining_corpus(str(tmp_path / "corpus.txt"), segmented_documents)
    config = PairConfig(max_seq_length=64)
    arrays = build_pretraining_arrays(corpus, chinese_tokenizer, config, segmented=True)
    metadata = write_pretraining_tfrecords(corpus, tmp_path / "shards", chinese_tokenizer, config, num_shards=1,
                                           segmented=True)
    assert metadata["segmented"] is True
    rows = list(tfrecord_pairs(tmp_path / "shards", shuffle_files=False).as_numpy_iterator())
    assert len(rows) == len(arrays["token_ids"])
    # The same pairs (the shard holds them in another order), each with its word boundaries.
    lengths = arrays["padding_mask"].sum(axis=1)
    expected = sorted((tuple(ids[:n]), tuple(flags[:n]))
                      for ids, flags, n in zip(arrays["token_ids"], arrays["word_continuation"], lengths))
    assert sorted((tuple(r["token_ids"]), tuple(r["word_continuation"])) for r in rows) == expected
    masker = MaskedLMMasker(chinese_vocab, whole_word=True, max_predictions=10)
    x, y, w = next(iter(pretraining_dataset(tfrecord_pairs(tmp_path / "shards"), masker, 4, max_seq_length=64)))
    assert x["token_ids"].shape == (4, 64) and y["mlm"].shape == (4, 10)
