"""BertTokenizer (exact mode) against the reference, transformers' BertTokenizer (HF tokenizers' BertNormalizer +
BertPreTokenizer + WordPiece): real reviews and Chinese news, every Unicode code point, hand-picked traps,
tf.function, config round trips, detokenize and bad input.
"""

import random
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from hf_bert_reference import hf_reference_tokenizer
from parity_helpers import mismatch_report, mismatches, our_ids, reference_ids

from bert_keras.assets.corpora import chinese_lines, movie_reviews, review_sentences
from bert_keras.errors import InputFileError
from bert_keras.text import BertPreprocessor, BertTokenizer, normalizer

N_REVIEWS = 5000
N_CHINESE = 2000
N_DETOK_SENTENCES = 300
# Every code point but the surrogates, which a str may hold but UTF-8 cannot.
CODE_POINTS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
WORD_SEPARATOR = "\x1f"  # a control character: cleaning deletes it, so no normalised word contains it


@pytest.fixture(scope="module")
def reference(minilm_vocab):
    return hf_reference_tokenizer(minilm_vocab, lowercase=True)


def assert_same_ids(texts, ours, theirs, reference):
    bad = mismatches(texts, ours, theirs)
    assert not bad, mismatch_report(bad, reference)


# ---- real text ----

def test_real_reviews_match_reference(tokenizer, reference):
    texts = [text for text, _ in movie_reviews(N_REVIEWS)]
    assert len(texts) == N_REVIEWS
    assert_same_ids(texts, our_ids(tokenizer, texts), reference_ids(reference, texts), reference)


@pytest.mark.parametrize("lowercase", [True, False])
def test_real_chinese_lines_match_reference(chinese_vocab, lowercase):
    texts = chinese_lines(N_CHINESE)
    assert len(texts) == N_CHINESE
    reference = hf_reference_tokenizer(chinese_vocab, lowercase=lowercase)
    ours = our_ids(BertTokenizer(chinese_vocab, lowercase=lowercase), texts)
    assert_same_ids(texts, ours, reference_ids(reference, texts), reference)


# ---- every Unicode code point ----

@pytest.mark.parametrize("lowercase", [True, False], ids=["uncased", "cased"])
def test_every_code_point_normalizes_and_splits_as_reference(minilm_vocab, lowercase):
    """Words of "a" + chr(c) + "b" for all 1,112,064 code points: our normalize()+split_words() vs the reference."""
    start = time.perf_counter()
    backend = hf_reference_tokenizer(minilm_vocab, lowercase=lowercase).backend_tokenizer
    normalize_str, pre_tokenize_str = backend.normalizer.normalize_str, backend.pre_tokenizer.pre_tokenize_str
    texts = ["a" + chr(c) + "b" for c in CODE_POINTS]
    theirs = np.array([WORD_SEPARATOR.join(w for w, _ in pre_tokenize_str(normalize_str(t))).encode("utf-8")
                       for t in texts], dtype=object)
    reference_seconds = time.perf_counter() - start
    words = normalizer.split_words(normalizer.normalize(tf.constant(texts), lowercase=lowercase))
    ours = tf.strings.reduce_join(words, axis=-1, separator=WORD_SEPARATOR).numpy()
    differ = np.flatnonzero(ours != theirs)
    print(f"\n{len(CODE_POINTS)} code points, lowercase={lowercase}: reference {reference_seconds:.1f} s, "
          f"total {time.perf_counter() - start:.1f} s")
    report = [(f"U+{CODE_POINTS[i]:04X}", ours[i].decode("utf-8").split(WORD_SEPARATOR),
               theirs[i].decode("utf-8").split(WORD_SEPARATOR)) for i in differ[:10]]
    assert differ.size == 0, f"{differ.size} code points differ: {report}"


# ---- hand-picked traps ----

