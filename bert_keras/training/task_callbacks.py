"""Callbacks for fine-tuning: task metrics on validation data each epoch, and keeping the best weights."""

from __future__ import annotations

import math
import os
import time
from typing import Any

import keras

from bert_keras.atomic_io import atomic_file, remove_staging_leftovers
from bert_keras.checkpoints.task_directory import save_model_weights
from bert_keras.training.strategy import is_chief

VALIDATION_PREFIX = "val_"


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric top-level entries of a metrics dict (per-class tables left out)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class TaskEvaluation(keras.callbacks.Callback):
    """After each epoch, compute the task's own metrics (e.g. entity F1, SQuAD F1) on validation data and add
    them to the epoch logs as `val_<name>`, so EarlyStopping, BestCheckpoint and CSVLogger see them.

    List it before the callbacks that read its values. `history` keeps every epoch's full metrics.

    Args:
        task: a `bert_keras.tasks` Task.
        data: its validation data (as `task.read` returns it).
        batch_size: prediction batch size.
        verbose: print a line of the main figures each epoch.
    """

    def __init__(self, task, data, batch_size: int = 64, verbose: bool = True):
        super().__init__()
        self.task, self.data, self.batch_size, self.verbose = task, data, batch_size, verbose
        self.history: list[dict[str, Any]] = []

    def on_epoch_end(self, epoch, logs=None):
        started = time.perf_counter()
        metrics = self.task.evaluate(self.model, self.data, self.batch_size)
        values = {k: v for k, v in metrics.items() if isinstance(v, float)}  # rates, not counts (ints)
        if logs is not None:
            logs.update({VALIDATION_PREFIX + k: v for k, v in values.items()})
        self.history.append({"epoch": epoch + 1, **metrics})
        if self.verbose:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in values.items() if k in _SHOWN)
            print(f"epoch {epoch + 1} validation: {shown} ({time.perf_counter() - started:.1f} s)", flush=True)


_SHOWN = ("accuracy", "macro_f1", "micro_f1", "subset_accuracy", "precision", "recall", "f1", "exact_match")


class BestCheckpoint(keras.callbacks.Callback):
    """Save the weights whenever `monitor` (a log value, higher is better) improves, write-then-rename.

    Only the chief writes under MultiWorkerMirroredStrategy. `best_epoch` and `best_value` say which epoch won.

    Args:
        path: the .weights.h5 file.
        monitor: the log key to maximise (e.g. "val_accuracy").
    """

    def __init__(self, path: str, monitor: str):
        super().__init__()
        self.path, self.monitor = os.fspath(path), monitor
        self.best_value, self.best_epoch = -math.inf, None

    def on_train_begin(self, logs=None):
        if is_chief():
            remove_staging_leftovers(os.path.dirname(os.path.abspath(self.path)))

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise KeyError(f"BestCheckpoint: {self.monitor!r} is not in the epoch logs {sorted(logs or {})}; "
                           "list the callback that computes it (TaskEvaluation) first")
        if value <= self.best_value:
            return
        self.best_value, self.best_epoch = float(value), epoch + 1
        if is_chief():
            with atomic_file(self.path) as staging:
                save_model_weights(self.model, staging)  # the weights to restore, not the optimizer's slots
