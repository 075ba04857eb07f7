"""Fine-tuning: one builder that returns everything `model.fit` needs, and a `finish()` that writes the results.

`scripts/finetune.py` and `bert-keras finetune` both parse `add_finetuning_arguments`, call `build_finetuning`,
run `run.model.fit(run.train_dataset, **run.fit_kwargs)` and then `run.finish()`.

Output directory layout: `model/` (the fine-tuned model: task.json, config.json, vocab.txt, labels.txt,
model.weights.h5; what evaluate, predict and export read), `best.weights.h5` (the best epoch so far),
`metrics.json` (validation history, the chosen epoch, validation and test metrics), `validation_history.json`
(each finished epoch's validation metrics), `backup/` (what an interrupted run resumes from; removed when the run
finishes), `history.csv`, `logs/` (TensorBoard), `finetuning_config.json`. A run writes only into a missing or
empty output directory, resumes an interrupted run of the same settings, or replaces an earlier run with
`overwrite` (which first removes that run's outputs): `bert_keras.training.finetuning_output`.

A resumed run ends as an uninterrupted one would: the backup restores weights, optimizer and dropout state, the
training stream (a fixed function of the seed) is skipped to the backup's step, and the validation history of
the finished epochs gives back the best epoch and the early-stopping count.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from typing import Any

import keras
import tensorflow as tf

from bert_keras.atomic_io import write_text
from bert_keras.checkpoints import LoadedCheckpoint, load_checkpoint
from bert_keras.checkpoints.task_directory import METRICS_FILE, MODEL_DIR, load_model_weights
from bert_keras.checkpoints.task_spec import TaskSettings, TaskSpec
from bert_keras.data.classification import class_weights as make_class_weights
from bert_keras.errors import InvalidInputError
from bert_keras.precision import global_dtype_policy
from bert_keras.tasks.base import Task
from bert_keras.tasks.registry import save_trained_task, task_class
from bert_keras.text import BertTokenizer
from bert_keras.training.callbacks import ResumableBackup
from bert_keras.training.finetuning_config import (
    BACKUP_DIR,
    BEST_WEIGHTS,
    RUN_CONFIG_FILE,
    VALIDATION_HISTORY_FILE,
    FinetuningConfig,
)
from bert_keras.training.finetuning_output import check_output_dir, clear_previous_run
from bert_keras.training.optimizer import OptimizerConfig
from bert_keras.training.run_setup import compile_for_training, logging_callbacks, save_run_config, training_strategy
from bert_keras.training.strategy import data_sharding_options, is_chief, num_workers
from bert_keras.training.task_callbacks import (
    VALIDATION_PREFIX,
    BestCheckpoint,
    HistoryEarlyStopping,
    TaskEvaluation,
    best_epoch,
)


@dataclasses.dataclass
class FinetuningRun:
    """What `build_finetuning` returns: call `model.fit(train_dataset, **fit_kwargs)`, then `finish()`."""

    config: FinetuningConfig
    strategy: tf.distribute.Strategy
    task: Task
    model: keras.Model
    train_dataset: Any
    fit_kwargs: dict
    validation_data: Any
    test_data: Any
    evaluation: Any
    best: Any
    vocab_path: str
    train_examples: int
    started: float = dataclasses.field(default_factory=time.perf_counter)

    def finish(self) -> dict[str, Any]:
        """Restore the best epoch's weights, write OUTPUT_DIR/model, score validation (and test) data, write
        metrics.json (chief only); returns the metrics."""
        train_seconds = time.perf_counter() - self.started
        config = self.config
        best_path = os.path.join(config.output_dir, BEST_WEIGHTS)
        if self.best.best_epoch is not None and os.path.exists(best_path):
            load_model_weights(self.model, best_path)
        metrics: dict[str, Any] = {
            "task": config.task, "main_metric": self.task.main_metric, "best_epoch": self.best.best_epoch,
            "train_examples": self.train_examples, "train_seconds": round(train_seconds, 1),
            "validation_history": self.evaluation.history,
            "validation": self.task.evaluate(self.model, self.validation_data, config.eval_batch_size),
        }
        if self.test_data is not None:
            metrics["test"] = self.task.evaluate(self.model, self.test_data, config.eval_batch_size)
        if is_chief():
            save_trained_task(os.path.join(config.output_dir, MODEL_DIR), self.model, self.task)
            write_text(os.path.join(config.output_dir, METRICS_FILE), json.dumps(metrics, indent=2) + "\n")
            # The run is complete (its results are written): nothing is left to resume, and backups are large.
            shutil.rmtree(os.path.join(config.output_dir, BACKUP_DIR), ignore_errors=True)
        return metrics


def _load_start(config: FinetuningConfig) -> tuple[LoadedCheckpoint, str, bool]:
    """The init checkpoint, its vocab path and its case setting."""
    loaded = load_checkpoint(config.init_checkpoint)
    vocab = config.vocab or loaded.vocab_path
    if not vocab:
        raise InvalidInputError(f"{config.init_checkpoint} has no vocab.txt; pass --vocab")
    lowercase = config.lowercase if config.lowercase is not None else loaded.tokenizer_lowercase
    if config.max_seq_length > loaded.config.max_position_embeddings:
        raise InvalidInputError(f"max_seq_length {config.max_seq_length} exceeds the checkpoint's "
                                f"max_position_embeddings "
                                f"{loaded.config.max_position_embeddings} ({config.init_checkpoint})")
    return loaded, vocab, lowercase


def _spec(config: FinetuningConfig, lowercase: bool) -> TaskSpec:
    return TaskSpec(**TaskSettings.shared_fields(config), lowercase=lowercase,
                    source_checkpoint=os.path.abspath(config.init_checkpoint))


def build_finetuning(config: FinetuningConfig, overwrite: bool = False) -> FinetuningRun:
    """Strategy, data, compiled task model and callbacks for `config`; every input file is read and checked
    (labels included) before training starts.

    Args:
        config: the run's settings.
        overwrite: replace an earlier run in `config.output_dir`. Without it a non-empty output directory raises
            OutputExistsError before anything is loaded, unless it holds an interrupted run of the same settings,
            which is resumed. With it, that run's outputs are removed once the inputs are checked, before
            anything is written (the rule: `bert_keras.training.finetuning_output`).
    """
    # First, on every worker, before anything is loaded: the chief writes its first file only after building the
    # model under the strategy, which under MultiWorkerMirroredStrategy waits for every worker's variables, so no
    # worker's check sees the chief's new files.
    resume = check_output_dir(config, overwrite)
    strategy = training_strategy(config.strategy, config.tpu, config.cpu_replicas, config.batch_size)
    keras.utils.set_random_seed(config.seed)
    with global_dtype_policy(config.precision), strategy.scope():
        loaded, vocab, lowercase = _load_start(config)
    tokenizer = BertTokenizer(vocab, lowercase=lowercase)
    if tokenizer.vocabulary_size != loaded.config.vocab_size:
        raise InvalidInputError(f"{vocab} has {tokenizer.vocabulary_size} tokens but the checkpoint's vocab_size is "
                                f"{loaded.config.vocab_size}")
    task = task_class(config.task)(_spec(config, lowercase), tokenizer)

    train_data = task.read(config.train_file)
    if config.validation_file:
        validation_data = task.read(config.validation_file)
    else:
        train_data, validation_data = task.split(train_data, config.held_out_fraction, config.seed)
    task.learn_labels(train_data)  # from the whole training split: --max-train-examples does not change them
    if config.max_train_examples:
        train_data = _seeded_subset(task, train_data, config.max_train_examples)
    test_data = task.read(config.test_file) if config.test_file else None
    # Fail on unknown labels in validation / test data now, not after an epoch of training.
    for data in (validation_data, test_data):
        if data is not None:
            task.check_labels(data)
    weights = None
    if config.class_weights:
        weights = make_class_weights(task.targets(train_data), len(task.labels), config.class_weights, task.labels)

    options = data_sharding_options("data") if num_workers(strategy) > 1 else None
    train_examples = task.size(train_data)
    steps_per_epoch = config.steps_per_epoch or math.ceil(train_examples / config.batch_size)
    # The stream of batches is a fixed function of the seed; a resumed run skips what the backup already trained on.
    start_step = resume["global_step"] if resume else 0
    train_dataset = task.dataset(train_data, config.batch_size, training=True, seed=config.seed, options=options,
                                 class_weights=weights, pad_to_multiple_of=config.padding_multiple).repeat()
    if start_step:
        train_dataset = train_dataset.skip(start_step)
    train_steps = steps_per_epoch * config.epochs

    with global_dtype_policy(config.precision), strategy.scope():
        model = task.build_model(loaded.encoder)
        compile_for_training(model, OptimizerConfig(
            name=config.optimizer, learning_rate=config.learning_rate, train_steps=train_steps,
            warmup_steps=int(config.warmup_proportion * train_steps), weight_decay=config.weight_decay,
            global_clipnorm=config.clipnorm), config.precision, config.jit_compile)

    if overwrite and is_chief():
        clear_previous_run(config.output_dir)
    save_run_config(config.output_dir, RUN_CONFIG_FILE, config)
    history = _finished_epochs(config.output_dir, start_step // steps_per_epoch) if resume else []
    evaluation = TaskEvaluation(task, validation_data, config.eval_batch_size, verbose=bool(config.verbose),
                                history_path=os.path.join(config.output_dir, VALIDATION_HISTORY_FILE),
                                history=history)
    best = BestCheckpoint(os.path.join(config.output_dir, BEST_WEIGHTS), VALIDATION_PREFIX + task.main_metric,
                          *best_epoch(history, task.main_metric))
    # Order matters at each epoch end: the validation history and best weights are written before the backup
    # (so a backup never runs ahead of them), and early stopping decides last (the backup callback lets the
    # resumed epoch's shortened end go on, which must not undo a stop).
    callbacks = [evaluation, best, *logging_callbacks(config.output_dir, append_history=bool(resume)),
                 ResumableBackup(os.path.join(config.output_dir, BACKUP_DIR), steps_per_epoch,
                                 save_every_steps=config.backup_every_steps, verbose=bool(config.verbose))]
    if config.early_stopping_patience:
        callbacks.append(HistoryEarlyStopping(evaluation, task.main_metric, config.early_stopping_patience))
    fit_kwargs = dict(epochs=config.epochs, steps_per_epoch=steps_per_epoch, callbacks=callbacks,
                      verbose=config.verbose, shuffle=False)
    return FinetuningRun(config=config, strategy=strategy, task=task, model=model, train_dataset=train_dataset,
                         fit_kwargs=fit_kwargs, validation_data=validation_data, test_data=test_data,
                         evaluation=evaluation, best=best,
                         vocab_path=vocab, train_examples=train_examples)


def _finished_epochs(output_dir: str, epochs: int) -> list[dict[str, Any]]:
    """The validation history of a resumed run's first `epochs` epochs (those its backup includes)."""
    path = os.path.join(output_dir, VALIDATION_HISTORY_FILE)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [entry for entry in json.load(f) if entry["epoch"] <= epochs]


def _seeded_subset(task: Task, data: Any, count: int) -> Any:
    """`count` training examples of `data` (a seeded random subset; all of it when smaller)."""
    if task.size(data) <= count:
        return data
    head, _ = task.split(data, 1.0 - count / task.size(data), seed=0)
    return head