# (text, the reference's tokens): each pair was read off transformers' BertTokenizer with the MiniLM vocab (uncased).
TRAPS = [
    ("straße", ["st", "##raße"]),  # lower() keeps ß (no case folding to "ss")
    ("½", ["½"]),  # NFD keeps ½ (no compatibility decomposition to 1⁄2)
    ("École", ["ecole"]),
    ("naïve", ["naive"]),
    ("don´t", ["don", "##´", "##t"]),  # U+00B4 is a symbol, not punctuation nor a mark: stays in the word
    ("İstanbul", ["istanbul"]),  # the one lowercase that yields two characters (i + U+0307, then stripped)
    ("ΟΔΟΣ", ["ο", "##δ", "##ο", "##σ"]),  # final-sigma rule not applied
    ("anthol\u200bogy", ["anthology"]),  # zero-width space deleted, the neighbours joined
    ("anthology\x97a nice", ["anthology", "##a", "nice"]),  # a C1 control character, as in a real review
    ("a\x00b\x01c\x7fd\x1b", ["abc", "##d"]),
    ("tab\there\nnew\rline", ["tab", "here", "new", "line"]),
    ("I love it 🥰", ["i", "love", "it", "[UNK]"]),
    ("thumbs 👍🏽", ["thumbs", "[UNK]"]),
    ("family 👨\u200d👩\u200d👧\u200d👦 here", ["family", "[UNK]", "here"]),
    ("x" * 101, ["[UNK]"]),  # longer than 100 characters
    ("x" * 100, ["xx"] + ["##xx"] * 49),
    ("The capital of France is [MASK].", ["the", "capital", "of", "france", "is", "[MASK]", "."]),
    ("the [mask] here", ["the", "[", "mask", "]", "here"]),  # special tokens are case-sensitive
    ("[MASK][MASK]x[SEP]", ["[MASK]", "[MASK]", "x", "[SEP]"]),
    ("[MA\x00SK] ok", ["[", "mask", "]", "ok"]),  # a deleted character inside breaks the special token
    ("ok\x00[MASK]\x00ok", ["ok", "[MASK]", "ok"]),
    ("caf\ufffd ok", ["caf", "ok"]),  # U+FFFD is deleted
    ("", []),
    ("   \t\n \u3000\u00a0", []),
    ("\u200b\x00", []),
]


@pytest.mark.parametrize("text,expected_tokens", TRAPS, ids=[repr(t[:24]) for t, _ in TRAPS])
def test_trap_matches_reference(tokenizer, reference, text, expected_tokens):
    theirs = reference_ids(reference, [text])[0]
    assert reference.convert_ids_to_tokens(theirs) == expected_tokens  # the expectation itself is the reference's
    ours = tokenizer(tf.constant([text])).to_list()[0]
    assert ours == theirs, (reference.convert_ids_to_tokens(ours), expected_tokens)


def test_mask_written_in_text_is_kept_whole(tokenizer):
    ids = tokenizer(tf.constant(["The capital of France is [MASK]."])).to_list()[0]
    assert ids == [1996, 3007, 1997, 2605, 2003, 103, 1012]
    assert tokenizer.mask_id == 103 and 103 not in tokenizer(tf.constant(["the [mask] here"])).to_list()[0]


def test_nul_bytes_in_a_batch_with_special_tokens(tokenizer, reference):
    """Regression: a batch holding a special token went through tf_text.regex_split, which cut text at NUL."""
    texts = ["ab\x00cd [MASK] ef\x00gh", "one\x00two", "\x00[SEP]\x00", "x" * 60 + "\x00" + "y" * 50]
    assert_same_ids(texts, our_ids(tokenizer, texts), reference_ids(reference, texts), reference)


# Latin-1, stray bytes, truncated sequences, encoded surrogates, above U+10FFFF, overlong and 5-byte forms.
INVALID_UTF8 = [b"caf\xe9 ok", b"\xff\xfe ok", b"ok \xe2\x82", b"\xe2\x82ab cd", b"a\xc3(b", b"\xed\xa0\x80 x",
                b"ab\xed\xbf\xbfcd", b"\xf4\x90\x80\x80 y", b"\xc0\x80z", b"\xf8\x88\x80\x80\x80 w"]


@pytest.mark.parametrize("raw", INVALID_UTF8)
def test_invalid_utf8_equals_reference_on_replacement_decoding(tokenizer, reference, raw):
    """Invalid UTF-8 is defined: the ids of raw.decode("utf-8", errors="replace") (U+FFFD is then deleted)."""
    ours = tokenizer(tf.constant([raw])).to_list()[0]
    assert ours == reference_ids(reference, [raw.decode("utf-8", errors="replace")])[0]


