"""Callbacks for model.fit: crash-safe backups that resume mid-epoch, and per-epoch weight checkpoints.

Keras' own BackupAndRestore and ModelCheckpoint write in place (a kill during the write leaves a corrupt file)
and BackupAndRestore resumes at the start of the interrupted epoch; these write then rename, and resume at the
exact step of the last backup.
"""

from __future__ import annotations

import glob
import json
import os
import re

import h5py
import keras

from bert_keras.atomic_io import atomic_file, remove_staging_leftovers, write_text
from bert_keras.checkpoints.task_directory import save_model_weights
from bert_keras.errors import InvalidInputError
from bert_keras.json_files import read_json
from bert_keras.training.strategy import is_chief

STATE_FILE = "backup_state.json"
_BACKUP_NAME = "backup-{step:09d}.weights.h5"
_BACKUP_RE = re.compile(r"backup-(\d{9})\.weights\.h5$")
# Keras' weight files leave out the state of the layers' random streams (dropout's seed generators); a backup
# carries them in this group of its HDF5 file, so a resumed run draws the dropout masks an uninterrupted one would.
_SEED_GROUP = "bert_keras_seed_generators"


def _seed_states(model: keras.Model) -> list[keras.Variable]:
    """The state of every `keras.random.SeedGenerator` in `model`, in the model's variable order (their paths carry
    a process-wide counter, so they differ between two builds of one model; the order does not)."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


def _save_seed_states(model: keras.Model, path: str) -> None:
    with h5py.File(path, "a") as f:
        group = f.create_group(_SEED_GROUP)
        for index, state in enumerate(_seed_states(model)):
            group.create_dataset(str(index), data=keras.ops.convert_to_numpy(state.value))


def _restore_seed_states(model: keras.Model, path: str) -> None:
    """Restore the seed generators a backup carries (backups written before they did: left as they are)."""
    with h5py.File(path, "r") as f:
        if _SEED_GROUP not in f:
            return
        group, states = f[_SEED_GROUP], _seed_states(model)
        if len(group) != len(states):
            raise InvalidInputError(f"{path}: holds {len(group)} dropout seed states, the model has {len(states)}; "
                                    "it is a backup of another model")
        for index, state in enumerate(states):
            state.assign(group[str(index)][()])


def read_backup_state(backup_dir: str | os.PathLike) -> dict | None:
    """The last complete backup's state (`file`, `global_step`, `epoch`, `step_in_epoch`), or None."""
    path = os.path.join(os.fspath(backup_dir), STATE_FILE)
    if not os.path.exists(path):
        return None
    return read_json(path)


