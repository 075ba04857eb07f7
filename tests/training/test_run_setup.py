"""check_same_run: a rerun into a directory is compared with the settings saved there, field by field."""

import json

import pytest

from bert_keras.errors import InvalidInputError
from bert_keras.training.run_setup import check_same_run


def test_every_differing_setting_is_named_with_both_values(tmp_path):
    path = tmp_path / "run_config.json"
    path.write_text(json.dumps({"train_steps": 3000, "learning_rate": 0.001, "seed": 0}))
    with pytest.raises(InvalidInputError, match=r"run_config\.json: this directory holds a run with other settings "
                                                r"\(train_steps=3000 there, 6000 now; learning_rate=0\.001 there, "
                                                r"0\.0005 now\); start afresh$"):
        check_same_run(str(path), {"train_steps": 6000, "learning_rate": 5e-4, "seed": 0}, "start afresh")


def test_equal_settings_missing_file_and_keys_the_run_did_not_record_pass(tmp_path):
    path = tmp_path / "run_config.json"
    check_same_run(str(path), {"train_steps": 1}, "unused")  # nothing there yet
    path.write_text(json.dumps({"inputs": ["a.txt", "b.txt"], "clipnorm": None}))
    # A tuple is saved as a list; a setting added after that run was saved is not compared.
    check_same_run(str(path), {"inputs": ("a.txt", "b.txt"), "clipnorm": None, "locality_scaffold_steps": 0}, "x")
