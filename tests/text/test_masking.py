"""MaskedLMMasker on real packed review sequences: BERT's 15% / 80-10-10 statistics, specials, whole words."""

import numpy as np
import pytest
import tensorflow as tf

from bert_keras.assets.corpora import movie_reviews
from bert_keras.text import BertPacker
from bert_keras.text.masking import MaskedLMMasker

SEQUENCE_LENGTH = 128
MAX_PREDICTIONS = 20


@pytest.fixture(scope="module")
def batch(tokenizer):
    texts = [text for text, _ in movie_reviews(limit=3000)]
    packer = BertPacker(SEQUENCE_LENGTH, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id)
    return {k: v.numpy() for k, v in packer(tokenizer(tf.constant(texts))).items()}


def _special_ids(tokenizer):
    return [tokenizer.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] + [
        i for i, t in enumerate(tokenizer.vocabulary) if t.startswith("[unused")]


def _candidates(batch, tokenizer):
    return (batch["padding_mask"] == 1) & ~np.isin(batch["token_ids"], _special_ids(tokenizer))


@pytest.fixture(scope="module")
def masked(batch, minilm_vocab):
    masker = MaskedLMMasker(minilm_vocab, max_predictions=MAX_PREDICTIONS)
    return {k: v.numpy() for k, v in masker(batch, seed=tf.constant([7, 11])).items()}


def test_mask_rate_is_15_percent_of_maskable_tokens_per_row(batch, masked, tokenizer):
    count = _candidates(batch, tokenizer).sum(axis=1)
    expected = np.minimum(np.maximum(np.round(count * 0.15), 1), MAX_PREDICTIONS)
    np.testing.assert_array_equal(masked["mask_weights"].sum(axis=1), expected)
    # Rows shorter than ~133 maskable tokens are not capped: there the share is 15% up to rounding.
    uncapped = expected < MAX_PREDICTIONS
    share = expected[uncapped].sum() / count[uncapped].sum()
    assert abs(share - 0.15) < 0.003, share


def test_replacements_are_80_10_10(batch, masked, tokenizer):
    weights = masked["mask_weights"] > 0
    positions = masked["mask_positions"][weights]
    rows = np.nonzero(weights)[0]
    original = batch["token_ids"][rows, positions]
    corrupted = masked["token_ids"][rows, positions]
    mask_id = tokenizer.token_to_id("[MASK]")
    n = len(positions)
    assert n > 40000  # a large sample: 3,000 reviews
    as_mask = np.mean(corrupted == mask_id)
    kept = np.mean(corrupted == original)
    randomised = np.mean((corrupted != mask_id) & (corrupted != original))
    # Binomial standard deviation at n ~ 50,000 is ~0.0018 for 0.8 and ~0.0013 for 0.1: 4-sigma bounds.
    assert abs(as_mask - 0.8) < 0.008, as_mask
    assert abs(kept - 0.1) < 0.006, kept  # includes the rare random draw of the same token
    assert abs(randomised - 0.1) < 0.006, randomised
    assert not np.isin(corrupted[corrupted != original], _special_ids(tokenizer)[:4]).any()
    np.testing.assert_array_equal(masked["mask_ids"][weights], original)


def test_special_tokens_and_padding_are_never_chosen_or_changed(batch, masked, tokenizer):
    not_candidate = ~_candidates(batch, tokenizer)
    np.testing.assert_array_equal(masked["token_ids"][not_candidate], batch["token_ids"][not_candidate])
    rows, _ = np.nonzero(masked["mask_weights"] > 0)
    positions = masked["mask_positions"][masked["mask_weights"] > 0]
    assert not not_candidate[rows, positions].any()
    # Unchosen positions outside the targets are untouched too.
    chosen = np.zeros_like(not_candidate)
    chosen[rows, positions] = True
    np.testing.assert_array_equal(masked["token_ids"][~chosen], batch["token_ids"][~chosen])


