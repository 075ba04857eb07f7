"""WordPiece vocabulary learning on real text (movie reviews, People's Daily), checked against the reference:
transformers' BertTokenizer loads the learned vocab and gives our ids on held-out text; words are counted as its
normaliser + pre-tokenizer split them; the vocab compresses text close to Google's own 30,522-token vocab.
"""

import collections
import os
import time
import unicodedata

import pytest
import tensorflow as tf
from hf_bert_reference import hf_reference_tokenizer
from parity_helpers import mismatch_report, mismatches, our_ids, reference_ids

from bert_keras.assets.corpora import chinese_lines, review_sentences
from bert_keras.errors import InputFileError, InvalidInputError
from bert_keras.text import BertTokenizer, load_vocab, normalizer
from bert_keras.text.tokenizer import MAX_CHARS_PER_WORD
from bert_keras.text.vocab_learning import (
    count_words,
    learn_wordpiece_vocab,
    learn_wordpiece_vocab_from_texts,
    vocab_from_word_counts,
    write_vocab_file,
)

N_LEARN = 5000  # real review sentences to learn from
N_HELD_OUT = 1000  # the sentences after them, never seen by the learner
VOCAB_SIZE = 8000
NUM_RESERVED = 20
N_CHINESE_LEARN = 3000
N_CHINESE_HELD_OUT = 500
CHINESE_VOCAB_SIZE = 3600  # the corpus needs 3366 (3317 characters); every piece seen gives 3961
# Bounds over measured values (5000 sentences, 8000 tokens: [UNK] 0.01% of held-out tokens, 1.34 tokens/word,
# 3.83 characters/word, Google's vocab 1.06 tokens/word; Chinese held-out [UNK] 0.38%, unseen characters).
MAX_UNK_RATE = 0.001
MAX_CHINESE_UNK_RATE = 0.01
MAX_TOKENS_PER_CHAR = 0.5  # tokens/word at most half of characters/word
MAX_RATIO_TO_GOOGLE = 1.5  # tokens/word within 1.5x of bert-base-uncased's (30,522 tokens, Wikipedia + books)
SPECIALS_AFTER_RESERVED = ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# BERT's _is_chinese_char ranges, written out here independently of the package's tables.
CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
              (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


# ---- independent references: the reference's own word split, BERT's character classes ----

def reference_words(reference, texts):
    """Words as transformers' BertNormalizer + BertPreTokenizer give them to WordPiece."""
    backend = reference.backend_tokenizer
    words = collections.Counter()
    for text in texts:
        words.update(w for w, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(text)))
    return words


def is_punctuation(char):
    """BERT's _is_punctuation: ASCII symbols or a Unicode P* category."""
    cp = ord(char)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or \
        unicodedata.category(char).startswith("P")


def is_cjk(char):
    return any(a <= ord(char) <= b for a, b in CJK_RANGES)


def minimum_size(words, num_reserved=0):
    """Specials + reserved + every character + the ## form of each one that is not always a word by itself."""
    alphabet = {c for w in words for c in w}
    suffixes = [c for c in alphabet if not is_punctuation(c) and not is_cjk(c)]
    return 5 + num_reserved + len(alphabet) + len(suffixes)


def words_of(texts):
    return normalizer.split_words(normalizer.normalize(tf.constant(texts))).flat_values.numpy()


def unk_rate(ids, unk_id):
    return sum(row.count(unk_id) for row in ids) / sum(len(row) for row in ids)


def tokens_per_word(ids, texts):
    return sum(len(row) for row in ids) / len(words_of(texts))


# ---- fixtures (module scope: each learning runs once) ----

@pytest.fixture(scope="module")
def english_lines():
    return review_sentences(N_LEARN)


@pytest.fixture(scope="module")
def held_out():
    texts = review_sentences(N_HELD_OUT, skip=N_LEARN)
    assert len(texts) == N_HELD_OUT
    return texts


