"""BertTaskModel: the shared base of the task models (an encoder, a head, a built-in loss and an attached
preprocessor that lets fit / evaluate / predict take raw strings)."""

from __future__ import annotations

import os
import warnings
from typing import Any

import keras
import tensorflow as tf

from bert_keras.checkpoints import load_checkpoint
from bert_keras.checkpoints.task_directory import is_task_directory, load_task_model
from bert_keras.checkpoints.task_heads import assign_task_head
from bert_keras.errors import CheckpointMismatchError, InvalidInputError
from bert_keras.modeling import task_inputs
from bert_keras.modeling.encoder import BertEncoder
from bert_keras.modeling.losses import replicas_in_sync
from bert_keras.serving_contract import ENCODER_INPUTS
from bert_keras.text import BertPreprocessor, BertTokenizer


def encoder_inputs() -> dict[str, keras.KerasTensor]:
    """Symbolic int32 `[batch, length]` inputs named as `BertEncoder` expects them."""
    return {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in ENCODER_INPUTS}


def deserialize_preprocessor(preprocessor: BertPreprocessor):
    """A `BertPreprocessor` from itself, its config dict, or None."""
    if isinstance(preprocessor, dict):
        return keras.saving.deserialize_keras_object(preprocessor)
    return preprocessor


class BertTaskModel(keras.Model):
    """A functional model over a `BertEncoder` whose default loss is `task_loss` (normalised over the global
    batch, so every tf.distribute strategy optimises the one-device loss), with an attached `preprocessor`.

    With a preprocessor, `fit`, `evaluate` and `predict` take raw input (see `bert_keras.modeling.task_inputs`)
    and tokenize it in the tf.data pipeline, outside the compiled step; tokenized dicts pass through. A `loss`
    passed to `compile` replaces the task loss; `default_metrics()` are compiled when neither loss nor metrics
    are given.

    Subclasses build their graph, call `super().__init__(inputs=..., outputs=...)`, set `self.encoder` and
    `self.preprocessor`, and define `task_loss(y, y_pred, sample_weight)`, `default_metrics()`, `task_config()`
    (their constructor arguments besides the encoder and preprocessor) and `preprocess_batch(x, y, sample_weight)`
    (a batch of raw input -> what the model trains on, in TF ops).
    """

    def compile(self, optimizer="adam", loss=None, metrics=None, weighted_metrics=None, **kwargs) -> None:
        """Keras compile with the task's loss and metrics as defaults."""
        if loss is None and metrics is None and weighted_metrics is None:
            metrics, weighted_metrics = self.default_metrics()
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, weighted_metrics=weighted_metrics,
                        **kwargs)

    def default_metrics(self) -> tuple[Any, Any]:
        """(metrics, weighted_metrics) compiled by default."""
        return None, None

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Recompile a loaded model (Keras skips this for models that override compile)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self._compile_loss is not None:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        replicas = replicas_in_sync()
        total = self.task_loss(y, y_pred, sample_weight)
        for extra in self.losses:
            total = total + self._aggregate_additional_loss(extra) * replicas
        return total / replicas

    def __init_subclass__(cls, **kwargs):
        # The loss is required; an abc.ABCMeta base would break Keras' own __new__, so check it here.
        super().__init_subclass__(**kwargs)
        if not callable(getattr(cls, "task_loss", None)):
            raise TypeError(f"{cls.__name__} must define task_loss(y, y_pred, sample_weight)")

    # ----------------------------------------------------------------------------------------------- config

    def task_config(self) -> dict[str, Any]:
        return {}

    def get_config(self) -> dict[str, Any]:
        preprocessor = getattr(self, "preprocessor", None)
        return {"encoder": keras.saving.serialize_keras_object(self.encoder), "name": self.name,
                "trainable": self.trainable,
                "preprocessor": None if preprocessor is None else keras.saving.serialize_keras_object(preprocessor),
                **self.task_config()}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["preprocessor"] = deserialize_preprocessor(config.get("preprocessor"))
        return cls(**config)

    # ----------------------------------------------------------------------------------------------- loading

    @classmethod
    def from_preset(cls, source: str | os.PathLike, sequence_length: int | None = None,
                    lowercase: bool | None = None, revision: str | None = None, **kwargs):
        """Build this task model from any checkpoint, in one line.

        Args:
            source: a local Hugging Face, Google TF1, keras-hub or bert-keras checkpoint directory, a bert-keras
                model directory (`bert-keras finetune`'s OUTPUT_DIR/model) or `.keras` file of this task, or a hub
                name (`hf://org/name`, a bare Hugging Face name, a keras-hub preset name).
            sequence_length: longest packed sequence of the attached preprocessor (default 128, or the saved
                model's own).
            lowercase: override the checkpoint's casing (default: what the checkpoint says; uncased if silent).
            revision: a hub revision (branch, tag or commit) to pin.
            **kwargs: the task's constructor arguments (e.g. `num_classes`, `labels`).

        A checkpoint head matching this task (an HF BertForSequenceClassification / TokenClassification /
        QuestionAnswering head, a masked-LM head) is loaded when its shape fits; otherwise the head starts fresh.
        """
        source_path = os.fspath(source)
        if source_path.endswith(".keras") and os.path.isfile(source_path):
            return _checked(cls, keras.models.load_model(source_path), source_path, kwargs)
        if is_task_directory(source_path):
            return _checked(cls, load_task_model(source_path, sequence_length=sequence_length), source_path,
                            kwargs)

        loaded = load_checkpoint(source_path, revision=revision)
        preprocessor = preprocessor_for(loaded, source_path, sequence_length, lowercase)
        model = cls.from_encoder(loaded.encoder, preprocessor, **kwargs)
        model.load_checkpoint_heads(loaded.head_tensors, source_path)
        return model

    @classmethod
    def from_encoder(cls, encoder: BertEncoder, preprocessor: BertPreprocessor, **kwargs):
        """This task model on `encoder` with `preprocessor` attached (what `from_preset` builds)."""
        return cls(encoder, preprocessor=preprocessor, **kwargs)

    def load_checkpoint_heads(self, head_tensors: dict, source: str) -> None:
        """Load the checkpoint's head for this task, if it has one that fits (task models override this)."""

    # ----------------------------------------------------------------------------------------- raw input

    def preprocess_batch(self, x, y=None, sample_weight=None):
        """A batch of raw input (and targets) -> (encoder inputs, targets, weights) in TF ops."""
        features = self.preprocessor(*x) if isinstance(x, tuple) else self.preprocessor(x)
        return keras.utils.pack_x_y_sample_weight(features, y, sample_weight)

    def prepare_targets(self, y):
        """In-memory targets as the model trains on them (label names become ids); checked, numpy."""
        return y

    def _require_preprocessor(self) -> None:
        if getattr(self, "preprocessor", None) is None:
            raise InvalidInputError(f"{type(self).__name__} has no preprocessor, so it takes tokenized inputs only "
                                    "(a dict of token_ids, segment_ids, padding_mask); build it with from_preset(...) "
                                    "or pass preprocessor=BertPreprocessor(...)")

    takes_pairs = False  # a task of two texts per example (a classifier with pair=True) sets this

    def _map_element(self, *element):
        """One dataset element (x,), x, (x, y) or (x, y, sample_weight) -> what the model trains on."""
        if len(element) == 1:
            x, y, sample_weight = element[0], None, None
        elif len(element) == 2 and self.takes_pairs and all(
                isinstance(t, tf.Tensor) and t.dtype == tf.string for t in element):
            x, y, sample_weight = tuple(element), None, None  # a text pair without labels
        else:
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(element)
        if task_inputs.is_tokenized(x):
            return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        self._require_preprocessor()
        return self.preprocess_batch(x, y, sample_weight)

    def as_dataset(self, x, y=None, sample_weight=None, batch_size: int | None = None, shuffle: bool = False):
        """Batched tf.data of what the model trains on / predicts from, for any accepted `x`."""
        if isinstance(x, tf.data.Dataset):
            if y is not None or sample_weight is not None:
                raise InvalidInputError("with a tf.data.Dataset as x, the labels come in the dataset: do not pass y or "
                                        "sample_weight")
            if task_inputs.is_tokenized_dataset(x):
                return x  # batches of encoder inputs already: nothing to add to the caller's pipeline
            dataset = task_inputs.batched(x, batch_size)
        else:
            if not task_inputs.is_tokenized(x):
                self._require_preprocessor()
                self.check_text_input(x)
            if y is not None:
                y = self.prepare_targets(y)
            dataset = task_inputs.in_memory_dataset(x, y, sample_weight, batch_size, shuffle=shuffle)
        return dataset.map(self._map_element, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def check_text_input(self, x) -> None:
        """Raise for raw input of the wrong shape for this task (e.g. one list for a pair task)."""

    def _validation(self, validation_data, batch_size):
        if validation_data is None or isinstance(validation_data, tf.data.Dataset):
            return None if validation_data is None else self.as_dataset(validation_data, batch_size=batch_size)
        if isinstance(validation_data, tuple) and len(validation_data) in (2, 3):
            return self.as_dataset(*validation_data, batch_size=batch_size)
        raise InvalidInputError("validation_data must be a tf.data.Dataset or a tuple (x, y[, sample_weight])")

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_data=None,
            shuffle=True, sample_weight=None, **kwargs):
        """Keras fit on raw input (strings, text pairs, a tf.data.Dataset of them) or tokenized dicts."""
        dataset = self.as_dataset(x, y, sample_weight, batch_size, shuffle=shuffle)
        # The dataset is shuffled already (in-memory input) or the caller's own: Keras' shuffle does not apply.
        return super().fit(dataset, epochs=epochs, verbose=verbose, callbacks=callbacks, shuffle=False,
                           validation_data=self._validation(validation_data, batch_size), **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, **kwargs):
        """Keras evaluate on raw input or tokenized dicts (labels as in `fit`)."""
        return super().evaluate(self.as_dataset(x, y, sample_weight, batch_size), verbose=verbose, **kwargs)

    def predict(self, x, batch_size=None, verbose="auto", **kwargs):
        """Keras predict on raw input or tokenized dicts: the model's outputs (logits), one row per example."""
        return super().predict(self.as_dataset(x, batch_size=batch_size), verbose=verbose, **kwargs)