def test_positions_are_ascending_unique_and_padded_with_zero_weight(masked):
    for positions, weights in zip(masked["mask_positions"], masked["mask_weights"]):
        real = positions[weights > 0]
        assert np.all(np.diff(real) > 0)
        assert np.all(positions[weights == 0] == 0)
        assert np.all(weights[: len(real)] == 1.0)  # real targets first


def test_same_seed_same_masks_other_seed_other_masks(batch, minilm_vocab):
    masker = MaskedLMMasker(minilm_vocab)
    small = {k: v[:64] for k, v in batch.items()}
    a = masker(small, seed=tf.constant([1, 2]))["mask_positions"].numpy()
    b = masker(small, seed=tf.constant([1, 2]))["mask_positions"].numpy()
    c = masker(small, seed=tf.constant([1, 3]))["mask_positions"].numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.5


def test_whole_word_masking_takes_every_piece_of_a_word(batch, minilm_vocab, tokenizer):
    masker = MaskedLMMasker(minilm_vocab, whole_word=True, max_predictions=MAX_PREDICTIONS)
    out = {k: v.numpy() for k, v in masker(batch, seed=tf.constant([3, 4])).items()}
    continuation = np.array([t.startswith("##") for t in tokenizer.vocabulary])
    chosen = np.zeros(batch["token_ids"].shape, bool)
    rows = np.nonzero(out["mask_weights"] > 0)[0]
    chosen[rows, out["mask_positions"][out["mask_weights"] > 0]] = True
    candidates = _candidates(batch, tokenizer)
    is_piece = continuation[batch["token_ids"]] & candidates
    is_piece[:, 1:] &= candidates[:, :-1]
    is_piece[:, 0] = False
    # A "##" piece is chosen exactly when the token before it (same word) is.
    pieces = np.nonzero(is_piece)
    np.testing.assert_array_equal(chosen[pieces], chosen[pieces[0], pieces[1] - 1])
    multi_piece_words_chosen = (chosen & is_piece).sum()
    assert multi_piece_words_chosen > 200  # the property was exercised on many split words
    count = candidates.sum(axis=1)
    budget = np.minimum(np.maximum(np.round(count * 0.15), 1), MAX_PREDICTIONS)
    per_row = chosen.sum(axis=1)
    assert np.all(per_row <= budget)
    assert per_row.sum() / budget.sum() > 0.95  # words that do not fit leave only a little of the budget unused


def test_hand_computed_budget_on_a_short_row(minilm_vocab, tokenizer):
    masker = MaskedLMMasker(minilm_vocab, max_predictions=5, mask_token_rate=1.0, random_token_rate=0.0)
    words = tokenizer(tf.constant(["the cat sat on the mat and the dog sat on the log too"])).to_list()[0]
    assert len(words) == 14
    ids = np.array([[tokenizer.cls_id, *words, tokenizer.sep_id, 0, 0]], np.int32)
    mask = (np.arange(ids.shape[1]) < 16).astype(np.int32)[None]
    out = masker({"token_ids": ids, "padding_mask": mask}, seed=tf.constant([0, 0]))
    # 14 maskable tokens: round(2.1) = 2 targets, all [MASK] (mask_token_rate 1.0); width 5 with 3 padding slots.
    np.testing.assert_array_equal(out["mask_weights"].numpy(), [[1, 1, 0, 0, 0]])
    positions = out["mask_positions"].numpy()[0, :2]
    assert np.all((positions >= 1) & (positions <= 14))
    assert np.all(out["token_ids"].numpy()[0, positions] == tokenizer.token_to_id("[MASK]"))


def test_vocab_without_mask_token_is_a_clear_error(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n")
    with pytest.raises(ValueError, match=r"vocab.txt: the vocabulary lacks \[MASK\]"):
        MaskedLMMasker(str(path))


@pytest.mark.parametrize("kwargs, message", [
    ({"mask_rate": 0.0}, "mask_rate"), ({"max_predictions": 0}, "max_predictions"),
    ({"mask_token_rate": 0.9, "random_token_rate": 0.2}, "sum to at most 1")])
def test_bad_rates_are_clear_errors(minilm_vocab, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MaskedLMMasker(minilm_vocab, **kwargs)
