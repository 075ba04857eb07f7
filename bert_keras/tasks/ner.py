"""Token classification (NER): CoNLL/BIO sentences -> BertTokenClassifier -> a tag per word."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from bert_keras.data import ner
from bert_keras.data.conll import read_conll
from bert_keras.data.labels import LabelVocabulary
from bert_keras.data.tag_schemes import CONLLEVAL_SCHEMES, TagScheme, detect_scheme, tag_scheme
from bert_keras.errors import InvalidInputError
from bert_keras.metrics import entity_metrics, span_decoder
from bert_keras.modeling.constrained_decoding import constrained_sentence_ids
from bert_keras.modeling.encoder import BertEncoder
from bert_keras.modeling.token_classifier import BertTokenClassifier
from bert_keras.tasks.base import Task, predict_batches, shuffled_split
from bert_keras.text import BertPreprocessor


class NerData:
    """Sentences of one file and, once computed, their WordPiece features (label ids only when tagged)."""

    def __init__(self, path: str, sentences):
        self.path, self.sentences, self._features = path, sentences, None

    def features(self, task: "NerTask") -> ner.NerFeatures:
        if self._features is None:
            self._features = ner.ner_features(self.sentences, task.tokenizer, task.spec.max_seq_length,
                                              labels=task.labels if self.sentences[0].tags is not None else None,
                                              source=self.path)
        return self._features


class NerTask(Task):
    """Named-entity recognition (task name "ner") on tags in any scheme of `bert_keras.data.tag_schemes`, given
    (`TaskSpec.tag_scheme`, `--tag-scheme`) or detected from the training file; the model predicts that scheme's
    tags.

    Metrics: entity-level precision / recall / F1 per entity type, and word accuracy. Main metric: f1. IOB1/IOB2
    tags are scored with conlleval's chunk rules (seqeval's default mode, as CoNLL results are published); the
    other schemes (IOE2, IOBES, BMES, BILOU) with their strict rules (seqeval's mode="strict").
    """

    name = "ner"
    main_metric = "f1"
    model_word_split: str | None = None  # decided by learn_labels

    def read(self, path: str, labelled: bool = True) -> NerData:
        return NerData(path, read_conll(path, labelled=labelled, scheme=self.spec.tag_scheme))

    def learn_labels(self, data: NerData) -> LabelVocabulary:
        """The tag set of the training data; also decides the model's `word_split` (`TaskSpec.word_split`, else
        "characters" when every training word is one character, as in MSRA, else "bert")."""
        self.labels = ner.tag_vocabulary(data.sentences, scheme=self.spec.tag_scheme)
        characters = all(len(w) == 1 for s in data.sentences for w in s.words)
        self.model_word_split = self.spec.word_split or ("characters" if characters else "bert")
        return self.labels

    @property
    def scheme(self) -> TagScheme:
        """The scheme of the model's tags: the given `tag_scheme`, else read from the tag set (which holds every
        prefix of its scheme)."""
        if self.spec.tag_scheme is not None:
            return tag_scheme(self.spec.tag_scheme)
        return detect_scheme([self.labels.names])

    def _strict_scheme(self) -> TagScheme | None:
        """The scheme whose strict rules score and decode the tags; None for IOB1/IOB2 (conlleval's rules)."""
        scheme = self.scheme
        return None if scheme.name in CONLLEVAL_SCHEMES else scheme

    def check_labels(self, data: NerData) -> None:
        data.features(self)  # label ids are made with the features: an unknown tag names its line

    def split(self, data: NerData, held_out_fraction: float, seed: int):
        train, held = shuffled_split(len(data.sentences), held_out_fraction, seed)
        return (NerData(data.path, [data.sentences[i] for i in train]),
                NerData(data.path, [data.sentences[i] for i in held]))

    def size(self, data: NerData) -> int:
        return len(data.sentences)

    def build_model(self, encoder: BertEncoder):
        preprocessor = BertPreprocessor(self.tokenizer, sequence_length=self.spec.max_seq_length, padding="longest")
        word_split = self.model_word_split or self.spec.word_split or "bert"
        return BertTokenClassifier(encoder, labels=self.labels.names, preprocessor=preprocessor,
                                   tag_scheme=self.scheme.name, word_split=word_split,
                                   constrained_decoding=self.spec.constrained_decoding)

    def dataset(self, data: NerData, batch_size: int, training: bool = False, seed: int = 0, options=None,
                class_weights=None, pad_to_multiple_of: int = 1):
        if class_weights is not None:
            raise InvalidInputError("class weights apply to classification only")
        return ner.ner_dataset(data.features(self), batch_size, with_labels=True, shuffle=training, seed=seed,
                               options=options, pad_to_multiple_of=pad_to_multiple_of,
                               max_width=self.spec.max_seq_length)

    def predicted_tags(self, model: keras.Model, data: NerData, batch_size: int = 32) -> list[list[str]]:
        """Each sentence's tags: per word argmax, or the model's constrained decoding where it has one (the same
        graph its exported signature runs)."""
        features = data.features(self)  # computed once per file, reused every epoch
        batches = predict_batches(model, ner.ner_dataset(features, batch_size, with_labels=False))
        scheme = getattr(model, "constrained_scheme", None)
        if scheme is None:
            rows = [row for logits in batches for row in np.argmax(logits, -1)]
            return ner.word_tags(rows, features, self.labels)
        starts = [np.asarray(s, np.int64) for s in features.word_starts]
        logits = [row[np.maximum(s, 0)] for row, s in zip((r for b in batches for r in b), starts)]
        ids = constrained_sentence_ids(logits, [s >= 0 for s in starts], self.labels.names, scheme)
        return [[self.labels.names[i] for i in row] for row in ids]

    def evaluate(self, model: keras.Model, data: NerData, batch_size: int = 32) -> dict[str, Any]:
        self.check_labels(data)  # before paying for predictions
        gold = [s.tags for s in data.sentences]
        predicted = self.predicted_tags(model, data, batch_size)
        result = entity_metrics(gold, predicted, scheme=self._strict_scheme())
        result["tag_scheme"] = self.scheme.name
        words = sum(len(g) for g in gold)
        result["word_accuracy"] = sum(a == b for g, p in zip(gold, predicted) for a, b in zip(g, p)) / words
        result["sentences"] = len(gold)
        result["truncated_words"] = data.features(self).truncated_words
        return result

    def predict(self, model: keras.Model, data: NerData, batch_size: int = 32) -> list[dict[str, Any]]:
        out, spans_of = [], span_decoder(self._strict_scheme())
        # Characters of a character-level model (Chinese) run together; words are separated by spaces.
        separator = "" if getattr(model, "word_split", "bert") == "characters" else " "
        for sentence, tags in zip(data.sentences, self.predicted_tags(model, data, batch_size)):
            entities = [{"type": kind, "start": start, "end": end + 1,
                         "text": separator.join(sentence.words[start:end + 1])} for kind, start, end in spans_of(tags)]
            out.append({"words": sentence.words, "tags": tags, "entities": entities})
        return out
