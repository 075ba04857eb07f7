"""BertPacker / BertPreprocessor against hand-built arrays, Google BERT's truncate_seq_pair and transformers'
longest_first truncation on real sentence pairs; edge inputs; the graph holds no trimmer or ragged-range ops.
"""

import numpy as np
import pytest
import tensorflow as tf
from hf_bert_reference import hf_reference_tokenizer

from bert_keras.assets.corpora import movie_reviews, review_sentences
from bert_keras.text import BertPacker, BertPreprocessor

CLS, SEP, PAD = 101, 102, 0
N_PAIRS = 200


def ragged(rows) -> tf.RaggedTensor:
    return tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1) if rows else tf.RaggedTensor.from_row_lengths(
        tf.zeros([0], tf.int32), tf.zeros([0], tf.int64))


def pack(first, second=None, sequence_length=10, truncate="round_robin", padding="max_length"):
    packer = BertPacker(sequence_length, cls_id=CLS, sep_id=SEP, pad_id=PAD, truncate=truncate, padding=padding)
    out = packer(ragged(first), None if second is None else ragged(second))
    return {key: value.numpy().tolist() for key, value in out.items()}


def seg(start, length):
    """Token ids start, start+1, ... (length of them): easy to read in the expected arrays."""
    return list(range(start, start + length))


A10, B10 = seg(1, 10), seg(51, 10)  # two long segments


# ---- hand-built expectations ----

def test_single_segment():
    out = pack([[5, 6, 7], [8], []], sequence_length=8)
    assert out["token_ids"] == [[CLS, 5, 6, 7, SEP, PAD, PAD, PAD],
                                [CLS, 8, SEP, PAD, PAD, PAD, PAD, PAD],
                                [CLS, SEP, PAD, PAD, PAD, PAD, PAD, PAD]]
    assert out["segment_ids"] == [[0] * 8] * 3
    assert out["padding_mask"] == [[1, 1, 1, 1, 1, 0, 0, 0],
                                   [1, 1, 1, 0, 0, 0, 0, 0],
                                   [1, 1, 0, 0, 0, 0, 0, 0]]


def test_single_segment_truncated():
    out = pack([seg(1, 12)], sequence_length=6)
    assert out["token_ids"] == [[CLS, 1, 2, 3, 4, SEP]]
    assert out["padding_mask"] == [[1, 1, 1, 1, 1, 1]]


