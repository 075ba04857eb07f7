"""Learn a BERT WordPiece vocabulary (vocab.txt) from raw text.

Words are counted exactly as `BertTokenizer` (exact mode) splits text before WordPiece: the same TF ops
(`normalizer.sanitize_utf8`, `normalizer.normalize`, `normalizer.split_words`), so every learned piece is one the
tokenizer can use. The pieces themselves come from tensorflow-text's WordPiece learner
(`tensorflow_text.tools.wordpiece_vocab.wordpiece_tokenizer_learner_lib`, the learner keras-hub's
`compute_word_piece_vocabulary` also wraps), run at one count threshold per call. The learner's own search
stops anywhere up to 5% short of the size asked for (or past it when its range runs out), so this module
searches the threshold itself for two that bracket the size, and fills the vocab of the higher threshold (too
few tokens) with the most frequent further pieces of the lower one (too many): exactly the size asked for.

Layout of the result (Google's BERT vocabs): `[PAD]`, the reserved slots (`[unused0]`, `[unused1]`, ...),
`[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`, every character of the alphabet (code point order), then the learned pieces,
roughly from the most to the least frequent, with the `##` form of the alphabet's characters among them.
"""

from __future__ import annotations

import bisect
import collections
import functools
import logging
import math
import os
import warnings
from typing import Iterable, Mapping, Sequence

import tensorflow as tf
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner_lib

from bert_keras.atomic_io import write_text
from bert_keras.errors import InvalidInputError
from bert_keras.text import normalizer, unicode_tables as tables
from bert_keras.text.corpus import iter_texts
from bert_keras.text.tokenizer import MAX_CHARS_PER_WORD
from bert_keras.text.vocab import SPECIAL_TOKENS

logger = logging.getLogger(__name__)

SUFFIX_PREFIX = "##"
# Google's layout: [PAD] first, the reserved slots, then the other special tokens.
PAD_TOKEN, SPECIAL_TOKENS_AFTER_RESERVED = SPECIAL_TOKENS[0], SPECIAL_TOKENS[1:]
RESERVED_TOKEN_FORMAT = "[unused{}]"
DEFAULT_BATCH_SIZE = 4096  # lines per normalise-and-split call
# Defaults of tensorflow-text's learner.
DEFAULT_MAX_TOKEN_LENGTH = 50  # longer words are not learned from (they still tokenize, piece by piece)
DEFAULT_NUM_ITERATIONS = 4
DEFAULT_MAX_INPUT_WORDS = 5_000_000  # the most frequent distinct words the learner reads
# The threshold search stops once a threshold's vocab is at most this fraction above the target; its least
# frequent pieces, which a slightly higher threshold would also drop, are left out.
SEARCH_TOLERANCE = 0.02
_LINE_BREAKS = ("\n", "\r")


def _is_writable_token(token) -> bool:
    """A token a vocab.txt line can hold: a non-empty str without line breaks."""
    return isinstance(token, str) and bool(token) and not any(b in token for b in _LINE_BREAKS)


def _in_ranges(code_point: int, ranges: Sequence[tuple[int, int]]) -> bool:
    index = bisect.bisect_right(ranges, (code_point, float("inf"))) - 1
    return index >= 0 and ranges[index][0] <= code_point <= ranges[index][1]


def _always_a_whole_word(char: str, tokenize_chinese_chars: bool) -> bool:
    """True for characters the pre-tokenizer always makes a one-character word (their ## form is never looked up)."""
    code_point = ord(char)
    return _in_ranges(code_point, tables.PUNCTUATION) or (
        tokenize_chinese_chars and _in_ranges(code_point, tables.CHINESE))


def reserved_tokens(num_reserved: int | Sequence[str]) -> list[str]:
    """The reserved slots: `[unused0]..[unused{n-1}]` for an int, or the given tokens, checked.

    Raises InvalidInputError naming the bad value: a negative count, a token that is empty, holds a line break, is
    repeated or collides with a special token.
    """
    if isinstance(num_reserved, bool) or not isinstance(num_reserved, (int, Sequence)) or isinstance(
            num_reserved, (str, bytes)):
        raise InvalidInputError(f"num_reserved={num_reserved!r}: expected a count (int >= 0) or a list of tokens")
    if isinstance(num_reserved, int):
        if num_reserved < 0:
            raise InvalidInputError(f"num_reserved={num_reserved} is negative; expected a count >= 0 or a list of "
                                    "tokens")
        return [RESERVED_TOKEN_FORMAT.format(i) for i in range(num_reserved)]
    tokens = list(num_reserved)
    seen: set[str] = set()
    for token in tokens:
        if not _is_writable_token(token):
            raise InvalidInputError(f"reserved token {token!r}: expected a non-empty str without line breaks")
        if token in SPECIAL_TOKENS:
            raise InvalidInputError(f"reserved token {token!r} collides with the special tokens "
                                    f"{list(SPECIAL_TOKENS)}")
        if token in seen:
            raise InvalidInputError(f"reserved token {token!r} is listed twice")
        seen.add(token)
    return tokens


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name}={value!r}: expected an int >= 1")