def test_invalid_utf8_batch_equals_reference(tokenizer, reference):
    batch = INVALID_UTF8 + [b"valid text", "[MASK] caf\u00e9".encode()]
    expected = reference_ids(reference, [raw.decode("utf-8", errors="replace") for raw in batch])
    assert tokenizer(tf.constant(batch)).to_list() == expected


def test_random_mixtures_of_traps(minilm_vocab, chinese_vocab):
    """5,000 seeded random strings built from trap pieces, both vocabularies and both casings."""
    pieces = ["[MASK]", "[SEP]", "[CLS]", "[PAD]", "[UNK]", "[mask]", "[Mask]", "[", "]", "MASK", " ", "  ", "\t",
              "\n", "a", "B", "é", "E\u0301", "\u0301", "İ", "ß", "ﬁ", "½", "中", "国", "\u200b", "\x00", "\ufffd",
              "!", "'", "x" * 50, "Ω", "ǅ", "ẞ", "\u0345", "ΐ", "ﬀ", "😀", "\u3000", "\u00a0", "#", "##", "x##y",
              "\u0130\u0307", "Ⅻ", "①", "ｱ", "Ａ", "\U0001d400", "\x97", "\uf0b7", "´"]
    rng = random.Random(0)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(5000)]
    for vocab in (minilm_vocab, chinese_vocab):
        for lowercase in (True, False):
            reference = hf_reference_tokenizer(vocab, lowercase=lowercase)
            ours = our_ids(BertTokenizer(vocab, lowercase=lowercase), texts)
            assert_same_ids(texts, ours, reference_ids(reference, texts), reference)


CASED_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "The", "the", "Straße", "straße", "St", "##raße",
               "École", "ecole", "E", "##cole", "Hello", "hello", "He", "##llo", "##LLO", "İ", "##stanbul", "istanbul",
               "ΟΔΟΣ", "Ο", "##Δ", "##Ο", "##Σ", "naïve", "naive", "Ca", "##fé", ",", ".", "!", "'", "s", "x", "##x",
               "中", "国"]
CASED_TEXTS = ["The Straße", "the straße", "École ecole", "HeLLO Hello hello", "İstanbul istanbul", "ΟΔΟΣ",
               "naïve naive", "Café, Hello!", "The [MASK] x", "中国", "x" * 101, "It's", "", "E\u0301cole"]


def test_cased_vocab_matches_reference(tmp_path):
    path = tmp_path / "cased_vocab.txt"
    path.write_text("\n".join(CASED_VOCAB) + "\n", encoding="utf-8")
    for lowercase in (False, True):
        reference = hf_reference_tokenizer(str(path), lowercase=lowercase)
        ours = our_ids(BertTokenizer(str(path), lowercase=lowercase), CASED_TEXTS)
        assert_same_ids(CASED_TEXTS, ours, reference_ids(reference, CASED_TEXTS), reference)
    cased = BertTokenizer(str(path), lowercase=False)
    assert cased(tf.constant(["The Straße"])).to_list() == [[5, 7]]  # case and accents kept


# ---- graph, scalars, config ----

def test_inside_tf_function_and_scalar(tokenizer, reference):
    texts = ["A first review, with naïve café.", "", "[MASK] ½ straße 🥰"]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(batch):
        return tokenizer(batch)

    expected = reference_ids(reference, texts)
    assert tokenize(tf.constant(texts)).to_list() == expected
    assert tokenize(tf.constant(texts[:1])).to_list() == expected[:1]
    scalar = tokenizer("A first review, with naïve café.")
    assert scalar.shape.rank == 1 and scalar.numpy().tolist() == expected[0]
    assert tokenizer(tf.constant("")).numpy().tolist() == []


