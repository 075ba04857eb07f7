"""Serving signatures of a fine-tuned token classifier: raw text -> words with labels and character offsets.

Words are BERT's pre-tokenization of the text (split on whitespace; every punctuation mark and CJK ideograph a
word of its own), found with their offsets in the text. Each word is tokenized on its own and its first piece's
logits label it, as in training (bert_keras.data.ner). Words past `max_seq_length` pieces, and words with no
pieces (only deleted characters), are labelled "O" with score 0 and zero logits, as `bert-keras predict` does.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_text as tf_text

from bert_keras.export.signatures import Endpoint, TaskSignatures, char_offsets, clean_texts
from bert_keras.text import normalizer

# Whitespace separates words; punctuation and CJK ideographs are words of their own (kept delimiters).
_KEPT = "(" + normalizer.PUNCTUATION_CLASS + "|" + normalizer.CHINESE_CLASS + ")"
WORD_DELIMITERS = "(" + normalizer.WHITESPACE_CLASS + "| |" + normalizer.PUNCTUATION_CLASS + "|" + \
    normalizer.CHINESE_CLASS + ")"


def split_words_with_offsets(texts: tf.Tensor):
    """BERT words of valid-UTF-8 `texts` `[batch]`: (words, start bytes, end bytes), each ragged `[batch, (w)]`."""
    return tf_text.regex_split_with_offsets(texts, WORD_DELIMITERS, _KEPT)


class NerSignatures(TaskSignatures):
    """`serving_default`: text -> per word `words`, `labels`, `label_ids`, `scores` (the label's probability),
    `start`/`end` (character offsets: `text[start:end] == word` in Python on the text decoded with
    errors="replace"), `logits` `[batch, words, labels]`, and `num_words` `[batch]`; rows are padded with "",
    -1 and 0. `predict_ids`: encoder inputs -> per-token `logits`.

    Args:
        model: a `BertTokenClassifier`.
        tokenizer: its `BertTokenizer`.
        max_seq_length: pieces per sentence, [CLS]/[SEP] included.
        label_names: tags in id order ("O" among them).
    """

    def __init__(self, model, tokenizer, max_seq_length: int, label_names: list[str]):
        super().__init__(model, tokenizer, max_seq_length)
        self.label_names = list(label_names)
        self.outside_id = self.label_names.index("O") if "O" in self.label_names else 0

    def ids_outputs(self, inputs, logits) -> dict[str, tf.Tensor]:
        return {"logits": logits}

    def text_endpoint(self) -> Endpoint:
        model, tokenizer, budget = self.model, self.tokenizer, self.max_seq_length - 2
        names, outside = tf.constant(self.label_names), self.outside_id
        num_labels = len(self.label_names)

        def serve(text):
            text = clean_texts(text)
            words, starts, ends = split_words_with_offsets(text)
            pieces = tokenizer.tokenize(words.flat_values)  # [words, (pieces)]: each word on its own
            counts = tf.cast(pieces.row_lengths(), tf.int32)
            rows = tf.cast(words.value_rowids(), tf.int32)
            total = tf.cumsum(counts)
            before_row = tf.gather(tf.concat([[0], total], 0), tf.cast(words.row_splits[:-1], tf.int32))
            ends_in_row = total - tf.gather(before_row, rows)  # pieces up to and including each word, per text
            # A word is scored when it has pieces and all pieces up to its own fit (then every earlier word fits).
            scored = (counts > 0) & (ends_in_row <= budget)
            kept_pieces = tf.maximum(tf.reduce_max(words.with_flat_values(tf.where(scored, ends_in_row, 0)),
                                                   axis=1), 0)
            sentence = words.with_flat_values(pieces).merge_dims(1, 2)
            position = tf.ragged.range(sentence.row_lengths())
            sentence = tf.ragged.boolean_mask(sentence, position < tf.cast(kept_pieces, tf.int64)[:, None])
            cls_id, sep_id = tokenizer.cls_id, tokenizer.sep_id
            token_ids = tf.concat([tf.fill([tf.shape(text)[0], 1], cls_id),
                                   tf.cast(sentence, tf.int32),
                                   tf.fill([tf.shape(text)[0], 1], sep_id)], axis=1)
            mask = tf.ones_like(token_ids)
            inputs = {"token_ids": token_ids.to_tensor(), "segment_ids": tf.zeros_like(mask).to_tensor(),
                      "padding_mask": mask.to_tensor()}
            logits = model(inputs, training=False)  # [batch, tokens, labels]
            first_piece = 1 + ends_in_row - counts  # the word's first piece ([CLS] is position 0)
            index = tf.stack([rows, tf.where(scored, first_piece, 0)], axis=1)
            word_logits = tf.where(scored[:, None], tf.gather_nd(logits, index), 0.0)
            probabilities = tf.nn.softmax(word_logits)
            label_ids = tf.where(scored, tf.argmax(word_logits, axis=-1, output_type=tf.int32), outside)
            scores = tf.where(scored, tf.reduce_max(probabilities, axis=-1), 0.0)
            start = char_offsets(text, rows, starts.flat_values)
            end = char_offsets(text, rows, ends.flat_values)

            def dense(values, default):
                return words.with_flat_values(values).to_tensor(default)

            word_logits = words.with_flat_values(word_logits).to_tensor(
                0.0, shape=tf.stack([tf.shape(text)[0], -1, num_labels]))
            return {"words": dense(words.flat_values, ""), "labels": dense(tf.gather(names, label_ids), ""),
                    "label_ids": dense(label_ids, -1), "scores": dense(scores, 0.0), "start": dense(start, -1),
                    "end": dense(end, -1), "logits": word_logits,
                    "num_words": tf.cast(words.row_lengths(), tf.int32)}

        return serve, self.text_specs()