@functools.lru_cache(maxsize=None)
def _words_function(lowercase: bool, strip_accents: bool | None, tokenize_chinese_chars: bool):
    """A traced `[batch] string -> flat words` function: BertTokenizer's exact-mode word split (one per setting)."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def words(texts: tf.Tensor) -> tf.Tensor:
        texts = normalizer.normalize(normalizer.sanitize_utf8(texts), lowercase, strip_accents,
                                     tokenize_chinese_chars)
        return normalizer.split_words(texts).flat_values

    return words


def _encode(text: str | bytes) -> bytes:
    if isinstance(text, bytes):
        return text
    if not isinstance(text, str):
        raise TypeError(f"expected texts as str or bytes, got {type(text).__name__}: {text!r:.80}")
    # Lone surrogates pass through as invalid UTF-8, which sanitize_utf8 replaces (and cleaning then deletes).
    return text.encode("utf-8", errors="surrogatepass")


def count_words(texts: Iterable[str | bytes], lowercase: bool = True, strip_accents: bool | None = None,
                tokenize_chinese_chars: bool = True, batch_size: int = DEFAULT_BATCH_SIZE) -> collections.Counter[str]:
    """How often each word occurs, words as `BertTokenizer` (exact mode) hands them to WordPiece.

    Args:
        texts: lines of text (str, or UTF-8 bytes; invalid UTF-8 is replaced, then deleted, as by the tokenizer).
        lowercase: lower-case the text (uncased models).
        strip_accents: drop accents; None follows `lowercase`, as in BERT.
        tokenize_chinese_chars: make every CJK ideograph its own word.
        batch_size: lines per TF call.

    Returns:
        A Counter of normalised words (str). Words longer than the tokenizer's limit of MAX_CHARS_PER_WORD
        characters are left out: the tokenizer maps them to [UNK] whole.
    """
    _check_positive_int("batch_size", batch_size)
    words_of = _words_function(lowercase, strip_accents, tokenize_chinese_chars)
    counts: collections.Counter = collections.Counter()
    batch: list[bytes] = []
    for text in texts:
        batch.append(_encode(text))
        if len(batch) == batch_size:
            counts.update(words_of(tf.constant(batch, tf.string)).numpy().tolist())
            batch = []
    if batch:
        counts.update(words_of(tf.constant(batch, tf.string)).numpy().tolist())
    words: collections.Counter = collections.Counter()
    for word, count in counts.items():
        text = word.decode("utf-8")
        if len(text) <= MAX_CHARS_PER_WORD:
            words[text] = count
    return words


def _alphabet(word_counts: Mapping[str, int], max_unique_chars: int | None) -> set[str]:
    """Characters of the words, or the `max_unique_chars` most frequent ones (ties by code point)."""
    char_counts: collections.Counter = collections.Counter()
    for word, count in word_counts.items():
        for char in word:
            char_counts[char] += count
    ranked = sorted(char_counts.items(), key=lambda item: (-item[1], item[0]))
    if max_unique_chars is not None:
        ranked = ranked[:max_unique_chars]
    return {char for char, _ in ranked}


class _Candidates:
    """The learned part of our vocab (after the alphabet) at each count threshold of tensorflow-text's learner.

    The learner's input filtering runs once here, with the learner's own functions; `learn_with_thresh` then
    learns at a given threshold (its `learn` would binary-search the threshold for a vocab up to 5% short).
    """

    def __init__(self, word_counts: list[tuple[str, int]], alphabet: set[str], required_suffixes: set[str],
                 head: list[str], max_token_length: int, num_iterations: int, max_input_words: int | None):
        self.chars = sorted(alphabet)
        self.required = set(self.chars) | required_suffixes
        self.required_suffixes = required_suffixes
        self.head = head
        max_input_tokens = -1 if max_input_words is None else max_input_words
        self.params = learner_lib.Params(
            upper_thresh=None, lower_thresh=None, num_iterations=num_iterations, max_input_tokens=max_input_tokens,
            max_token_length=max_token_length, max_unique_chars=len(alphabet), vocab_size=None, slack_ratio=None,
            include_joiner_token=True, joiner=SUFFIX_PREFIX, reserved_tokens=[])
        words = learner_lib.get_input_words(word_counts, [], max_token_length)
        self.word_counts = learner_lib.filter_input_words(words, alphabet, max_input_tokens)
        self.cache: dict[int, list[str]] = {}

    @property
    def minimum_size(self) -> int:
        return len(self.head) + len(self.required)

    def upper_bound(self) -> int:
        """A threshold no piece reaches (a piece occurs at most once per character): the vocab is the alphabet."""
        return sum(len(word) * count for word, count in self.word_counts) + 1

    def size(self, threshold: int) -> int:
        return len(self.head) + len(self.chars) + len(self.at(threshold))

    def at(self, threshold: int) -> list[str]:
        """Learned tokens after the alphabet at a count threshold, most frequent first (all required ## forms)."""
        if threshold not in self.cache:
            learned = learner_lib.learn_with_thresh(self.word_counts, threshold, self.params) if \
                self.word_counts else []
            taken = set(self.head) | set(self.chars)
            tokens = []
            for token in learned:
                is_suffix_char = token.startswith(SUFFIX_PREFIX) and len(token) == len(SUFFIX_PREFIX) + 1
                if token in taken or (is_suffix_char and token not in self.required_suffixes):
                    continue
                taken.add(token)
                tokens.append(token)
            tokens.extend(sorted(self.required_suffixes - taken))
            self.cache[threshold] = tokens
            logger.info("WordPiece learner at count threshold %d: %d tokens", threshold, self.size(threshold))
        return self.cache[threshold]


def _search_threshold(candidates: _Candidates, vocab_size: int, upper_bound: int) -> tuple[int, int | None]:
    """Thresholds (low, high) bracketing `vocab_size`: low gives at least that many tokens, high fewer.

    high is None when no threshold below `upper_bound` was tried (the vocab there is the alphabet alone).

    Vocab size falls roughly as a power of the threshold, so guesses are made in log-log space: while no
    threshold has yet given fewer than `vocab_size` tokens, by extrapolating from the last two thresholds (from
    the first with Zipf's slope of -1); then by interpolating between the two ends of the bracket, bisecting it
    (geometric mean) after two moves of the same end so it always shrinks. Stops within SEARCH_TOLERANCE above
    the target, on an exact hit, or on adjacent thresholds.
    """
    low, high = 1, upper_bound
    low_size, high_size = candidates.size(low), candidates.minimum_size
    previous = None  # the low end before the last move, while the high end is still `upper_bound`
    high_evaluated = False
    same_end_moves, last_end = 0, None
    while high - low > 1 and low_size > vocab_size * (1 + SEARCH_TOLERANCE):
        if not high_evaluated:
            slope = -1.0
            if previous is not None:
                slope = (math.log(low_size) - math.log(previous[1])) / (math.log(low) - math.log(previous[0]))
            guess = low * (vocab_size / low_size) ** (1 / slope) if slope < 0 else 2 * low
        elif same_end_moves >= 2:
            guess = math.sqrt(low * high)
        else:
            fraction = (math.log(low_size) - math.log(vocab_size)) / (math.log(low_size) - math.log(high_size))
            guess = math.exp(math.log(low) + fraction * (math.log(high) - math.log(low)))
        threshold = min(max(round(guess), low + 1), high - 1)
        size = candidates.size(threshold)
        end = "low" if size >= vocab_size else "high"
        if end == "low":
            previous = (low, low_size)
            low, low_size = threshold, size
        else:
            high, high_size, high_evaluated = threshold, size, True
        same_end_moves = same_end_moves + 1 if end == last_end else 1
        last_end = end
        if size == vocab_size:
            break
    return low, high if high_evaluated else None


def vocab_from_word_counts(word_counts: Mapping[str, int], vocab_size: int, num_reserved: int | Sequence[str] = 0,
                           tokenize_chinese_chars: bool = True, max_unique_chars: int | None = None,
                           max_token_length: int = DEFAULT_MAX_TOKEN_LENGTH,
                           num_iterations: int = DEFAULT_NUM_ITERATIONS,
                           max_input_words: int | None = DEFAULT_MAX_INPUT_WORDS) -> list[str]:
    """A BERT WordPiece vocab of exactly `vocab_size` tokens learned from normalised word counts.

    See `learn_wordpiece_vocab` for the layout and the arguments. `word_counts` maps words as `count_words`
    returns them (normalised, split as the tokenizer splits) to their counts; `tokenize_chinese_chars` must be
    the tokenizer's setting (it decides which ## forms can ever be looked up).

    Raises:
        InvalidInputError: naming the bad value (see `learn_wordpiece_vocab`), or when `word_counts` holds no word.
    """
    _check_positive_int("vocab_size", vocab_size)
    head = [PAD_TOKEN] + reserved_tokens(num_reserved) + list(SPECIAL_TOKENS_AFTER_RESERVED)
    if max_unique_chars is not None:
        _check_positive_int("max_unique_chars", max_unique_chars)
    _check_positive_int("max_token_length", max_token_length)
    _check_positive_int("num_iterations", num_iterations)
    if max_input_words is not None:
        _check_positive_int("max_input_words", max_input_words)
    bad = next((word for word in word_counts if not isinstance(word, str)), None)
    if bad is not None:
        raise TypeError(f"word_counts keys must be str (normalised words), got {type(bad).__name__}: {bad!r:.80}")
    counts = {word: count for word, count in word_counts.items() if count > 0 and word}
    if not counts:
        raise InvalidInputError("the corpus holds no words to learn a vocabulary from")
    alphabet = _alphabet(counts, max_unique_chars)
    # A ## form is needed for every character that can follow another inside a word: all but punctuation and
    # (with tokenize_chinese_chars) CJK ideographs, plus any the corpus shows inside a word regardless.
    seen_inside = {char for word in counts for char in word[1:]}
    required_suffixes = {SUFFIX_PREFIX + c for c in alphabet
                         if c in seen_inside or not _always_a_whole_word(c, tokenize_chinese_chars)}
    candidates = _Candidates(list(counts.items()), alphabet, required_suffixes, head, max_token_length,
                             num_iterations, max_input_words)
    if vocab_size < candidates.minimum_size:
        raise InvalidInputError(
            f"vocab_size={vocab_size} is too small: this corpus needs at least {candidates.minimum_size} tokens "
            f"({len(SPECIAL_TOKENS)} special + {len(head) - len(SPECIAL_TOKENS)} reserved + {len(alphabet)} "
            f"characters + {len(required_suffixes)} ## forms of them)" +
            ("" if max_unique_chars is not None else "; or cap the alphabet with max_unique_chars"))
    room = vocab_size - len(head) - len(candidates.chars)  # for the learned part
    if vocab_size == candidates.minimum_size:
        learned = sorted(required_suffixes)
    else:
        low, high = _search_threshold(candidates, vocab_size, candidates.upper_bound())
        learned = candidates.at(low)
        if len(learned) > room:
            # The pieces of the higher threshold (fewer than asked), then the most frequent further pieces of
            # the lower one. Measured on real reviews, this tokenizes held-out text in fewer tokens than cutting
            # the tail of the lower threshold's vocab: near a threshold of 1 the learner keeps every word seen,
            # and almost no suffix pieces.
            base = candidates.at(high) if high is not None else sorted(required_suffixes)
            taken = set(base)
            learned = base + [t for t in learned if t not in taken][:room - len(base)]
    tokens = head + candidates.chars + learned
    if len(tokens) < vocab_size:
        warnings.warn(f"the corpus yields only {len(tokens)} WordPiece tokens even when every piece seen once "
                      f"is kept, fewer than vocab_size={vocab_size}; returning all {len(tokens)}", stacklevel=2)
    logger.info("learned a WordPiece vocab of %d tokens (alphabet of %d characters)", len(tokens), len(alphabet))
    return tokens


def learn_wordpiece_vocab_from_texts(texts: Iterable[str | bytes], vocab_size: int, lowercase: bool = True,
                                     strip_accents: bool | None = None, tokenize_chinese_chars: bool = True,
                                     num_reserved: int | Sequence[str] = 0, max_unique_chars: int | None = None,
                                     max_token_length: int = DEFAULT_MAX_TOKEN_LENGTH,
                                     num_iterations: int = DEFAULT_NUM_ITERATIONS,
                                     max_input_words: int | None = DEFAULT_MAX_INPUT_WORDS,
                                     batch_size: int = DEFAULT_BATCH_SIZE) -> list[str]:
    """`learn_wordpiece_vocab` over lines of text in memory (str or UTF-8 bytes) instead of files.

    Raises InvalidInputError when the texts hold no word; otherwise as `learn_wordpiece_vocab`.
    """
    _check_positive_int("vocab_size", vocab_size)
    reserved_tokens(num_reserved)  # fail on a bad value before reading any text
    counts = count_words(texts, lowercase, strip_accents, tokenize_chinese_chars, batch_size)
    return vocab_from_word_counts(counts, vocab_size, num_reserved, tokenize_chinese_chars, max_unique_chars,
                                  max_token_length, num_iterations, max_input_words)


def learn_wordpiece_vocab(inputs: str | os.PathLike | Sequence[str | os.PathLike], vocab_size: int,
                          lowercase: bool = True, strip_accents: bool | None = None,
                          tokenize_chinese_chars: bool = True, num_reserved: int | Sequence[str] = 0,
                          max_unique_chars: int | None = None, max_token_length: int = DEFAULT_MAX_TOKEN_LENGTH,
                          num_iterations: int = DEFAULT_NUM_ITERATIONS,
                          max_input_words: int | None = DEFAULT_MAX_INPUT_WORDS,
                          batch_size: int = DEFAULT_BATCH_SIZE) -> list[str]:
    """Learn a BERT WordPiece vocab of `vocab_size` tokens from raw text files.

    Words are counted as `BertTokenizer(vocab, lowercase, strip_accents, tokenize_chinese_chars)` (exact mode)
    splits them, so use the same settings for the tokenizer that loads the result. Layout, as Google's vocabs:
    `[PAD]`, the reserved slots, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`, the alphabet, then learned pieces, roughly
    from the most to the least frequent. Every character seen (in a word of at most MAX_CHARS_PER_WORD characters) is a
    token, and so is its `##` form unless the pre-tokenizer always isolates it (punctuation; CJK ideographs with
    `tokenize_chinese_chars`), so text made of seen characters never becomes [UNK] - unless `max_unique_chars`
    caps the alphabet, in which case words with a character outside it become [UNK] whole.

    Size: exactly `vocab_size` tokens, no duplicates: the learner's pieces at the lowest count threshold that
    gives fewer tokens, filled up with the most frequent further pieces of the next lower threshold. A corpus
    too small to fill it (fewer distinct pieces than asked even when every piece seen once is kept) gives the
    shorter vocab with a UserWarning naming both sizes.

    Args:
        inputs: corpus files: paths, directories (every file below) or glob patterns; UTF-8, one text per line
            (blank lines are skipped).
        vocab_size: number of tokens wanted.
        lowercase: lower-case the text (uncased models).
        strip_accents: drop accents (NFD + non-spacing marks); None follows `lowercase`, as in BERT.
        tokenize_chinese_chars: make every CJK ideograph its own word (then CJK characters are single tokens).
        num_reserved: reserved slots after [PAD]: a count n gives `[unused0]..[unused{n-1}]`; a list of tokens
            gives those tokens.
        max_unique_chars: cap on the alphabet (the most frequent characters); None keeps every character.
        max_token_length: words longer than this are not learned from (they still tokenize, piece by piece).
        num_iterations: refinement passes of the learner.
        max_input_words: the learner reads at most this many distinct words, the most frequent (None: all).
        batch_size: lines per TF normalise-and-split call.

    Returns:
        The tokens in id order (write them with `write_vocab_file`).

    Raises:
        InputFileError: a file that is not UTF-8 (names file and line), or a corpus with no text.
        FileNotFoundError: an input that names no file.
        InvalidInputError: naming the bad value: `vocab_size` below the minimum this corpus needs (specials +
            reserved + alphabet + its ## forms; the message names it), a negative `num_reserved`, a reserved
            token that collides with a special token.
    """
    # iter_texts opens no file until read, so the argument checks there still come first.
    return learn_wordpiece_vocab_from_texts(
        iter_texts(inputs), vocab_size, lowercase, strip_accents, tokenize_chinese_chars, num_reserved,
        max_unique_chars, max_token_length, num_iterations, max_input_words, batch_size)


def write_vocab_file(tokens: Iterable[str], path: str | os.PathLike) -> str:
    """Write a vocab.txt: one token per line in id order, UTF-8, atomically (a reader sees old or new, whole).

    Raises InvalidInputError naming the token (and its id) that is not a non-empty str without line breaks;
    nothing is written then. Returns the path.
    """
    tokens = list(tokens)
    if not tokens:
        raise InvalidInputError(f"{os.fspath(path)}: refusing to write an empty vocabulary")
    for index, token in enumerate(tokens):
        if not _is_writable_token(token):
            raise InvalidInputError(f"vocab token {index} ({token!r}): expected a non-empty str without line "
                                    "breaks")
    path = os.fspath(path)
    write_text(path, "\n".join(tokens) + "\n")
    return path
