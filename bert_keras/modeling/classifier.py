"""BertClassifier: sequence classification (one or two segments; single-label or multi-label) on [CLS] or the
mean of the token vectors."""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from bert_keras.checkpoints.task_spec import check_pooling
from bert_keras.data.labels import LabelVocabulary
from bert_keras.errors import InvalidInputError
from bert_keras.metrics.classification import MULTI_LABEL_THRESHOLD
from bert_keras.modeling import task_inputs
from bert_keras.modeling.encoder import BertEncoder
from bert_keras.modeling.heads import dense_logits
from bert_keras.modeling.losses import global_weighted_mean
from bert_keras.modeling.pooling import mean_pool
from bert_keras.modeling.task_model import BertTaskModel, deserialize_preprocessor, encoder_inputs, load_matching_head
from bert_keras.serving_contract import CLASSIFY_OUTPUTS


def classification_outputs(logits: tf.Tensor, label_names: Sequence[str], multi_label: bool) -> dict[str, tf.Tensor]:
    """Readable outputs of classifier logits, in TF ops (the exported signatures return exactly these).

    Single-label: `probabilities` (softmax), `label_ids` int32 `[batch]` (argmax), `labels` string `[batch]`.
    Multi-label: `probabilities` (sigmoid), `label_ids` int32 `[batch, labels]` (1 where probability > 0.5,
    MULTI_LABEL_THRESHOLD), `labels` string `[batch, labels]` (the name where chosen, "" elsewhere). Plus the `logits`.
    """
    logits = tf.cast(logits, tf.float32)
    names = tf.constant(list(label_names))
    if multi_label:
        probabilities = tf.sigmoid(logits)
        chosen = probabilities > MULTI_LABEL_THRESHOLD
        labels = tf.where(chosen, tf.broadcast_to(names, tf.shape(chosen)), "")
        return {CLASSIFY_OUTPUTS.logits: logits, CLASSIFY_OUTPUTS.probabilities: probabilities,
                CLASSIFY_OUTPUTS.label_ids: tf.cast(chosen, tf.int32), CLASSIFY_OUTPUTS.labels: labels}
    label_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return {CLASSIFY_OUTPUTS.logits: logits, CLASSIFY_OUTPUTS.probabilities: tf.nn.softmax(logits),
            CLASSIFY_OUTPUTS.label_ids: label_ids, CLASSIFY_OUTPUTS.labels: tf.gather(names, label_ids)}