def preprocessor_for(loaded, source: str, sequence_length: int | None, lowercase: bool | None):
    """The `BertPreprocessor` of a loaded checkpoint (its vocab and casing; padding to each batch's longest)."""
    if not loaded.vocab_path:
        raise FileNotFoundError(f"{source}: the checkpoint has no vocab.txt, which the preprocessor needs")
    sequence_length = sequence_length or min(128, loaded.config.max_position_embeddings)
    if sequence_length > loaded.config.max_position_embeddings:
        raise InvalidInputError(f"sequence_length {sequence_length} exceeds the checkpoint's max_position_embeddings "
                                f"{loaded.config.max_position_embeddings} ({source})")
    tokenizer = BertTokenizer(loaded.vocab_path, lowercase=loaded.tokenizer_lowercase if lowercase is None
                              else lowercase)
    if tokenizer.vocabulary_size != loaded.config.vocab_size:
        raise InvalidInputError(f"{loaded.vocab_path} has {tokenizer.vocabulary_size} tokens but the checkpoint's "
                                f"vocab_size is {loaded.config.vocab_size}")
    return BertPreprocessor(tokenizer, sequence_length=sequence_length, padding="longest")


def _checked(cls, model: keras.Model, source: str, kwargs: dict[str, Any]):
    """A saved task model, checked to be of the class asked for; constructor kwargs make no sense here."""
    if not isinstance(model, cls):
        raise InvalidInputError(f"{source} holds a {type(model).__name__}, not a {cls.__name__}")
    if kwargs:
        raise InvalidInputError(f"{source} is a saved {cls.__name__}: it keeps its own settings, so "
                                f"{sorted(kwargs)} cannot be given")
    return model


def load_matching_head(model: keras.Model, head_tensors: dict, source: str, probe: str) -> bool:
    """Load an HF task head into `model` when `head_tensors` has one of the same shape; warn and keep the fresh
    head when the sizes differ (e.g. another number of labels)."""
    if probe not in head_tensors:
        return False
    try:
        return assign_task_head(model, head_tensors, source)
    except CheckpointMismatchError as error:
        warnings.warn(f"{source}: its task head does not fit this {type(model).__name__} ({error}); the head "
                      "starts from random weights", stacklevel=3)
        return False
