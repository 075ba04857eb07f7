"""ResumableBackup and EpochCheckpoint: exact-step resume, and no half-written file survives a crash."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_keras.training.callbacks import STATE_FILE, EpochCheckpoint, ResumableBackup, read_backup_state

STEPS_PER_EPOCH = 5
EPOCHS = 3


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4)).astype("float32")
    return tf.data.Dataset.from_tensors((x, x.sum(axis=1, keepdims=True))).repeat()


class _Crash(keras.callbacks.Callback):
    """Raise after a given global step, standing in for a killed process."""

    def __init__(self, after_step):
        super().__init__()
        self.after_step, self.steps = after_step, 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == self.after_step:
            raise KeyboardInterrupt("simulated kill")


class _CountSteps(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1


def test_resume_continues_at_the_step_after_the_last_backup(tmp_path):
    backup_dir = tmp_path / "backup"
    first = _model()
    with pytest.raises(KeyboardInterrupt):
        first.fit(_data(), epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, verbose=0,
                  callbacks=[ResumableBackup(backup_dir, STEPS_PER_EPOCH, save_every_steps=3), _Crash(8)])
    state = read_backup_state(backup_dir)
    assert state == {"file": "backup-000000006.weights.h5", "global_step": 6, "epoch": 1, "step_in_epoch": 1}
    saved = first.get_weights()  # after step 8: two steps past the backup

    second = _model()
    counter = _CountSteps()
    backup = ResumableBackup(backup_dir, STEPS_PER_EPOCH, save_every_steps=3)
    history = second.fit(_data(), epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, verbose=0,
                         callbacks=[backup, counter])
    assert backup.restored_step == 6
    assert counter.steps == EPOCHS * STEPS_PER_EPOCH - 6  # the rest of epoch 2, then epoch 3
    assert len(history.history["loss"]) == 2
    assert int(second.optimizer.iterations) == EPOCHS * STEPS_PER_EPOCH
    assert read_backup_state(backup_dir)["global_step"] == EPOCHS * STEPS_PER_EPOCH
    assert not any(np.array_equal(a, b) for a, b in zip(saved, second.get_weights()))

    # A run whose backup is complete trains no further.
    third = _model()
    counter = _CountSteps()
    third.fit(_data(), epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, verbose=0,
              callbacks=[ResumableBackup(backup_dir, STEPS_PER_EPOCH), counter])
    assert counter.steps == 0
    for a, b in zip(third.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_uninterrupted_and_resumed_runs_take_the_same_number_of_steps_with_the_same_schedule(tmp_path):
    whole = _model()
    whole.fit(_data(), epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, verbose=0,
              callbacks=[ResumableBackup(tmp_path / "a", STEPS_PER_EPOCH, save_every_steps=2)])
    interrupted = _model()
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(_data(), epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, verbose=0,
                        callbacks=[ResumableBackup(tmp_path / "b", STEPS_PER_EPOCH, save_every_steps=2), _Crash(4)])
    resumed = _model()
    resumed.fit(_data(), epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, verbose=0,
                callbacks=[ResumableBackup(tmp_path / "b", STEPS_PER_EPOCH, save_every_steps=2)])
    # Same data every step here, and the optimizer state was restored: the weights match an unbroken run.
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_crash_while_writing_a_backup_keeps_the_previous_one(tmp_path, monkeypatch):
    backup_dir = tmp_path / "backup"
    model = _model()
    backup = ResumableBackup(backup_dir, STEPS_PER_EPOCH, save_every_steps=2)
    original_save = model.save_weights

    def crash_midway(path, *args, **kwargs):
        if "000000004" in os.path.basename(path):
            with open(path, "wb") as f:
                f.write(b"\x89HDF half a file")
            raise KeyboardInterrupt("killed while writing")
        return original_save(path, *args, **kwargs)

    monkeypatch.setattr(model, "save_weights", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        model.fit(_data(), epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, verbose=0, callbacks=[backup])
    assert sorted(os.listdir(backup_dir)) == ["backup-000000002.weights.h5", STATE_FILE]
    assert json.loads((backup_dir / STATE_FILE).read_text())["global_step"] == 2
    restored = _model()
    counter = _CountSteps()
    restored.fit(_data(), epochs=1, steps_per_epoch=STEPS_PER_EPOCH, verbose=0,
                 callbacks=[ResumableBackup(backup_dir, STEPS_PER_EPOCH), counter])
    assert counter.steps == STEPS_PER_EPOCH - 2


def test_epoch_checkpoints_are_complete_and_only_the_last_ones_kept(tmp_path):
    model = _model()
    model.fit(_data(), epochs=4, steps_per_epoch=2, verbose=0, callbacks=[EpochCheckpoint(tmp_path, keep=2)])
    assert sorted(os.listdir(tmp_path)) == ["epoch-0003.weights.h5", "epoch-0004.weights.h5"]
    other = _model()
    other.load_weights(str(tmp_path / "epoch-0004.weights.h5"))
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_new_run_deletes_what_killed_writes_left_behind(tmp_path):
    backup_dir, checkpoint_dir = tmp_path / "backup", tmp_path / "checkpoints"
    leftovers = [backup_dir / ".partial-0badc0de.backup-000000003.weights.h5",
                 checkpoint_dir / ".partial-0badc0de.epoch-0001.weights.h5"]
    for path in leftovers:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"half an h5 file")
    (checkpoint_dir / ".partial-12345678.some_dir").mkdir()
    _model().fit(_data(), epochs=1, steps_per_epoch=2, verbose=0,
                 callbacks=[ResumableBackup(backup_dir, 2), EpochCheckpoint(checkpoint_dir)])
    assert sorted(os.listdir(backup_dir)) == ["backup-000000002.weights.h5", STATE_FILE]
    assert sorted(os.listdir(checkpoint_dir)) == ["epoch-0001.weights.h5"]


def test_bad_settings_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="steps_per_epoch"):
        ResumableBackup(tmp_path, 0)
    with pytest.raises(ValueError, match="save_every_steps"):
        ResumableBackup(tmp_path, 5, save_every_steps=0)