def test_pairs():
    out = pack([[5, 6], [7], []], [[8, 9, 10], [11], []], sequence_length=10)
    assert out["token_ids"] == [[CLS, 5, 6, SEP, 8, 9, 10, SEP, PAD, PAD],
                                [CLS, 7, SEP, 11, SEP, PAD, PAD, PAD, PAD, PAD],
                                [CLS, SEP, SEP, PAD, PAD, PAD, PAD, PAD, PAD, PAD]]
    assert out["segment_ids"] == [[0, 0, 0, 0, 1, 1, 1, 1, 0, 0],
                                  [0, 0, 0, 1, 1, 0, 0, 0, 0, 0],
                                  [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]]
    assert out["padding_mask"] == [[1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
                                   [1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
                                   [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]]


def test_round_robin_both_long_first_gets_ceil():
    # sequence_length 10: budget 7 -> first 4 (ceil), second 3 (floor), whichever segment is longer.
    for first, second in ((A10, B10), (seg(1, 8), seg(51, 12)), (seg(1, 12), seg(51, 8))):
        out = pack([first], [second], sequence_length=10)
        assert out["token_ids"] == [[CLS, 1, 2, 3, 4, SEP, 51, 52, 53, SEP]]
        assert out["segment_ids"] == [[0, 0, 0, 0, 0, 0, 1, 1, 1, 1]]
        assert out["padding_mask"] == [[1] * 10]
    # Even budget (sequence_length 11 -> 8): 4 and 4.
    out = pack([A10], [B10], sequence_length=11)
    assert out["token_ids"] == [[CLS, 1, 2, 3, 4, SEP, 51, 52, 53, 54, SEP]]


def test_round_robin_one_short_other_takes_the_rest():
    out = pack([[1, 2], seg(1, 10)], [B10, [51]], sequence_length=10)
    assert out["token_ids"] == [[CLS, 1, 2, SEP, 51, 52, 53, 54, 55, SEP],
                                [CLS, 1, 2, 3, 4, 5, 6, SEP, 51, SEP]]
    assert out["segment_ids"] == [[0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
                                  [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]]


def test_longest_first_longer_segment_gets_ceil():
    # transformers' longest_first: the shorter segment (the first on a tie) keeps floor(7 / 2) = 3.
    cases = [((A10, B10), [CLS, 1, 2, 3, SEP, 51, 52, 53, 54, SEP]),  # tie: second gets ceil
             ((seg(1, 8), seg(51, 12)), [CLS, 1, 2, 3, SEP, 51, 52, 53, 54, SEP]),
             ((seg(1, 12), seg(51, 8)), [CLS, 1, 2, 3, 4, SEP, 51, 52, 53, SEP]),
             (([1, 2], B10), [CLS, 1, 2, SEP, 51, 52, 53, 54, 55, SEP]),
             ((A10, [51]), [CLS, 1, 2, 3, 4, 5, 6, SEP, 51, SEP])]
    for (first, second), expected in cases:
        assert pack([first], [second], sequence_length=10, truncate="longest_first")["token_ids"] == [expected]


def test_waterfall():
    out = pack([A10, [1, 2], [1, 2]], [[51, 52, 53], B10, [51]], sequence_length=10, truncate="waterfall")
    assert out["token_ids"] == [[CLS, 1, 2, 3, 4, 5, 6, 7, SEP, SEP],
                                [CLS, 1, 2, SEP, 51, 52, 53, 54, 55, SEP],
                                [CLS, 1, 2, SEP, 51, SEP, PAD, PAD, PAD, PAD]]
    assert out["segment_ids"] == [[0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                                  [0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
                                  [0, 0, 0, 0, 1, 1, 0, 0, 0, 0]]


def test_padding_longest():
    out = pack([[5, 6, 7], [8]], sequence_length=10, padding="longest")
    assert out["token_ids"] == [[CLS, 5, 6, 7, SEP], [CLS, 8, SEP, PAD, PAD]]
    assert out["padding_mask"] == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    out = pack([[5]], [[8, 9]], sequence_length=10, padding="longest")
    assert out["token_ids"] == [[CLS, 5, SEP, 8, 9, SEP]]
    assert out["segment_ids"] == [[0, 0, 0, 1, 1, 1]]
    # Never wider than sequence_length.
    out = pack([seg(1, 20), [5]], sequence_length=6, padding="longest")
    assert out["token_ids"] == [[CLS, 1, 2, 3, 4, SEP], [CLS, 5, SEP, PAD, PAD, PAD]]
    # All-empty rows: width 2 ([CLS] [SEP]).
    assert pack([[], []], sequence_length=6, padding="longest")["token_ids"] == [[CLS, SEP], [CLS, SEP]]


def test_padding_to_a_multiple_rounds_the_longest_row_up_but_not_past_sequence_length():
    def widths(rows, multiple, sequence_length=20):
        packer = BertPacker(sequence_length, cls_id=CLS, sep_id=SEP, pad_id=PAD, padding="longest",
                            pad_to_multiple_of=multiple)
        out = {k: v.numpy() for k, v in packer(ragged(rows)).items()}
        plain = pack(rows, sequence_length=sequence_length, padding="longest")
        # The extra columns are pure padding; the rest is exactly pad-to-longest.
        assert out["token_ids"][:, :len(plain["token_ids"][0])].tolist() == plain["token_ids"]
        assert (out["token_ids"][:, len(plain["token_ids"][0]):] == PAD).all()
        assert out["padding_mask"].sum() == np.sum(plain["padding_mask"])
        return out["token_ids"].shape[1]

    assert widths([seg(1, 3), [5]], 8) == 8  # longest 5 -> 8
    assert widths([seg(1, 6)], 8) == 8  # exactly 8 stays 8
    assert widths([seg(1, 7)], 8) == 16  # 9 -> 16
    assert widths([seg(1, 16)], 8) == 20  # 18 -> 24, capped at sequence_length 20
    assert widths([seg(1, 3)], 1) == 5  # multiple 1: plain pad-to-longest
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        BertPacker(8, cls_id=CLS, sep_id=SEP, pad_to_multiple_of=0)


def test_empty_batch():
    packer = BertPacker(7, cls_id=CLS, sep_id=SEP, pad_id=PAD)
    for out in (packer(ragged([])), packer(ragged([]), ragged([]))):
        assert [tuple(v.shape) for v in out.values()] == [(0, 7)] * 3
        assert all(v.dtype == tf.int32 for v in out.values())


def test_bad_arguments():
    for length in (2, 0, -1, 3.0, "8"):
        with pytest.raises(ValueError, match="sequence_length"):
            BertPacker(length, cls_id=CLS, sep_id=SEP)
    with pytest.raises(ValueError, match="truncate"):
        BertPacker(8, cls_id=CLS, sep_id=SEP, truncate="longest")
    with pytest.raises(ValueError, match="padding"):
        BertPacker(8, cls_id=CLS, sep_id=SEP, padding="none")
    assert pack([[5, 6]], [[7]], sequence_length=3)["token_ids"] == [[CLS, SEP, SEP]]  # the smallest allowed


def test_config_round_trip():
    packer = BertPacker(12, cls_id=CLS, sep_id=SEP, pad_id=PAD, truncate="longest_first", padding="longest",
                        pad_to_multiple_of=4)
    restored = BertPacker.from_config(packer.get_config())
    assert (restored.sequence_length, restored.truncate, restored.padding, restored.pad_to_multiple_of) == (
        12, "longest_first", "longest", 4)


# ---- strings through the preprocessor ----

@pytest.fixture(scope="module")
def reference(minilm_vocab):
    return hf_reference_tokenizer(minilm_vocab, lowercase=True)


def preprocess(tokenizer, first, second=None, sequence_length=8, **kwargs):
    layer = BertPreprocessor(tokenizer, sequence_length=sequence_length, **kwargs)
    out = layer(tf.constant(first, tf.string), None if second is None else tf.constant(second, tf.string))
    return {key: value.numpy().tolist() for key, value in out.items()}


def test_empty_and_whitespace_strings(tokenizer):
    out = preprocess(tokenizer, ["", "  \t\n\u3000"], ["", " "], sequence_length=6)
    assert out["token_ids"] == [[CLS, SEP, SEP, PAD, PAD, PAD]] * 2
    assert out["segment_ids"] == [[0, 0, 1, 0, 0, 0]] * 2
    assert out["padding_mask"] == [[1, 1, 1, 0, 0, 0]] * 2
    assert preprocess(tokenizer, [""], sequence_length=4)["token_ids"] == [[CLS, SEP, PAD, PAD]]


def test_long_strings_are_truncated(tokenizer):
    review = movie_reviews(1)[0][0]
    assert len(review) > 1000
    out = preprocess(tokenizer, [review, "ok"], [review, review], sequence_length=16, truncate="round_robin")
    # "i rented i am curious - yellow from my video ..." -> 1045 12524 1045 2572 8025 1011 3756 2013 2026 2678 ...
    assert out["token_ids"][0] == [CLS, 1045, 12524, 1045, 2572, 8025, 1011, 3756, SEP,
                                   1045, 12524, 1045, 2572, 8025, 1011, SEP]  # budget 13 = 7 + 6 (round robin)
    assert out["token_ids"][1] == [CLS, 7929, SEP, 1045, 12524, 1045, 2572, 8025, 1011, 3756, 2013, 2026, 2678,
                                   3573, 2138, SEP]
    assert out["padding_mask"] == [[1] * 16] * 2
    # The default, longest_first (transformers'), gives the tie's odd token to the second segment instead.
    default = preprocess(tokenizer, [review], [review], sequence_length=16)
    assert default["token_ids"][0] == [CLS, 1045, 12524, 1045, 2572, 8025, 1011, SEP,
                                       1045, 12524, 1045, 2572, 8025, 1011, 3756, SEP]  # budget 13 = 6 + 7


def test_emoji_control_chars_and_invalid_utf8(tokenizer):
    out = preprocess(tokenizer, ["I love it 🥰\x00\x07", b"caf\xe9 ok", b"\xff\xfe", "\x00"],
                     sequence_length=8)
    assert out["token_ids"] == [[CLS, 1045, 2293, 2009, 100, SEP, PAD, PAD],
                                [CLS, 24689, 7929, SEP, PAD, PAD, PAD, PAD],
                                [CLS, SEP, PAD, PAD, PAD, PAD, PAD, PAD],
                                [CLS, SEP, PAD, PAD, PAD, PAD, PAD, PAD]]


def test_empty_string_batch(tokenizer):
    layer = BertPreprocessor(tokenizer, sequence_length=9)
    out = layer(tf.constant([], tf.string))
    assert [tuple(v.shape) for v in out.values()] == [(0, 9)] * 3
    out = layer(tf.constant([], tf.string), tf.constant([], tf.string))
    assert [tuple(v.shape) for v in out.values()] == [(0, 9)] * 3


def test_tf_function_with_unknown_batch_size(tokenizer):
    layer = BertPreprocessor(tokenizer, sequence_length=8, truncate="longest_first")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.string)])
    def run(first, second):
        return layer(first, second)

    concrete = run.get_concrete_function()
    assert concrete.structured_outputs["token_ids"].shape.as_list() == [None, 8]
    out = run(tf.constant(["hello world", ""]), tf.constant(["ok", "the [MASK]"]))
    assert out["token_ids"].numpy().tolist() == [[CLS, 7592, 2088, SEP, 7929, SEP, PAD, PAD],
                                                 [CLS, SEP, 1996, 103, SEP, PAD, PAD, PAD]]
    assert run(tf.constant([], tf.string), tf.constant([], tf.string))["token_ids"].shape == (0, 8)


@pytest.mark.parametrize("truncate", ["round_robin", "longest_first", "waterfall"])
@pytest.mark.parametrize("padding", ["max_length", "longest"])
def test_graph_has_no_trimmer_or_ragged_range_ops(truncate, padding):
    packer = BertPacker(16, cls_id=CLS, sep_id=SEP, pad_id=PAD, truncate=truncate, padding=padding)
    spec = tf.RaggedTensorSpec([None, None], tf.int32)
    pair = tf.function(lambda a, b: packer(a, b), input_signature=[spec, spec]).get_concrete_function()
    single = tf.function(lambda a: packer(a), input_signature=[spec]).get_concrete_function()
    for concrete in (pair, single):
        op_types = {op.type for op in concrete.graph.get_operations()}
        bad = sorted(t for t in op_types if any(s in t for s in ("Trim", "RoundRobin", "RaggedRange")))
        assert not bad, bad


# ---- real sentence pairs against references ----

def _google_truncate_seq_pair(a: list, b: list, budget: int) -> tuple[list, list]:
    """Google BERT's run_classifier.truncate_seq_pair: pop from the longer list (b on a tie) until it fits."""
    a, b = list(a), list(b)
    while len(a) + len(b) > budget:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()
    return a, b


@pytest.fixture(scope="module")
def pairs():
    """200 pairs of consecutive real review sentences, then 40 pairs of full reviews (both long)."""
    sentences = review_sentences(2 * N_PAIRS)
    reviews = [text for text, _ in movie_reviews(80)]
    first = sentences[0::2] + reviews[0::2]
    second = sentences[1::2] + reviews[1::2]
    assert len(first) == len(second) == N_PAIRS + 40
    return first, second


@pytest.mark.parametrize("sequence_length", [32, 128])
def test_longest_first_equals_reference_on_real_pairs(tokenizer, reference, pairs, sequence_length):
    first, second = pairs
    theirs = reference(first, second, truncation="longest_first", max_length=sequence_length,
                       padding="max_length", return_tensors="np")
    ours = preprocess(tokenizer, first, second, sequence_length=sequence_length, truncate="longest_first")
    truncated = int((theirs["attention_mask"].sum(axis=1) == sequence_length).sum())
    assert truncated >= 40  # the comparison covers truncation, not only padding
    for our_key, their_key in (("token_ids", "input_ids"), ("segment_ids", "token_type_ids"),
                               ("padding_mask", "attention_mask")):
        differ = np.flatnonzero((np.asarray(ours[our_key]) != theirs[their_key]).any(axis=1))
        assert differ.size == 0, (our_key, [(first[i][:80], second[i][:80]) for i in differ[:3]],
                                  np.asarray(ours[our_key])[differ[:1]], theirs[their_key][differ[:1]])


@pytest.mark.parametrize("sequence_length", [32, 128])
def test_round_robin_equals_google_truncate_seq_pair_on_real_pairs(tokenizer, pairs, sequence_length):
    first, second = pairs
    first_ids = tokenizer(tf.constant(first)).to_list()
    second_ids = tokenizer(tf.constant(second)).to_list()
    expected = []
    for a, b in zip(first_ids, second_ids):
        a, b = _google_truncate_seq_pair(a, b, sequence_length - 3)
        row = [CLS] + a + [SEP] + b + [SEP]
        expected.append(row + [PAD] * (sequence_length - len(row)))
    ours = preprocess(tokenizer, first, second, sequence_length=sequence_length, truncate="round_robin")
    assert ours["token_ids"] == expected


def test_truncation_rules_on_every_small_length_pair(reference):
    """Every pair of segment lengths 0..12 at sequence lengths 8 and 9 against both references."""
    lengths = [(n, m) for n in range(13) for m in range(13)]
    first = [" ".join(["a"] * n) for n, _ in lengths]  # "a" -> 1037, "b" -> 1038: one token per word
    second = [" ".join(["b"] * m) for _, m in lengths]
    first_ids = [[1037] * n for n, _ in lengths]
    second_ids = [[1038] * m for _, m in lengths]
    for sequence_length in (8, 9):
        theirs = reference(first, second, truncation="longest_first", max_length=sequence_length,
                           padding="max_length")["input_ids"]
        packer = BertPacker(sequence_length, CLS, SEP, PAD, truncate="longest_first")
        assert packer(ragged(first_ids), ragged(second_ids))["token_ids"].numpy().tolist() == theirs
        expected = []
        for a, b in zip(first_ids, second_ids):
            a, b = _google_truncate_seq_pair(a, b, sequence_length - 3)
            row = [CLS] + a + [SEP] + b + [SEP]
            expected.append(row + [PAD] * (sequence_length - len(row)))
        packer = BertPacker(sequence_length, CLS, SEP, PAD, truncate="round_robin")
        assert packer(ragged(first_ids), ragged(second_ids))["token_ids"].numpy().tolist() == expected


def test_head_and_tail_truncation_matches_a_python_reference():
    """tail_tokens keeps the last N tokens of a cut single segment and the first (length - 2 - N)."""
    rng = np.random.default_rng(0)
    rows = [list(range(100, 100 + n)) for n in rng.integers(0, 30, 40)]
    for tail in (0, 1, 5, 8):
        packer = BertPacker(10, cls_id=1, sep_id=2, pad_id=0, tail_tokens=tail)
        got = packer(ragged(rows))["token_ids"].numpy()
        for row, out in zip(rows, got):
            kept = row if len(row) <= 8 else row[:8 - tail] + (row[-tail:] if tail else [])
            expected = [1, *kept, 2] + [0] * (8 - len(kept))
            assert out.tolist() == expected, (tail, row)
    with pytest.raises(ValueError, match=r"tail_tokens must be an integer in \[0, 8\]"):
        BertPacker(10, cls_id=1, sep_id=2, tail_tokens=9)
