"""Task settings declared once: TaskSpec (task.json) and FinetuningConfig share TaskSettings' fields."""

import argparse
import dataclasses
import json

import pytest

from bert_keras.checkpoints.task_spec import TaskSettings, TaskSpec, default_window_settings
from bert_keras.errors import InputFileError, InvalidInputError
from bert_keras.training.finetuning_config import FinetuningConfig, add_finetuning_arguments


def _names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_both_configs_have_every_shared_field_with_one_default():
    shared = _names(TaskSettings)
    assert shared <= _names(TaskSpec) and shared <= _names(FinetuningConfig)
    for cls in (TaskSpec, FinetuningConfig):
        for field in dataclasses.fields(cls):
            if field.name in shared:
                # inherited, not redeclared with its own default
                assert field in dataclasses.fields(TaskSettings), (cls.__name__, field.name)


def test_every_shared_field_is_a_finetune_flag():
    parser = argparse.ArgumentParser()
    add_finetuning_arguments(parser)
    destinations = {action.dest for action in parser._actions}
    assert _names(TaskSettings) <= destinations


def test_qa_windows_default_to_what_fits_the_sequence():
    # run_squad: 64 question pieces at most, about half of the sequence; stride 128 at most one window.
    assert default_window_settings(384) == (64, 128)
    assert default_window_settings(64) == (32, 29)  # 64 - 32 - 3 = 29
    assert TaskSpec("qa", max_seq_length=64).doc_stride == 29
    with pytest.raises(InvalidInputError, match="leaves no room for the context"):
        TaskSpec("qa", max_seq_length=64, max_query_length=61)


def test_task_json_round_trip_and_refusals(tmp_path):
    spec = TaskSpec("classify", max_seq_length=32, multi_label=True, lowercase=False, source_checkpoint="ckpt")
    spec.save(str(tmp_path))
    assert TaskSpec.load(str(tmp_path)) == spec
    data = json.loads((tmp_path / "task.json").read_text())
    (tmp_path / "task.json").write_text(json.dumps({**data, "colour": "red"}))
    with pytest.raises(InputFileError, match=r"task.json: unknown fields \['colour'\]"):
        TaskSpec.load(str(tmp_path))
    with pytest.raises(InvalidInputError, match="task 'summarize' is unknown"):
        TaskSpec("summarize")
    with pytest.raises(InvalidInputError, match="pooling is a setting of the classify task, not of 'ner'"):
        TaskSpec("ner", pooling="mean")


@pytest.mark.parametrize("field, value, message", [
    ("max_seq_length", 1, r"task.json: max_seq_length must be >= 3, got 1"),
    ("task", "summarize", r"task.json: task 'summarize' is unknown"),
    ("max_seq_length", "128", r"task.json: field 'max_seq_length' holds str '128', expected int"),
    ("pooling", "max", r"task.json: pooling 'max' is unknown; expected one of \('cls', 'mean'\)"),
])
def test_a_bad_value_in_task_json_names_the_file_and_field(tmp_path, field, value, message):
    """task.json is JSON: no line to name, but the file and the field."""
    TaskSpec("classify").save(str(tmp_path))
    data = json.loads((tmp_path / "task.json").read_text())
    (tmp_path / "task.json").write_text(json.dumps({**data, field: value}))
    with pytest.raises(InputFileError, match=message):
        TaskSpec.load(str(tmp_path))