class ResumableBackup(keras.callbacks.Callback):
    """Back up weights and optimizer state every `save_every_steps` steps and at each epoch end; resume from them.

    List it after the callbacks whose epoch-end work a backup must include (the epoch-end backup is taken in its
    own on_epoch_end, also when `save_every_steps` divides that step).

    Each backup is written to a temporary file and renamed, then `backup_state.json` is replaced the same way,
    so a run killed at any moment (SIGKILL included) leaves the previous backup intact. When `fit` starts and a
    backup exists, the weights, the optimizer state (step counter, moments, loss scale) and the dropout seed
    generators are restored and training continues at the step after the backup: the interrupted epoch is
    shortened to its remaining steps, so the run ends after the same number of steps as an uninterrupted one.
    The data is the caller's: give fit a stream that begins at the backup's step (`read_backup_state`;
    `build_pretraining` and `build_finetuning` do), or the resumed run replays the batches it started with.

    Under MultiWorkerMirroredStrategy only the chief writes; every worker restores from `backup_dir`, which must
    therefore be on storage all workers share.

    Args:
        backup_dir: directory of the backups (for this run only).
        steps_per_epoch: the `steps_per_epoch` given to fit.
        save_every_steps: steps between backups within an epoch (None: only at epoch ends).
        keep: complete backups to keep (older ones are deleted after a newer one is in place).
        verbose: print a line when training resumes from a backup.
    """

    def __init__(self, backup_dir: str | os.PathLike, steps_per_epoch: int, save_every_steps: int | None = None,
                 keep: int = 2, verbose: bool = False):
        super().__init__()
        if steps_per_epoch < 1:
            raise InvalidInputError(f"steps_per_epoch must be >= 1, got {steps_per_epoch!r}")
        if save_every_steps is not None and save_every_steps < 1:
            raise InvalidInputError(f"save_every_steps must be >= 1 or None, got {save_every_steps!r}")
        if keep < 1:
            raise InvalidInputError(f"keep must be >= 1, got {keep!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.steps_per_epoch, self.save_every_steps, self.keep = steps_per_epoch, save_every_steps, keep
        self.verbose = verbose
        self.restored_step = 0
        self._epoch_offset = 0  # steps already done in the epoch being resumed
        self._epoch = 0
        self._stopped_resumed_epoch = False

    def on_train_begin(self, logs=None):
        if is_chief():  # staging files of a write that a kill interrupted: never renamed, never read
            remove_staging_leftovers(self.backup_dir)
        state = read_backup_state(self.backup_dir)
        if state is None:
            return
        path = os.path.join(self.backup_dir, state["file"])
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: named by {STATE_FILE} but missing; the backup directory was "
                                    "modified by hand")
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(path)
        _restore_seed_states(self.model, path)
        self.restored_step = state["global_step"]
        epoch, offset = divmod(self.restored_step, self.steps_per_epoch)
        self.model._initial_epoch = epoch  # as keras.callbacks.BackupAndRestore resumes
        self._epoch_offset = offset
        if self.verbose:
            print(f"Resuming from {path}: step {self.restored_step} (epoch {epoch + 1}, step {offset} of "
                  f"{self.steps_per_epoch})", flush=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _global_step(self, batch: int) -> int:
        return self._epoch * self.steps_per_epoch + self._epoch_offset + batch + 1

    def on_train_batch_end(self, batch, logs=None):
        step = self._global_step(batch)
        # A step that ends an epoch is backed up in on_epoch_end instead, after the epoch-end callbacks listed
        # before this one (validation, best weights) have run: a backup at that step must include their work.
        if self.save_every_steps and step % self.save_every_steps == 0 and step % self.steps_per_epoch:
            self._save(step)
        if self._epoch_offset and self._epoch_offset + batch + 1 >= self.steps_per_epoch:
            # End the resumed epoch after its remaining steps; on_epoch_end lets training go on.
            self.model.stop_training = True
            self._stopped_resumed_epoch = True

    def on_epoch_end(self, epoch, logs=None):
        if self._stopped_resumed_epoch:
            self.model.stop_training = False
            self._stopped_resumed_epoch = False
        self._epoch_offset = 0
        self._save((epoch + 1) * self.steps_per_epoch)

    def _save(self, step: int) -> None:
        if not is_chief():
            return
        name = _BACKUP_NAME.format(step=step)
        with atomic_file(os.path.join(self.backup_dir, name)) as staging:
            self.model.save_weights(staging)
            _save_seed_states(self.model, staging)
        epoch, offset = divmod(step, self.steps_per_epoch)
        write_text(os.path.join(self.backup_dir, STATE_FILE),
                   json.dumps({"file": name, "global_step": step, "epoch": epoch, "step_in_epoch": offset}))
        backups = sorted(p for p in glob.glob(os.path.join(self.backup_dir, "backup-*.weights.h5"))
                         if _BACKUP_RE.search(p))
        for old in backups[:-self.keep]:
            os.remove(old)


class EpochCheckpoint(keras.callbacks.Callback):
    """Save the model's weights after every epoch as `epoch-NNNN.weights.h5` (write then rename), keeping the
    last `keep`; the counterpart of keras.callbacks.ModelCheckpoint(save_weights_only=True) that a kill cannot
    corrupt. Only the chief writes under MultiWorkerMirroredStrategy."""

    def __init__(self, directory: str | os.PathLike, keep: int = 3):
        super().__init__()
        self.directory, self.keep = os.fspath(directory), keep

    def on_train_begin(self, logs=None):
        if is_chief():
            remove_staging_leftovers(self.directory)

    def on_epoch_end(self, epoch, logs=None):
        if not is_chief():
            return
        with atomic_file(os.path.join(self.directory, f"epoch-{epoch + 1:04d}.weights.h5")) as staging:
            save_model_weights(self.model, staging)  # weights only: resuming reads the backups
        for old in sorted(glob.glob(os.path.join(self.directory, "epoch-*.weights.h5")))[:-self.keep]:
            os.remove(old)
