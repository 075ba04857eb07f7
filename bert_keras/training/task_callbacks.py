"""Callbacks for fine-tuning: task metrics on validation data each epoch, keeping the best weights, and early
stopping; each can continue a resumed run from the validation history of its finished epochs."""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

import keras

from bert_keras.atomic_io import atomic_file, remove_staging_leftovers, write_text
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
        history_path: a JSON file rewritten (atomically, chief only) with `history` after each epoch.
        history: the finished epochs of a run being resumed.
    """

    def __init__(self, task, data, batch_size: int = 64, verbose: bool = True, history_path: str | None = None,
                 history: list[dict[str, Any]] | None = None):
        super().__init__()
        self.task, self.data, self.batch_size, self.verbose = task, data, batch_size, verbose
        self.history_path = history_path
        self.history: list[dict[str, Any]] = list(history or [])

    def on_epoch_end(self, epoch, logs=None):
        started = time.perf_counter()
        metrics = self.task.evaluate(self.model, self.data, self.batch_size)
        values = {k: v for k, v in metrics.items() if isinstance(v, float)}  # rates, not counts (ints)
        if logs is not None:
            logs.update({VALIDATION_PREFIX + k: v for k, v in values.items()})
        self.history.append({"epoch": epoch + 1, **metrics})
        if self.history_path and is_chief():
            write_text(self.history_path, json.dumps(self.history, indent=2) + "\n")
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
        best_epoch: in a resumed run, the epoch (1-based) whose weights `path` already holds.
        best_value: that epoch's value of `monitor`.
    """

    def __init__(self, path: str, monitor: str, best_epoch: int | None = None, best_value: float = -math.inf):
        super().__init__()
        self.path, self.monitor = os.fspath(path), monitor
        self.best_value, self.best_epoch = best_value, best_epoch

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


def best_epoch(history: list[dict[str, Any]], metric: str) -> tuple[int | None, float]:
    """(epoch, value) of the first epoch with the highest `metric` in a TaskEvaluation history: the epoch
    BestCheckpoint and HistoryEarlyStopping count as best (an equal later value is no improvement)."""
    best, value = None, -math.inf
    for entry in history:
        if entry[metric] > value:
            best, value = entry["epoch"], float(entry[metric])
    return best, value


class HistoryEarlyStopping(keras.callbacks.Callback):
    """Stop after `patience` epochs without a better validation `metric`, as keras.callbacks.EarlyStopping
    (mode "max", no min_delta) decides, but read from `evaluation.history`: a resumed run keeps counting from its
    finished epochs, where Keras' callback would start its count afresh.

    Args:
        evaluation: the run's TaskEvaluation (listed before this callback).
        metric: the task's main metric, a key of each history entry.
        patience: epochs without improvement before stopping.
    """

    def __init__(self, evaluation: TaskEvaluation, metric: str, patience: int):
        super().__init__()
        self.evaluation, self.metric, self.patience = evaluation, metric, patience
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        best, _ = best_epoch(self.evaluation.history, self.metric)
        if best is not None and epoch + 1 - best >= self.patience:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True
