"""The pretraining-pays stages skip what a work dir already holds, but only when it was done with the settings
asked for now: a stage done with others (an older benchmark's constants) is refused, not reported as current."""

import json

import pytest

from bert_keras.benchmarks.pretraining_pays import FINETUNE, PRETRAIN, finetune_stage, pretrain_stage
from bert_keras.errors import InvalidInputError

STALE = r"other settings \(train_steps=3000 there, 6000 now\); pass another --work-dir"


def test_a_pretraining_done_with_other_settings_is_refused(tmp_path):
    (tmp_path / "pretrain" / "encoder").mkdir(parents=True)
    (tmp_path / "pretrain" / "pretraining_config.json").write_text(json.dumps({**PRETRAIN, "train_steps": 3000}))
    (tmp_path / "pretrain" / "elapsed.json").write_text(json.dumps({"seconds": 1.0}))
    with pytest.raises(InvalidInputError, match=STALE):
        pretrain_stage(str(tmp_path), "unused-shards", "unused-vocab", {**PRETRAIN, "train_steps": 6000})
    # The same settings (whatever the verbosity) find the stage done.
    done = {**PRETRAIN, "train_steps": 3000, "verbose": 0}
    encoder, seconds = pretrain_stage(str(tmp_path), "unused-shards", "unused-vocab", done)
    assert encoder == str(tmp_path / "pretrain" / "encoder") and seconds == 1.0


def test_a_finetune_done_with_other_settings_is_refused(tmp_path):
    settings = {**FINETUNE["msra"], "seed": 0}
    (tmp_path / "finetuning_config.json").write_text(json.dumps({**settings, "epochs": 3, "train_file": "x"}))
    (tmp_path / "metrics.json").write_text(json.dumps({"test": {"f1": 0.5}}))
    with pytest.raises(InvalidInputError, match=r"finetuning_config\.json: .*\(epochs=3 there, 1 now\)"):
        finetune_stage(str(tmp_path), "unused-checkpoint", {}, settings)
    assert finetune_stage(str(tmp_path), "unused-checkpoint", {}, {**settings, "epochs": 3}) == {"test": {"f1": 0.5}}
