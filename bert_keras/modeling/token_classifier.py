"""BertTokenClassifier: a label for every word (named-entity recognition, tagging)."""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from bert_keras.data import tag_schemes
from bert_keras.data.tag_schemes import CONLLEVAL_SCHEMES, OUTSIDE, TagScheme, decoding_scheme, detect_scheme, is_tag
from bert_keras.data.word_splits import check_word_split
from bert_keras.errors import InvalidInputError
from bert_keras.modeling import word_alignment
from bert_keras.modeling.classifier import _label_names
from bert_keras.modeling.compiled_calls import cached_function, inference_function, text_spec
from bert_keras.modeling.encoder import BertEncoder
from bert_keras.modeling.heads import dense_logits
from bert_keras.modeling.losses import global_weighted_mean
from bert_keras.modeling.task_inputs import (
    DEFAULT_BATCH_SIZE,
    as_text_array,
    is_tokenized,
    is_tokenized_dataset,
    names_to_ids,
)
from bert_keras.modeling.task_model import BertTaskModel, deserialize_preprocessor, encoder_inputs, load_matching_head
from bert_keras.text.packer import padded_width


def _words_of(sentence, row: int, word_split: str) -> list[str]:
    if isinstance(sentence, str):
        return [c for c in sentence if not c.isspace()] if word_split == "characters" else sentence.split()
    if isinstance(sentence, (list, tuple, np.ndarray)) and all(isinstance(w, str) for w in sentence):
        return list(sentence)
    raise InvalidInputError(f"x[{row}]: expected a sentence as a list of words (or a string split on whitespace), got "
                            f"{type(sentence).__name__}")


def _detected_scheme(labels: list[str]) -> str | None:
    """The scheme a label set is written in; None (conlleval's rules) for a mix no scheme allows."""
    try:
        return detect_scheme([labels]).name
    except InvalidInputError:
        return None