@keras.saving.register_keras_serializable(package="bert_keras")
class BertClassifier(BertTaskModel):
    """Encoder -> pooled [CLS] output (or the mean of the token vectors) -> dropout -> dense logits, as BERT's
    run_classifier.

    Inputs: the encoder's `token_ids`, `segment_ids`, `padding_mask`. Output: float32 logits `[batch, classes]`.
    Default loss: softmax cross-entropy against int labels `[batch]` (single-label), or per-class sigmoid
    cross-entropy against multi-hot labels `[batch, classes]` (`multi_label=True`), averaged over the global
    batch; `sample_weight` (e.g. class weights) scales each example's term, as Keras' `class_weight` does.
    With a preprocessor, `fit` / `evaluate` / `predict` take raw strings (pairs when `pair=True`) and labels as
    ids or as names from `labels`; `predict_labels` gives label names and probabilities.

    Args:
        encoder: a `BertEncoder`.
        num_classes: number of labels (default: `len(labels)`).
        labels: label names in id order, kept with the model (default: "0", "1", ...).
        multi_label: independent yes/no decision per label instead of one label per example.
        pair: the model classifies two texts per example (x is `(first_texts, second_texts)`).
        preprocessor: the `BertPreprocessor` that tokenizes raw input (None: tokenized input only).
        dropout: dropout before the output layer (None: the encoder config's hidden_dropout_prob).
        pooling: "cls" (the pooler on [CLS], as BERT; an HF BertForSequenceClassification head loads onto it) or
            "mean" (the mean of the token vectors, [CLS] and [SEP] included; the pooler, then unused, is set
            non-trainable). The pooler's only pretraining is next-sentence prediction: a small model pretrained
            here classified Chinese reviews better from the mean (docs/BENCHMARKS.md).

    Examples:
    ```python
    classifier = bert_keras.BertClassifier.from_preset(
        bert_keras.assets.asset_path("minilm"), labels=["negative", "positive"], sequence_length=64)
    classifier.compile(optimizer=keras.optimizers.AdamW(5e-5))
    classifier.fit(["A wonderful film.", "Dull and far too long."], ["positive", "negative"], epochs=1)
    classifier.predict_labels("Sheer joy from start to end.")[0]["label"]
    ```
    """

    TASK_NAME = "classify"  # in task.json

    def __init__(self, encoder: BertEncoder, num_classes: int | None = None, labels: Sequence[str] | None = None,
                 multi_label: bool = False, pair: bool = False, preprocessor=None, dropout: float | None = None,
                 pooling: str = "cls", **kwargs):
        if labels is not None:
            labels = _label_names(labels)
            if num_classes is not None and num_classes != len(labels):
                raise InvalidInputError(f"num_classes {num_classes} does not match the {len(labels)} labels {labels}")
            num_classes = len(labels)
        if num_classes is None:
            raise InvalidInputError("BertClassifier needs num_classes or labels")
        if num_classes < 1 or (num_classes < 2 and not multi_label):
            raise InvalidInputError(f"num_classes must be >= 2 (>= 1 for multi_label), got {num_classes}")
        check_pooling(pooling)
        config = encoder.config
        dropout = config.hidden_dropout_prob if dropout is None else dropout
        inputs = encoder_inputs()
        features = encoder(inputs)
        if pooling == "mean":
            encoder.pooler.trainable = False  # unused: nothing to train there
            pooled = mean_pool(features["sequence_output"], inputs["padding_mask"])
        else:
            pooled = features["pooled_output"]
        logits = dense_logits(pooled, num_classes, config.initializer_range, dropout, name="classifier")
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder = encoder
        self.preprocessor = deserialize_preprocessor(preprocessor)
        self.num_classes, self.multi_label, self.dropout, self.pair = num_classes, multi_label, dropout, pair
        self.pooling = pooling
        self.labels = labels

    @property
    def takes_pairs(self) -> bool:  # type: ignore[override]
        return self.pair

    @property
    def label_names(self) -> list[str]:
        """The label names, "0", "1", ... when the model was built without them."""
        return list(self.labels) if self.labels is not None else [str(i) for i in range(self.num_classes)]

    def task_loss(self, y, y_pred, sample_weight):
        if self.multi_label:
            per_label = ops.binary_crossentropy(ops.cast(y, "float32"), y_pred, from_logits=True)
            per_example = ops.mean(per_label, axis=-1)
        else:
            per_example = keras.losses.sparse_categorical_crossentropy(y, y_pred, from_logits=True)
        return global_weighted_mean(per_example, sample_weight, normalize_by_count=True)

    def default_metrics(self):
        if self.multi_label:  # logits: > 0 is probability > MULTI_LABEL_THRESHOLD (0.5)
            return [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)], None
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")], None

    def task_config(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "labels": self.labels, "multi_label": self.multi_label,
                "pair": self.pair, "dropout": self.dropout, "pooling": self.pooling}

    def load_checkpoint_heads(self, head_tensors: dict, source: str) -> None:
        """An HF BertForSequenceClassification head of the same size is loaded (with "cls" pooling: it was
        trained on the pooler's output); any other starts fresh."""
        if self.pooling == "cls":
            load_matching_head(self, head_tensors, source, "classifier.weight")

    # ----------------------------------------------------------------------------------------- raw input

    def check_text_input(self, x) -> None:
        if task_inputs.is_text_pair(x) and not self.pair:
            raise InvalidInputError("this BertClassifier takes one text per example (pair=False) but got a pair of "
                                    "sequences; build it with pair=True to classify text pairs")
        if self.pair and not task_inputs.is_text_pair(x) and not (
                isinstance(x, tuple) and len(x) == 2 and all(isinstance(t, str) for t in x)):
            raise InvalidInputError("this BertClassifier takes a pair of texts per example (pair=True): pass "
                                    "x=(first_texts, second_texts), two sequences of the same length")

    def preprocess_batch(self, x, y=None, sample_weight=None):
        segments = x if isinstance(x, tuple) else (x,)
        if len(segments) != (2 if self.pair else 1):
            raise InvalidInputError(f"this BertClassifier takes {2 if self.pair else 1} text(s) per example "
                                    f"(pair={self.pair}), got {len(segments)}")
        features = self.preprocessor(*segments)
        if y is not None and y.dtype == tf.string:
            y = self._label_ids_in_graph(y)
        return keras.utils.pack_x_y_sample_weight(features, y, sample_weight)

    def _label_ids_in_graph(self, y):
        """String labels of a tf.data pipeline -> ids (single-label), failing on a name not in `labels`."""
        if self.multi_label:
            raise InvalidInputError("multi-label targets in a tf.data.Dataset must be multi-hot [batch, classes]; "
                                    "label names are accepted for in-memory lists")
        return task_inputs.names_to_ids(y, self.label_names)

    def prepare_targets(self, y):
        """Label names or ids (single-label), lists of names or multi-hot rows (multi-label) -> numpy targets."""
        names = self.label_names
        index = {n: i for i, n in enumerate(names)}
        if self.multi_label:
            if _is_numeric(y):
                targets = np.asarray(y, np.float32)
                if targets.ndim != 2 or targets.shape[1] != self.num_classes:
                    raise InvalidInputError(f"multi-label targets must be multi-hot rows of {self.num_classes} values, "
                                            f"got shape {targets.shape}")
                return targets
            targets = np.zeros((len(y), self.num_classes), np.float32)
            for row, chosen in enumerate(y):
                chosen = [chosen] if isinstance(chosen, str) else chosen
                for name in chosen:
                    targets[row, _label_id(name, index, names, row)] = 1.0
            return targets
        if _is_numeric(y):
            targets = np.asarray(y)
            if targets.ndim != 1:
                raise InvalidInputError(f"single-label targets must be one id per example, got shape {targets.shape}")
            bad = np.flatnonzero((targets < 0) | (targets >= self.num_classes) | (targets != np.round(targets)))
            if len(bad):
                raise InvalidInputError(f"y[{bad[0]}] = {targets[bad[0]].item()!r} is not a label id in "
                                        f"[0, {self.num_classes})")
            return targets.astype(np.int32)
        return np.array([_label_id(name, index, names, row) for row, name in enumerate(y)], np.int32)

    # ----------------------------------------------------------------------------------------- outputs

    def predict(self, x, batch_size=None, verbose="auto", **kwargs):
        """Logits `[examples, classes]`. In-memory raw texts run in order of length (each batch padded to its
        longest, so similar lengths waste little padding) and come back in the input order."""
        if isinstance(x, tf.data.Dataset) or task_inputs.is_tokenized(x):
            return super().predict(x, batch_size=batch_size, verbose=verbose, **kwargs)
        self.check_text_input(x)
        segments = task_inputs.text_segments(x)
        lengths = sum(np.array([len(t) for t in s]) for s in segments)
        order = np.argsort(lengths, kind="stable")
        ordered = tuple(s[order] for s in segments)
        logits = super().predict(ordered if len(ordered) == 2 else ordered[0], batch_size=batch_size,
                                 verbose=verbose, **kwargs)
        restored = np.empty_like(logits)
        restored[order] = logits
        return restored

    def predict_labels(self, x, batch_size: int | None = None) -> list[dict[str, Any]]:
        """Label names and probabilities for raw input: per example `{"label": name, "probabilities": {name: p}}`
        (multi-label: `{"labels": [chosen names], "probabilities": {...}}`), by the exported signatures' rules."""
        logits = self.predict(x, batch_size=batch_size, verbose=0)
        outputs = {k: v.numpy() for k, v in classification_outputs(logits, self.label_names, self.multi_label).items()}
        names, results = self.label_names, []
        for row in range(len(logits)):
            probabilities = {n: float(p) for n, p in zip(names, outputs["probabilities"][row])}
            if self.multi_label:
                chosen = [n for n, c in zip(names, outputs["label_ids"][row]) if c]
                results.append({"labels": chosen, "probabilities": probabilities})
            else:
                results.append({"label": outputs["labels"][row].decode("utf-8"), "probabilities": probabilities})
        return results


def _label_names(labels: Sequence[str]) -> list[str]:
    return LabelVocabulary(labels).names  # checks: unique, non-empty, no line breaks


def _is_numeric(y) -> bool:
    array = np.asarray(y, dtype=object) if not isinstance(y, np.ndarray) else y
    if array.dtype != object:
        return np.issubdtype(array.dtype, np.number) or array.dtype == bool
    flat = [v for row in array for v in (row if isinstance(row, (list, tuple, np.ndarray)) else [row])]
    return all(isinstance(v, (int, float, np.integer, np.floating, bool)) for v in flat)


def _label_id(name, index: dict[str, int], names: list[str], row: int) -> int:
    if name not in index:
        raise InvalidInputError(f"y[{row}] = {name!r} is not one of the model's labels {names}")
    return index[name]