@pytest.fixture(scope="module")
def english_corpus(tmp_path_factory, english_lines):
    path = tmp_path_factory.mktemp("corpus") / "reviews.txt"
    path.write_text("\n".join(english_lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def english_learned(english_corpus):
    start = time.perf_counter()
    tokens = learn_wordpiece_vocab(english_corpus, VOCAB_SIZE, lowercase=True, num_reserved=NUM_RESERVED)
    return tokens, time.perf_counter() - start


@pytest.fixture(scope="module")
def english_vocab(english_learned, tmp_path_factory):
    return write_vocab_file(english_learned[0], tmp_path_factory.mktemp("vocab") / "vocab.txt")


@pytest.fixture(scope="module")
def uncased_reference(english_vocab):
    return hf_reference_tokenizer(english_vocab, lowercase=True)


@pytest.fixture(scope="module")
def english_counts(english_lines):
    return count_words(english_lines, lowercase=True)


# ---- English: layout, size, parity with the reference, [UNK] rate, compression ----

def test_learned_vocab_has_the_asked_size_and_google_layout(english_learned):
    tokens, seconds = english_learned
    print(f"\nlearned {len(tokens)} tokens from {N_LEARN} review sentences in {seconds:.2f} s")
    assert len(tokens) == VOCAB_SIZE
    assert len(set(tokens)) == len(tokens)
    assert tokens[0] == "[PAD]"
    assert tokens[1:1 + NUM_RESERVED] == [f"[unused{i}]" for i in range(NUM_RESERVED)]
    assert tokens[1 + NUM_RESERVED:5 + NUM_RESERVED] == SPECIALS_AFTER_RESERVED
    assert {"the", "movie", "##s", "##ing"} <= set(tokens)


def test_words_are_counted_as_the_reference_splits_them(english_counts, english_lines, uncased_reference):
    expected = reference_words(uncased_reference, english_lines)
    expected = collections.Counter({w: n for w, n in expected.items() if len(w) <= MAX_CHARS_PER_WORD})
    assert english_counts == expected


def test_invalid_utf8_is_dropped_as_the_tokenizer_drops_it(uncased_reference):
    raw = [b"Caf\xff\xfee OK", "lone \ud800surrogate"]
    texts = [b.decode("utf-8", errors="replace") if isinstance(b, bytes) else b.replace("\ud800", "\ufffd")
             for b in raw]
    assert count_words(raw) == reference_words(uncased_reference, texts) == {"cafe": 1, "ok": 1, "lone": 1,
                                                                          "surrogate": 1}


def test_learned_vocab_matches_reference_on_held_out_reviews(english_vocab, uncased_reference, held_out):
    ours = our_ids(BertTokenizer(english_vocab, lowercase=True), held_out)
    bad = mismatches(held_out, ours, reference_ids(uncased_reference, held_out))
    assert not bad, mismatch_report(bad, uncased_reference)
    rate = unk_rate(ours, unk_id=1 + NUM_RESERVED)
    print(f"\nheld-out [UNK] rate {rate:.5f}")
    assert rate < MAX_UNK_RATE


def test_text_of_the_corpus_never_becomes_unk(english_vocab, english_lines):
    ids = our_ids(BertTokenizer(english_vocab, lowercase=True), english_lines)
    assert unk_rate(ids, unk_id=1 + NUM_RESERVED) == 0


def test_learned_vocab_compresses_close_to_googles(english_vocab, minilm_vocab, held_out):
    words = words_of(held_out)
    chars_per_word = sum(len(w.decode("utf-8")) for w in words) / len(words)
    ours = tokens_per_word(our_ids(BertTokenizer(english_vocab), held_out), held_out)
    google = tokens_per_word(our_ids(BertTokenizer(minilm_vocab), held_out), held_out)
    print(f"\ntokens/word: learned {ours:.3f}, Google's {google:.3f}; characters/word {chars_per_word:.3f}")
    assert ours < MAX_TOKENS_PER_CHAR * chars_per_word
    assert ours < MAX_RATIO_TO_GOOGLE * google


def test_a_larger_vocab_compresses_better(english_counts, held_out):
    rates = [tokens_per_word(our_ids(BertTokenizer(vocab_from_word_counts(english_counts, size)), held_out),
                             held_out) for size in (500, 2000, VOCAB_SIZE)]
    assert rates[0] > rates[1] > rates[2]


def test_cased_vocab_matches_reference(english_lines, held_out, tmp_path):
    tokens = vocab_from_word_counts(count_words(english_lines, lowercase=False), 6000)
    assert len(tokens) == 6000 and {"The", "the"} <= set(tokens)
    reference = hf_reference_tokenizer(write_vocab_file(tokens, tmp_path / "vocab.txt"), lowercase=False)
    ours = our_ids(BertTokenizer(tokens, lowercase=False), held_out)
    bad = mismatches(held_out, ours, reference_ids(reference, held_out))
    assert not bad, mismatch_report(bad, reference)


# ---- exact size ----

@pytest.mark.parametrize("extra", [0, 1, 900, 3000, 9500])
def test_size_is_exact_from_the_minimum_up(english_counts, extra):
    size = minimum_size(english_counts) + extra  # the corpus yields 10,095 tokens at most
    tokens = vocab_from_word_counts(english_counts, size)
    assert len(tokens) == size
    assert len(set(tokens)) == size
    alphabet = {c for w in english_counts for c in w}
    assert alphabet <= set(tokens)
    assert {"##" + c for c in alphabet if not is_punctuation(c)} <= set(tokens)


def test_capped_alphabet_keeps_the_most_frequent_characters(english_counts):
    chars = collections.Counter()
    for word, count in english_counts.items():
        for char in word:
            chars[char] += count
    kept = {c for c, _ in sorted(chars.items(), key=lambda item: (-item[1], item[0]))[:40]}
    tokens = vocab_from_word_counts(english_counts, 1000, max_unique_chars=40)
    assert len(tokens) == 1000 and len(set(tokens)) == 1000
    pieces = [t.removeprefix("##") for t in tokens[5:]]
    assert {t for t in pieces if len(t) == 1} == kept
    assert all(set(t) <= kept for t in pieces)
    rare = min((c for c in chars if not is_punctuation(c)), key=chars.get)  # punctuation is a word by itself
    assert BertTokenizer(tokens)(tf.constant([f"a{rare}b"])).to_list() == [[1]]  # the whole word is [UNK]


def test_a_corpus_too_small_for_the_size_gives_every_piece_and_warns():
    texts = ["the cat sat on the mat", "the dog sat on the log"]
    with pytest.warns(UserWarning, match="fewer than vocab_size=1000"):
        tokens = learn_wordpiece_vocab_from_texts(texts, 1000)
    assert len(tokens) < 1000 and len(set(tokens)) == len(tokens)
    assert {"the", "cat", "sat", "on", "mat", "dog", "log"} <= set(tokens)


def test_reserved_tokens_given_as_a_list():
    tokens = learn_wordpiece_vocab_from_texts(["a b c ab"], 14, num_reserved=["<e1>", "<e2>"])
    assert tokens[:7] == ["[PAD]", "<e1>", "<e2>"] + SPECIALS_AFTER_RESERVED
    assert tokens[7:10] == ["a", "b", "c"]
    assert sorted(tokens[10:]) == ["##a", "##b", "##c", "ab"]


# ---- Chinese ----

def test_chinese_characters_are_single_tokens_and_match_reference(tmp_path):
    lines = chinese_lines(N_CHINESE_LEARN + N_CHINESE_HELD_OUT)
    learn, held = lines[:N_CHINESE_LEARN], lines[N_CHINESE_LEARN:]
    assert len(held) == N_CHINESE_HELD_OUT
    corpus = tmp_path / "zh.txt"
    corpus.write_text("\n".join(learn) + "\n", encoding="utf-8")
    tokens = learn_wordpiece_vocab(str(corpus), CHINESE_VOCAB_SIZE)
    assert len(tokens) == CHINESE_VOCAB_SIZE and len(set(tokens)) == len(tokens)
    cjk_tokens = [t for t in tokens if any(is_cjk(c) for c in t)]
    assert cjk_tokens and all(len(t) == 1 for t in cjk_tokens)  # no words, no ## forms: never looked up
    seen = {c for line in learn for c in line if is_cjk(c)}
    assert seen <= set(cjk_tokens)
    path = write_vocab_file(tokens, tmp_path / "vocab.txt")
    reference = hf_reference_tokenizer(path, lowercase=True)
    ours = our_ids(BertTokenizer(path), held)
    bad = mismatches(held, ours, reference_ids(reference, held))
    assert not bad, mismatch_report(bad, reference)
    rate = unk_rate(ours, unk_id=1)
    print(f"\nChinese held-out [UNK] rate {rate:.5f}")
    assert rate < MAX_CHINESE_UNK_RATE


# ---- errors ----

def test_non_utf8_file_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"a fine line\ncaf\xe9 au lait\n")
    with pytest.raises(InputFileError, match=r"bad\.txt:2:.*UTF-8"):
        learn_wordpiece_vocab(str(path), 100)


def test_empty_corpus(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n  \n\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="empty"):
        learn_wordpiece_vocab(str(path), 100)
    with pytest.raises(InvalidInputError, match="no words"):
        learn_wordpiece_vocab_from_texts(["", "\u200b"], 100)


def test_too_small_vocab_size_names_the_minimum(english_counts):
    minimum = minimum_size(english_counts)
    with pytest.raises(ValueError, match=f"vocab_size={minimum - 1} is too small.*at least {minimum} "):
        vocab_from_word_counts(english_counts, minimum - 1)
    with pytest.raises(ValueError, match=f"at least {minimum + 3} "):
        vocab_from_word_counts(english_counts, minimum, num_reserved=3)


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_reserved=-1), r"num_reserved=-1 is negative"),
    (dict(num_reserved=["[CLS]"]), r"'\[CLS\]' collides with the special tokens"),
    (dict(num_reserved=["x", "x"]), r"'x' is listed twice"),
    (dict(num_reserved="abc"), r"num_reserved='abc'"),
    (dict(vocab_size=0), r"vocab_size=0"),
])
def test_bad_arguments_fail_before_reading(kwargs, message, tmp_path):
    arguments = dict(inputs=str(tmp_path / "missing.txt"), vocab_size=100) | kwargs
    with pytest.raises(InvalidInputError, match=message):
        learn_wordpiece_vocab(**arguments)


# ---- writing ----

def test_write_vocab_file_round_trips_and_is_atomic(tmp_path):
    path = tmp_path / "vocab.txt"
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "straße", "##中", "é"]
    write_vocab_file(tokens, path)
    assert path.read_bytes() == ("\n".join(tokens) + "\n").encode("utf-8")
    assert load_vocab(str(path)) == tokens
    with pytest.raises(ValueError, match=r"token 6 \('a\\nb'\)"):
        write_vocab_file(tokens[:6] + ["a\nb"], path)
    assert load_vocab(str(path)) == tokens  # the old file is untouched
    assert os.listdir(tmp_path) == ["vocab.txt"]  # no staging file left behind
