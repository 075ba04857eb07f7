"""Serving signatures of a fine-tuned token classifier: raw text -> words with labels and character offsets, and
the entities decoded from them.

Words are BERT's pre-tokenization of the text (split on whitespace; every punctuation mark and CJK ideograph a
word of its own) or, for a model with word_split="characters", its characters, found with their offsets in the
text; the alignment is `bert_keras.modeling.word_alignment`, the same code `BertTokenClassifier` trains and
predicts with.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from bert_keras.export.signatures import Endpoint, TaskSignatures
from bert_keras.modeling.word_alignment import tag_text_outputs
from bert_keras.serving_contract import NER_OUTPUTS


class NerSignatures(TaskSignatures):
    """`serving_default`: text -> per word `words`, `labels`, `label_ids`, `scores` (the label's probability),
    `start`/`end` (character offsets: `text[start:end] == word` in Python on the text decoded with
    errors="replace"), `logits` `[batch, words, labels]`, and `num_words` `[batch]`; per entity (decoded in the
    graph by the model's `decoding_scheme` from its labels, chosen per sentence by constrained decoding where the
    model's `constrained_scheme` says so) `entity_types`, `entity_texts`, `entity_start`/`entity_end` (character
    offsets), `entity_scores` and `num_entities` `[batch]`; rows are padded with "", -1 and 0. `predict_ids`:
    encoder inputs -> per-token `logits`.

    Args:
        model: a `BertTokenClassifier` with its preprocessor.
    """

    def __init__(self, model: keras.Model):
        super().__init__(model, model.preprocessor.tokenizer, model.sequence_length)
        self.label_names = model.label_names
        self.decoding_scheme, self.word_split = model.decoding_scheme, model.word_split
        self.constrained_scheme = model.constrained_scheme

    def ids_outputs(self, inputs: dict[str, tf.Tensor], logits: tf.Tensor) -> dict[str, tf.Tensor]:
        return {NER_OUTPUTS.logits: logits}

    def text_endpoint(self) -> Endpoint:
        model, tokenizer, length, names = self.model, self.tokenizer, self.max_seq_length, self.label_names

        def serve(text):
            return tag_text_outputs(model, tokenizer, length, names, text, self.decoding_scheme, self.word_split,
                                    self.constrained_scheme)

        return serve, self.text_specs()
