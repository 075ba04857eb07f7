"""The output directory of a fine-tuning run: when a run may write there, when it resumes, and what `overwrite`
removes first.

A run writes `FINETUNING_OUTPUTS` into its output directory (layout: `bert_keras.training.finetuning`). The rule
is the same for `bert-keras finetune`, scripts/finetune.py and `build_finetuning`:

- A missing or empty output directory is written.
- An interrupted run, one with a backup (`backup/backup_state.json`) and no results yet, is resumed by the same
  settings: weights, optimizer, dropout state, data stream, validation history and best epoch continue where the
  last backup was taken. A rerun with other settings (any but `RESUME_FREE_FIELDS`) is refused naming each
  difference, before anything is written.
- Anything else is refused with OutputExistsError unless `overwrite` is given: a finished run (`model/` or
  `metrics.json`), an unfinished one without a backup (killed before its first epoch ended and no
  `--backup-every-steps` backup was due), and files of something else.
- With `overwrite`, the chief removes the `FINETUNING_OUTPUTS` the directory holds, plus staging left by killed
  writers, before the run writes anything. That happens only after every input has been read and checked, so a
  bad input file leaves the old run intact. Each removal is logged, and other files are kept. This way a new
  run's TensorBoard logs, history and metrics are never mixed with an old run's, and a run that fails halfway
  never leaves the old run's model next to its own config. `overwrite` is refused when an input of the run
  (init checkpoint, data, vocab) lies inside what it would remove.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil

from bert_keras.atomic_io import remove_staging_leftovers
from bert_keras.checkpoints.task_directory import METRICS_FILE, MODEL_DIR
from bert_keras.errors import InvalidInputError, OutputExistsError
from bert_keras.training.callbacks import read_backup_state
from bert_keras.training.finetuning_config import (
    BACKUP_DIR,
    BEST_WEIGHTS,
    RESUME_FREE_FIELDS,
    RUN_CONFIG_FILE,
    VALIDATION_HISTORY_FILE,
    FinetuningConfig,
)
from bert_keras.training.pretraining_config import HISTORY_FILE
from bert_keras.training.run_setup import LOGS_DIR, check_same_run

logger = logging.getLogger(__name__)

RESULTS = (MODEL_DIR, METRICS_FILE)  # written by finish(): their presence means the run finished
FINETUNING_OUTPUTS = (*RESULTS, BEST_WEIGHTS, BACKUP_DIR, VALIDATION_HISTORY_FILE, HISTORY_FILE, LOGS_DIR,
                      RUN_CONFIG_FILE)
INPUT_FIELDS = ("init_checkpoint", "train_file", "validation_file", "test_file", "vocab")
MAX_LISTED_ENTRIES = 6  # entries an error message names before "and N more"


def check_output_dir(config: FinetuningConfig, overwrite: bool) -> dict | None:
    """Refuse `config.output_dir` unless a run may write there (the rule: the module docstring); returns the
    backup state to resume from (`read_backup_state`), or None for a fresh run.

    Raises:
        OutputExistsError: a non-empty directory without `overwrite` that is not a run to resume, or a path that
            is not a directory.
        InvalidInputError: a run to resume made with other settings; with `overwrite`, an input of the run inside
            an output that would be removed.
    """
    path = config.output_dir
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputExistsError(f"output directory {path} exists and is not a directory")
    names = sorted(os.listdir(path)) if os.path.isdir(path) else []
    if overwrite:
        _check_inputs_survive(config, [os.path.join(path, n) for n in FINETUNING_OUTPUTS if n in names])
        return None
    if not names:
        return None
    state = resumable_state(path)
    if state is not None:
        check_same_run(os.path.join(path, RUN_CONFIG_FILE), dataclasses.asdict(config),
                       "rerun with the same settings to resume it, pass --overwrite (overwrite=True) to start over, "
                       "or choose another directory", RESUME_FREE_FIELDS)
        return state
    raise OutputExistsError(f"output directory {path} already holds {_kind_of(names)} ({_listing(path, names)});"
                            " pass --overwrite (overwrite=True) to replace it, or choose another directory")


def resumable_state(output_dir: str) -> dict | None:
    """The backup state (`read_backup_state`) of an interrupted run in `output_dir`, one with a backup and no
    results yet, that the same settings resume; None when there is no such run."""
    if any(os.path.lexists(os.path.join(output_dir, name)) for name in RESULTS):
        return None
    return read_backup_state(os.path.join(output_dir, BACKUP_DIR))


def clear_previous_run(output_dir: str) -> list[str]:
    """Remove the `FINETUNING_OUTPUTS` in `output_dir` and staging left by killed writers; returns their names.

    Call it on the chief only, after every input has been checked and before the run writes anything.
    """
    removed = []
    for name in FINETUNING_OUTPUTS:
        path = os.path.join(output_dir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)
        else:
            continue
        removed.append(name)
    if os.path.isdir(output_dir):
        removed += remove_staging_leftovers(output_dir)
    if removed:
        logger.warning("overwrite: removed the earlier run's %s from %s", ", ".join(removed), output_dir)
    return removed


def _kind_of(names: list[str]) -> str:
    """What a directory listing looks like: a finished run, an unfinished one, or something else."""
    if any(name in RESULTS for name in names):
        return "a finished fine-tuning run"
    if any(name in FINETUNING_OUTPUTS for name in names):
        return ("an unfinished fine-tuning run without a backup to resume from (it stopped before its first "
                "backup)")
    return "files that are not a fine-tuning run"


def _listing(directory: str, names: list[str]) -> str:
    """The first MAX_LISTED_ENTRIES names, directories with a trailing "/", and how many more there are."""
    shown = [name + "/" if os.path.isdir(os.path.join(directory, name)) else name
             for name in names[:MAX_LISTED_ENTRIES]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def _check_inputs_survive(config: FinetuningConfig, removed: list[str]) -> None:
    """Refuse an overwrite that would delete one of the run's own inputs."""
    for field in INPUT_FIELDS:
        value = getattr(config, field)
        if value is None:
            continue
        source = os.path.realpath(value)
        for path in removed:
            target = os.path.realpath(path)
            if source == target or source.startswith(target + os.sep):
                raise InvalidInputError(f"{field} {value} lies inside {path}, which --overwrite would remove "
                                        "with the earlier run: copy it elsewhere or choose another output directory")
