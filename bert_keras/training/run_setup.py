"""The set-up steps every training run shares (pretraining and fine-tuning): strategy, optimizer and compile, the
saved run config and the chief's logging callbacks (the dtype policy: `bert_keras.precision.global_dtype_policy`)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Collection
from typing import Any

import keras

from bert_keras.errors import InvalidInputError
from bert_keras.training.optimizer import OptimizerConfig, create_optimizer
from bert_keras.training.pretraining_config import HISTORY_FILE
from bert_keras.training.strategy import build_strategy, is_chief, split_cpu

LOGS_DIR = "logs"  # TensorBoard's, under a run's output directory


def training_strategy(name: str, tpu: str | None, cpu_replicas: int | None, batch_size: int):
    """The tf.distribute strategy of a run; `batch_size` (the global batch) must split evenly over its replicas.

    Call it first: logical CPU devices and multi-worker collectives must be set up before TensorFlow makes its
    first tensor.
    """
    devices = split_cpu(cpu_replicas) if cpu_replicas else None
    strategy = build_strategy(name, tpu=tpu, devices=devices)
    if batch_size % strategy.num_replicas_in_sync:
        raise InvalidInputError(f"batch_size {batch_size} is the global batch: it must be a multiple of the "
                                f"{strategy.num_replicas_in_sync} replicas of strategy {name!r}")
    return strategy


def compile_for_training(model: keras.Model, optimizer_config: OptimizerConfig, precision: str,
                         jit_compile: bool) -> None:
    """Compile `model` with BERT's optimizer (loss scaling for float16) and its default loss and metrics."""
    optimizer = create_optimizer(optimizer_config)
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, jit_compile=jit_compile)


def save_run_config(output_dir: str, filename: str, config: Any) -> None:
    """Create `output_dir` and (chief only) write the run's dataclass config there as JSON."""
    os.makedirs(output_dir, exist_ok=True)
    if is_chief():
        with open(os.path.join(output_dir, filename), "w", encoding="utf-8") as f:
            json.dump(dataclasses.asdict(config), f, indent=2)


def check_same_run(path: str, requested: dict[str, Any], remedy: str, ignore: Collection[str] = ()) -> None:
    """Raise if the run config saved at `path` (a JSON object) differs from `requested` on any of its keys but
    those in `ignore` (settings a rerun may change).

    A rerun into the same directory resumes or skips what is there; with other settings it would silently mix two
    runs (a backup resumed on another schedule, a finished stage reported for settings it never ran with).
    `remedy` ends the message: what the user can do instead. A key the saved config lacks (a setting added after
    that run was made) is not compared.
    """
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        stored = json.load(f)
    # Compared as JSON stores them (a tuple comes back a list).
    differing = [f"{name}={stored[name]!r} there, {value!r} now" for name, value in requested.items()
                 if name not in ignore and name in stored and stored[name] != json.loads(json.dumps(value))]
    if differing:
        raise InvalidInputError(f"{path}: this directory holds a run with other settings ({'; '.join(differing)}); "
                                f"{remedy}")


def logging_callbacks(output_dir: str, append_history: bool = False) -> list[keras.callbacks.Callback]:
    """TensorBoard logs and a per-epoch `history.csv` (chief only; other workers log nothing)."""
    if not is_chief():
        return []
    return [keras.callbacks.TensorBoard(os.path.join(output_dir, LOGS_DIR)),
            keras.callbacks.CSVLogger(os.path.join(output_dir, HISTORY_FILE), append=append_history)]
