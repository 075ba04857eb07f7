"""How raw text becomes NER words (plain Python: task settings check it without TensorFlow).

    bert        BERT's pre-tokenization: whitespace separates words; each punctuation mark and CJK ideograph is a
                word of its own
    characters  every character other than whitespace is a word, as character-level Chinese NER data (MSRA,
                People's Daily) is tagged: digits and Latin letters one by one too

The TF implementation of both is `bert_keras.modeling.word_alignment.split_words_with_offsets`.
"""

from __future__ import annotations

from bert_keras.errors import InvalidInputError

WORD_SPLITS = ("bert", "characters")


def check_word_split(word_split: str) -> str:
    """`word_split` itself when it is one of `WORD_SPLITS`, else an error naming the choices."""
    if word_split not in WORD_SPLITS:
        raise InvalidInputError(f"word_split {word_split!r} is unknown; expected one of {WORD_SPLITS}")
    return word_split