def test_config_round_trip_gives_same_ids(tokenizer):
    texts = [text for text, _ in movie_reviews(200)] + ["The [MASK] is ½ naïve."]
    restored = BertTokenizer.from_config(tokenizer.get_config())
    assert restored.get_config() == tokenizer.get_config()
    assert our_ids(restored, texts) == our_ids(tokenizer, texts)
    tflite = BertTokenizer.from_config(BertTokenizer(tokenizer.vocabulary, mode="tflite").get_config())
    assert tflite.mode == "tflite"


def test_keras_model_save_and_load(tokenizer, tmp_path):
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, BertPreprocessor(tokenizer, sequence_length=16)(inputs))
    texts = tf.constant(["hello world", "The capital of France is [MASK].", ""])
    expected = model(texts)
    path = str(tmp_path / "preprocessor.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    got = restored(texts)
    for key in ("token_ids", "segment_ids", "padding_mask"):
        np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy())
    assert expected["token_ids"].numpy()[1, :9].tolist() == [101, 1996, 3007, 1997, 2605, 2003, 103, 1012, 102]


# ---- detokenize ----

@pytest.fixture(scope="module")
def sentence_ids(tokenizer):
    sentences = review_sentences(N_DETOK_SENTENCES)
    assert len(sentences) == N_DETOK_SENTENCES
    return tokenizer(tf.constant(sentences))


def _decoded(tensor) -> list[str]:
    return [t.decode("utf-8") for t in tensor.numpy()]


def test_detokenize_matches_reference_decode(tokenizer, reference, sentence_ids):
    ids = sentence_ids.to_list()
    ours = _decoded(tokenizer.detokenize(sentence_ids))
    theirs = [reference.decode(i, skip_special_tokens=True) for i in ids]
    bad = [(i, a, b) for i, a, b in zip(ids, ours, theirs) if a != b]
    assert not bad, mismatch_report(bad)
    assert any("' s" in t for t in theirs)  # the reference cleans up per token: "it ' s" stays


@pytest.mark.parametrize("skip_special_tokens", [True, False])
def test_detokenize_packed_ids_matches_reference(tokenizer, reference, skip_special_tokens):
    sentences = review_sentences(N_DETOK_SENTENCES)
    packed = BertPreprocessor(tokenizer, sequence_length=48)(tf.constant(sentences))["token_ids"]
    ids = packed.numpy().tolist()
    ours = _decoded(tokenizer.detokenize(packed, skip_special_tokens=skip_special_tokens))
    theirs = [reference.decode(i, skip_special_tokens=skip_special_tokens) for i in ids]
    bad = [(i, a, b) for i, a, b in zip(ids, ours, theirs) if a != b]
    assert not bad, mismatch_report(bad)
    if not skip_special_tokens:
        assert ours[0].startswith("[CLS] ") and "[SEP]" in ours[0]


def test_detokenize_edge_cases(tokenizer, reference):
    rows = [reference.convert_tokens_to_ids(t) for t in
            (["##s", "cat", "##s", "."], ["[CLS]", "##s", "cat"], ["[UNK]", "hello", "!", "?", ","], [], ["[MASK]"])]
    for skip in (True, False):
        ours = _decoded(tokenizer.detokenize(tf.ragged.constant(rows, dtype=tf.int32), skip_special_tokens=skip))
        assert ours == [reference.decode(r, skip_special_tokens=skip) for r in rows]
    assert _decoded(tokenizer.detokenize(tf.ragged.constant([rows[0]], dtype=tf.int32))) == ["##s cats."]


# ---- bad input ----

def test_vocab_missing_cls_names_file_and_token(tmp_path):
    path = tmp_path / "no_cls_vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[SEP]\n[MASK]\nhello\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"no_cls_vocab\.txt.*\[CLS\]"):
        BertTokenizer(str(path))


def test_non_utf8_vocab_raises(tmp_path):
    path = tmp_path / "latin1_vocab.txt"
    path.write_bytes("[PAD]\n[UNK]\n[CLS]\n[SEP]\ncafé\n".encode("latin-1"))
    with pytest.raises(InputFileError, match=r"latin1_vocab\.txt:5: not UTF-8"):
        BertTokenizer(str(path))


def test_unknown_mode_raises(minilm_vocab):
    with pytest.raises(ValueError, match="fast"):
        BertTokenizer(minilm_vocab, mode="fast")
