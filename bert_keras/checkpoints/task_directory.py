"""The bert-keras model directory: a task model as plain files that `from_preset`, `bert-keras evaluate / predict /
export` and other tools read.

    task.json          task name and settings (TaskSpec: lengths, casing, label mode, QA settings, data columns)
    config.json        the encoder's BertConfig (Hugging Face layout)
    vocab.txt          the tokenizer's vocab
    labels.txt         label names in id order (classify, ner)
    model.weights.h5   the model's weights only (no optimizer state: a resumable run keeps its own backups)

A fine-tuning run writes it as OUTPUT_DIR/model (MODEL_DIR) beside OUTPUT_DIR/metrics.json (METRICS_FILE). This
layer sits below modeling/, so it builds the task model class that task.json names by its registered Keras name,
the way a .keras file names its class.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import keras
from keras.src.saving import saving_lib

from bert_keras.atomic_io import atomic_directory, write_text
from bert_keras.checkpoints.loaded import encoder_class, registered_class
from bert_keras.checkpoints.task_spec import SPEC_FILE, TaskSpec
from bert_keras.config import BertConfig
from bert_keras.data.labels import LABELS_FILE, LabelVocabulary
from bert_keras.errors import InvalidInputError
from bert_keras.text import BertPreprocessor, BertTokenizer

if TYPE_CHECKING:
    from bert_keras.modeling.task_model import BertTaskModel

CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.txt"
WEIGHTS_FILE = "model.weights.h5"
MODEL_DIR = "model"
METRICS_FILE = "metrics.json"
# task.json's task name -> the registered class of its task model (each class' TASK_NAME is the key).
TASK_CLASSES = {"classify": "bert_keras>BertClassifier", "ner": "bert_keras>BertTokenClassifier",
                "qa": "bert_keras>BertQuestionAnswerer"}


def is_task_directory(path: str | os.PathLike) -> bool:
    """True for a directory holding a task.json (a bert-keras model directory)."""
    return os.path.isfile(os.path.join(os.fspath(path), SPEC_FILE))


def save_model_weights(model: keras.Model, path: str) -> None:
    """The model's own weights as `.weights.h5`, without the optimizer's slots (a third of the size with Adam)."""
    # Keras' public save_weights also writes a compiled model's optimizer variables; its saving library takes the
    # objects to leave out.
    skip = [model.optimizer] if getattr(model, "optimizer", None) is not None else None
    saving_lib.save_weights_only(model, path, objects_to_skip=skip)


def load_model_weights(model: keras.Model, path: str) -> None:
    """Load a `save_model_weights` file into `model` (its optimizer, if compiled, keeps its own state)."""
    skip = [model.optimizer] if getattr(model, "optimizer", None) is not None else None
    saving_lib.load_weights_only(model, path, objects_to_skip=skip)


def task_name(model: keras.Model) -> str:
    """The task.json name of a task model: "classify", "ner" or "qa"."""
    name = getattr(model, "TASK_NAME", None)
    if name not in TASK_CLASSES:
        raise InvalidInputError(f"a model directory holds a BertClassifier, BertTokenClassifier or "
                                f"BertQuestionAnswerer, not a {type(model).__name__} (save it with "
                                "model.save('name.keras'))")
    return name


def task_model_class(name: str) -> type[BertTaskModel]:
    """The task model class of a task.json task name (the runner class is `tasks.registry.task_class`)."""
    return registered_class(TASK_CLASSES[name])


def task_spec(model: BertTaskModel, **fields: Any) -> TaskSpec:
    """The TaskSpec describing `model` (its preprocessor's length and casing, its task settings); `fields` add
    what the model does not know (data columns, the source checkpoint)."""
    task = task_name(model)
    preprocessor = model.preprocessor
    if preprocessor is None:
        raise InvalidInputError("a model directory needs the model's preprocessor (its vocab and lengths)")
    settings: dict[str, Any] = {"task": task, "max_seq_length": preprocessor.packer.sequence_length,
                                "lowercase": preprocessor.tokenizer.lowercase}
    if task == "classify":
        settings.update(multi_label=model.multi_label, tail_tokens=preprocessor.packer.tail_tokens,
                        pooling=model.pooling)
        if model.pair:
            settings["text_pair_column"] = fields.pop("text_pair_column", None) or "text_pair"
        elif fields.get("text_pair_column"):
            raise InvalidInputError("text_pair_column is set but the classifier takes one text (pair=False)")
    if task == "qa":
        settings.update(model.answer_settings())
    if task == "ner":
        settings.update(tag_scheme=model.tag_scheme, word_split=model.word_split,
                        constrained_decoding=model.constrained_decoding)
    settings.update({name: value for name, value in fields.items() if value is not None or name not in settings})
    return TaskSpec(**settings)


def save_task_model(directory: str | os.PathLike, model: BertTaskModel, overwrite: bool = False,
                    **spec_fields: Any) -> str:
    """Write `model` as a model directory, atomically; an existing non-empty directory is replaced only with
    `overwrite`. `spec_fields`: extra TaskSpec fields (text_column, label_column, source_checkpoint, ...)."""
    spec = task_spec(model, **spec_fields)
    directory = os.fspath(directory)
    with atomic_directory(directory, overwrite=overwrite) as staging:
        spec.save(staging)
        model.encoder.config.save_hf_json(os.path.join(staging, CONFIG_FILE))
        vocabulary = model.preprocessor.tokenizer.vocabulary
        write_text(os.path.join(staging, VOCAB_FILE), "".join(token + "\n" for token in vocabulary))
        if spec.task != "qa":
            LabelVocabulary(model.label_names).save(staging)
        save_model_weights(model, os.path.join(staging, WEIGHTS_FILE))
    return directory


def load_task_model(directory: str | os.PathLike, sequence_length: int | None = None) -> BertTaskModel:
    """The task model of a model directory, weights loaded, its preprocessor attached."""
    directory = os.fspath(directory)
    spec = TaskSpec.load(directory)
    for name in (CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE):
        if not os.path.isfile(os.path.join(directory, name)):
            raise FileNotFoundError(f"{directory}: {name} is missing")
    if sequence_length not in (None, spec.max_seq_length):
        raise InvalidInputError(f"{directory} was fine-tuned with max_seq_length {spec.max_seq_length}; it keeps "
                                f"it (got sequence_length={sequence_length})")
    labels_path = os.path.join(directory, LABELS_FILE)
    labels = LabelVocabulary.load(labels_path).names if os.path.isfile(labels_path) else None
    if spec.task != "qa" and labels is None:
        raise FileNotFoundError(f"{directory}: {LABELS_FILE} is missing (a {spec.task} model needs its labels)")
    tokenizer = BertTokenizer(os.path.join(directory, VOCAB_FILE), lowercase=spec.lowercase)
    preprocessor = BertPreprocessor(tokenizer, sequence_length=spec.max_seq_length, padding="longest",
                                    tail_tokens=spec.tail_tokens if spec.task == "classify" else 0)
    encoder = encoder_class()(BertConfig.from_json_file(os.path.join(directory, CONFIG_FILE)))
    cls = task_model_class(spec.task)
    if spec.task == "classify":
        model = cls(encoder, labels=labels, multi_label=spec.multi_label, pair=spec.text_pair_column is not None,
                    preprocessor=preprocessor, pooling=spec.pooling or "cls")
    elif spec.task == "ner":
        model = cls(encoder, labels=labels, preprocessor=preprocessor, tag_scheme=spec.tag_scheme,
                    word_split=spec.word_split or "bert", constrained_decoding=spec.constrained_decoding)
    else:
        model = cls(encoder, preprocessor=preprocessor, **{name: getattr(spec, name) for name in cls.SETTINGS})
    model.load_weights(os.path.join(directory, WEIGHTS_FILE))
    model.task_spec = spec
    return model