@keras.saving.register_keras_serializable(package="bert_keras")
class BertTokenClassifier(BertTaskModel):
    """Encoder -> sequence output -> dropout -> dense logits per token.

    Inputs: the encoder's `token_ids`, `segment_ids`, `padding_mask`. Output: float32 logits
    `[batch, length, labels]`. Default loss: cross-entropy against int labels `[batch, length]`, averaged over
    the tokens whose `sample_weight` is non-zero in the global batch (each word's first WordPiece weighs 1 and
    everything else 0). Logs the weighted `token_accuracy`. The encoder's pooler, which this head does not use,
    is set non-trainable.

    With a preprocessor, `fit` / `evaluate` take sentences as lists of words (or strings split on whitespace, or
    into characters with `word_split="characters"`) and `y` as one tag (name or id) per word; `predict_entities`
    takes raw text and returns every word's tag and the entities with character offsets, decoded in the graph
    (the exported signature returns the same).

    Args:
        encoder: a `BertEncoder`.
        num_labels: number of tags (default: `len(labels)`).
        labels: tag names in id order, e.g. `["O", "B-PER", "I-PER"]` (default: "0", "1", ...).
        preprocessor: the `BertPreprocessor` whose tokenizer and sequence length the model uses.
        dropout: dropout before the output layer (None: the encoder config's hidden_dropout_prob).
        tag_scheme: the scheme of the labels (IOB1, IOB2/BIO, IOE2, IOBES/BIOES, BMES, BILOU; None: detected from
            them). Entities are read from IOB1/IOB2 tags by conlleval's rules (as CoNLL results are published),
            from the others by their strict rules (seqeval's mode="strict").
        word_split: how raw text becomes words: "bert" (BERT's pre-tokenization: whitespace, and each punctuation
            mark and CJK ideograph alone) or "characters" (every non-space character a word, as character-level
            Chinese NER data such as MSRA is tagged).
        constrained_decoding: choose each sentence's tags jointly, as the most probable sequence whose entity tags
            the scheme's strict rules all keep (Viterbi over the scheme's transitions,
            `bert_keras.modeling.constrained_decoding`), instead of each word's argmax. None: on for the strict
            schemes (IOE2, IOBES, BMES, BILOU), where a broken B-M-E chain loses its entity; off for IOB1/IOB2,
            read by conlleval's forgiving rules.

    Examples:
    ```python
    tagger = bert_keras.BertTokenClassifier.from_preset(
        bert_keras.assets.asset_path("minilm"), labels=["O", "B-LOC", "I-LOC"], sequence_length=64)
    tagger.compile(optimizer=keras.optimizers.AdamW(5e-5))
    tagger.fit([["I", "live", "in", "Paris"]], [["O", "O", "O", "B-LOC"]], epochs=1)
    tagger.predict_entities("She moved to Berlin.")[0]["entities"]
    ```
    Character-level Chinese NER in BMES tags:
    ```python
    tagger = bert_keras.BertTokenClassifier(
        bert_keras.BertEncoder(bert_keras.BertConfig.named("tiny", vocab_size=21128)),
        labels=["O", "B-LOC", "M-LOC", "E-LOC", "S-LOC"], tag_scheme="BMES", word_split="characters",
        preprocessor=bert_keras.BertPreprocessor(bert_keras.BertTokenizer(
            bert_keras.assets.asset_path("chinese_vocab")), sequence_length=64))
    tagger.predict_entities("我住在北京。")[0]["entities"]
    ```
    """

    TASK_NAME = "ner"  # in task.json

    def __init__(self, encoder: BertEncoder, num_labels: int | None = None, labels: Sequence[str] | None = None,
                 preprocessor=None, dropout: float | None = None, tag_scheme: str | None = None,
                 word_split: str = "bert", constrained_decoding: bool | None = None, **kwargs):
        if labels is not None:
            labels = _label_names(labels)
            if num_labels is not None and num_labels != len(labels):
                raise InvalidInputError(f"num_labels {num_labels} does not match the {len(labels)} labels {labels}")
            num_labels = len(labels)
        if num_labels is None or num_labels < 2:
            raise InvalidInputError(f"BertTokenClassifier needs num_labels >= 2 or labels, got {num_labels}")
        if tag_scheme is not None:
            scheme = tag_schemes.tag_scheme(tag_scheme)
            tag_scheme = scheme.name
            outside = [name for name in labels or [] if not scheme.allows(name)]
            if outside:
                raise InvalidInputError(f"labels {outside} are not {scheme.name} tags (O or PREFIX-TYPE with a prefix "
                                        f"among {', '.join(scheme.prefixes)})")
        elif labels is not None and all(is_tag(name) for name in labels):
            tag_scheme = _detected_scheme(labels)
        check_word_split(word_split)
        if constrained_decoding and (tag_scheme is None or OUTSIDE not in (labels or [])):
            raise InvalidInputError("constrained_decoding needs a tag_scheme and labels that include 'O', got "
                                    f"tag_scheme={tag_scheme!r}, labels={labels}")
        config = encoder.config
        dropout = config.hidden_dropout_prob if dropout is None else dropout
        encoder.pooler.trainable = False  # this head does not use the pooled output: nothing to train there
        inputs = encoder_inputs()
        sequence = encoder(inputs)["sequence_output"]
        logits = dense_logits(sequence, num_labels, config.initializer_range, dropout, name="token_classifier")
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder = encoder
        self.preprocessor = deserialize_preprocessor(preprocessor)
        self.num_labels, self.dropout, self.labels = num_labels, dropout, labels
        self.tag_scheme, self.word_split = tag_scheme, word_split
        self.constrained_decoding = constrained_decoding

    @property
    def label_names(self) -> list[str]:
        return list(self.labels) if self.labels is not None else [str(i) for i in range(self.num_labels)]

    @property
    def decoding_scheme(self) -> TagScheme | None:
        """The rules entities are read by (`tag_schemes.decoding_scheme`); None (conlleval's) without a scheme."""
        return None if self.tag_scheme is None else decoding_scheme(self.tag_scheme)

    @property
    def constrained_scheme(self) -> TagScheme | None:
        """The scheme whose transitions constrain decoding (see `constrained_decoding`); None: per-word argmax."""
        on = self.constrained_decoding
        if on is None:
            on = (self.tag_scheme is not None and self.tag_scheme not in CONLLEVAL_SCHEMES
                  and OUTSIDE in self.label_names)
        return tag_schemes.tag_scheme(self.tag_scheme) if on else None

    @property
    def sequence_length(self) -> int:
        return self.preprocessor.packer.sequence_length

    def task_loss(self, y, y_pred, sample_weight):
        per_token = keras.losses.sparse_categorical_crossentropy(y, y_pred, from_logits=True)
        return global_weighted_mean(per_token, sample_weight)

    def default_metrics(self):
        return None, [keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")]

    def task_config(self) -> dict[str, Any]:
        return {"num_labels": self.num_labels, "labels": self.labels, "dropout": self.dropout,
                "tag_scheme": self.tag_scheme, "word_split": self.word_split,
                "constrained_decoding": self.constrained_decoding}

    def load_checkpoint_heads(self, head_tensors: dict, source: str) -> None:
        """An HF BertForTokenClassification head with as many labels is loaded; any other starts fresh."""
        load_matching_head(self, head_tensors, source, "classifier.weight")

    # ----------------------------------------------------------------------------------------- raw input

    def as_dataset(self, x, y=None, sample_weight=None, batch_size: int | None = None, shuffle: bool = False):
        """Sentences (lists of words) [with tags] -> batches of encoder inputs [, token labels, weights]."""
        if isinstance(x, tf.data.Dataset):
            if y is not None or sample_weight is not None:
                raise InvalidInputError("with a tf.data.Dataset as x, the tags come in the dataset: do not pass y")
            if is_tokenized_dataset(x):
                return x
            spec = x.element_spec
            first = spec[0] if isinstance(spec, tuple) else spec
            unbatched = isinstance(first, (tf.TensorSpec, tf.RaggedTensorSpec)) and first.shape.rank == 1
            dataset = x.ragged_batch(batch_size or DEFAULT_BATCH_SIZE) if unbatched else x
            return dataset.map(self._map_element, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
        if is_tokenized(x):
            return super().as_dataset(x, y, sample_weight, batch_size, shuffle)
        if sample_weight is not None:
            raise InvalidInputError("BertTokenClassifier weights every word's first piece itself; sample_weight is not "
                                    "taken with sentences")
        self._require_preprocessor()
        sentences = [_words_of(s, row, self.word_split) for row, s in enumerate([x] if isinstance(x, str) else x)]
        lengths = np.array([len(s) for s in sentences], np.int64)
        words = tf.RaggedTensor.from_row_lengths(tf.constant([w for s in sentences for w in s], tf.string), lengths)
        columns: tuple = (words,)
        if y is not None:
            columns = (words, tf.RaggedTensor.from_row_lengths(self._tag_ids(sentences, y), lengths))
        dataset = tf.data.Dataset.from_tensor_slices(columns)
        if shuffle:
            dataset = dataset.shuffle(len(sentences), reshuffle_each_iteration=True)
        dataset = dataset.ragged_batch(batch_size or DEFAULT_BATCH_SIZE)
        return dataset.map(self._map_element, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def _tag_ids(self, sentences: list[list[str]], y) -> np.ndarray:
        """Flat int32 tag ids of every word; errors name the sentence, the word and the tag."""
        if len(y) != len(sentences):
            raise InvalidInputError(f"got {len(sentences)} sentences but {len(y)} tag lists (y): they must match one "
                                    "to one")
        index = {n: i for i, n in enumerate(self.label_names)}
        ids = []
        for row, (words, tags) in enumerate(zip(sentences, y)):
            tags = tags.split() if isinstance(tags, str) else list(tags)
            if len(tags) != len(words):
                raise InvalidInputError(f"sentence {row} has {len(words)} words but {len(tags)} tags")
            for position, tag in enumerate(tags):
                if isinstance(tag, (int, np.integer)) and 0 <= tag < self.num_labels:
                    ids.append(int(tag))
                elif tag in index:
                    ids.append(index[tag])
                else:
                    raise InvalidInputError(f"y[{row}][{position}] = {tag!r} (word {words[position]!r}) is not one of "
                                            f"the model's labels {self.label_names}")
        return np.array(ids, np.int32)

    def preprocess_batch(self, x, y=None, sample_weight=None):
        """Words `[batch, (words)]` (ragged strings) and tags `[batch, (words)]` -> inputs, token labels, weights."""
        if not isinstance(x, tf.RaggedTensor):
            raise InvalidInputError("BertTokenClassifier takes sentences as lists of words (ragged [batch, (words)])")
        tokenizer, packer = self.preprocessor.tokenizer, self.preprocessor.packer
        layout = word_alignment.first_piece_layout(tokenizer, x, self.sequence_length)
        longest = tf.reduce_max(tf.concat([tf.cast(layout.token_ids.row_lengths(), tf.int32), [2]], 0))
        width = padded_width(longest, packer.pad_to_multiple_of, self.sequence_length)
        features = word_alignment.encoder_inputs(layout, tokenizer.pad_id, width)
        if y is None:
            return (features,)
        if y.dtype == tf.string:
            y = y.with_flat_values(names_to_ids(y.flat_values, self.label_names, what="tag"))
        shape = tf.shape(features["token_ids"])
        labels, weights = word_alignment.token_targets(layout, y.flat_values, shape)
        return features, labels, weights

    def predict(self, x, batch_size=None, verbose="auto", **kwargs):
        """Per-token logits `[sentences, sequence_length, labels]` (tokenized input: Keras' predict). For readable
        tags of raw text use `predict_entities`."""
        if isinstance(x, tf.data.Dataset) or is_tokenized(x):
            return super().predict(x, batch_size=batch_size, verbose=verbose, **kwargs)
        function = inference_function(self)
        batches = [function(features) for (features,) in self.as_dataset(x, batch_size=batch_size)]
        return np.concatenate([np.pad(b.numpy(), ((0, 0), (0, self.sequence_length - b.shape[1]), (0, 0)))
                               for b in batches])

    # ----------------------------------------------------------------------------------------- outputs

    def _text_function(self):
        tokenizer, length, names = self.preprocessor.tokenizer, self.sequence_length, self.label_names
        return cached_function(self, "tag_text", lambda: tf.function(
            lambda text: word_alignment.tag_text_outputs(self, tokenizer, length, names, text,
                                                         self.decoding_scheme, self.word_split,
                                                         self.constrained_scheme),
            input_signature=[text_spec()]))

    def tag_text(self, texts, batch_size: int = DEFAULT_BATCH_SIZE) -> list[dict[str, np.ndarray]]:
        """The exported NER signature's outputs (numpy, one dict per batch of texts) for raw `texts`."""
        self._require_preprocessor()
        texts = as_text_array(texts)
        function = self._text_function()
        return [{k: v.numpy() for k, v in function(tf.constant(texts[i:i + batch_size])).items()}
                for i in range(0, len(texts), batch_size)]

    def predict_entities(self, texts, batch_size: int = DEFAULT_BATCH_SIZE) -> list[dict[str, Any]]:
        """For each raw text: `words` (each with `word`, `label`, `score`, `start`, `end`: character offsets) and
        `entities` (`type`, `text`, `start`, `end`, `score`: the mean of its words' scores), decoded from the word
        tags by `decoding_scheme` in the graph (the exported signature's outputs); offsets index the text decoded with
        errors="replace"."""
        results = []
        for batch in self.tag_text(texts, batch_size):
            for row in range(len(batch["num_words"])):
                words = [{"word": batch["words"][row, i].decode("utf-8"),
                          "label": batch["labels"][row, i].decode("utf-8"), "score": float(batch["scores"][row, i]),
                          "start": int(batch["start"][row, i]), "end": int(batch["end"][row, i])}
                         for i in range(int(batch["num_words"][row]))]
                entities = [{"type": batch["entity_types"][row, i].decode("utf-8"),
                             "text": batch["entity_texts"][row, i].decode("utf-8"),
                             "start": int(batch["entity_start"][row, i]), "end": int(batch["entity_end"][row, i]),
                             "score": float(batch["entity_scores"][row, i])}
                            for i in range(int(batch["num_entities"][row]))]
                results.append({"words": words, "entities": entities})
        return results
