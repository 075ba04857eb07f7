"""The TF Serving op check, and the versioned atomic layout TF Serving polls: no numeric directory before an
export is complete, even when the exporting process dies mid-write."""

import os
import subprocess
import sys

import keras
import pytest
import tensorflow as tf
import tensorflow_text as tf_text
from tiny_models import tiny_task_dir

from bert_keras.errors import InputFileError, InvalidInputError, OutputExistsError
from bert_keras.export import UnsupportedOpsError, check_saved_model_ops, export_saved_model, model_versions
from bert_keras.export.op_check import serving_op_set


def test_op_sets_hold_what_tf_serving_2_12_has_and_lacks():
    ops = serving_op_set()
    assert {"MatMul", "StatefulPartitionedCall", "RegexSplitWithOffsets", "FastWordpieceTokenizeWithOffsets",
            "FastBertNormalize", "NormalizeUTF8"} <= ops
    # tf-text 2.12.1 lacks the trimmer ops (tensorflow/serving#2267); TF Serving has no Python.
    assert not {"TFText>RoundRobinTrim", "TFText>RoundRobinGenerateMasks", "EagerPyFunc", "PyFunc"} & ops


def _trim(ids):
    """keras-hub's packer path: tf-text's RoundRobinTrimmer, which TF Serving 2.12-2.19 cannot run."""
    ragged = tf.RaggedTensor.from_tensor(ids)
    return tf_text.RoundRobinTrimmer(max_seq_length=4).trim([ragged, ragged])[0].to_tensor()


def _write(function, spec, path):
    archive = keras.export.ExportArchive()
    archive.add_endpoint("serve", function, input_signature=[spec])
    archive.write_out(path, verbose=False)
    return path


def test_op_check_lists_the_ops_tf_serving_lacks(tmp_path):
    trimmer = _write(_trim, tf.TensorSpec([None, None], tf.int32), str(tmp_path / "trimmer"))
    with pytest.raises(UnsupportedOpsError) as caught:
        check_saved_model_ops(trimmer)
    assert "TFText>RoundRobinTrim" in caught.value.ops and "TFText>RoundRobinTrim" in str(caught.value)
    assert isinstance(caught.value, InvalidInputError)  # a user error: the CLI prints it as one line
    python = _write(lambda x: tf.py_function(lambda v: v * 2, [x], tf.float32),
                    tf.TensorSpec([None], tf.float32), str(tmp_path / "python"))
    with pytest.raises(UnsupportedOpsError, match="EagerPyFunc"):
        check_saved_model_ops(python)


@pytest.fixture(scope="module")
def source(tmp_path_factory, minilm_vocab):
    from bert_keras.export import load_export_source

    model_dir = tiny_task_dir(str(tmp_path_factory.mktemp("models")), minilm_vocab, "classify")
    return load_export_source(model_dir)


def test_versions_count_up_and_existing_versions_are_never_replaced(source, tmp_path):
    base = str(tmp_path)
    assert export_saved_model(source, base, "reviews").version == 1
    assert export_saved_model(source, base, "reviews").version == 2
    assert export_saved_model(source, base, "reviews", version=7).version == 7
    assert model_versions(os.path.join(base, "reviews")) == [1, 2, 7]
    with pytest.raises(OutputExistsError, match="7 already exists"):
        export_saved_model(source, base, "reviews", version=7)
    with pytest.raises(InvalidInputError, match="model name"):
        export_saved_model(source, base, "a/b")


def test_a_failed_export_leaves_no_numeric_directory(source, tmp_path, monkeypatch):
    import bert_keras.export.saved_model as saved_model

    def refuse(path):
        raise UnsupportedOpsError(path, {"TFText>RoundRobinTrim": ["graph"]})

    monkeypatch.setattr(saved_model, "check_saved_model_ops", refuse)
    with pytest.raises(UnsupportedOpsError):
        export_saved_model(source, str(tmp_path), "reviews")
    assert os.listdir(tmp_path / "reviews") == []  # the staging directory was removed too


CRASHING_EXPORT = r'''
import os, sys
sys.path[:0] = [sys.argv[3], os.path.dirname(sys.argv[3])]
import conftest  # noqa: F401  (quiet TF, Keras on TensorFlow)
import bert_keras.export.saved_model as saved_model

def die(path, methods):  # the process is killed after TensorFlow wrote the SavedModel, before the rename
    os._exit(17)

saved_model._set_signature_methods = die
saved_model.export_saved_model(sys.argv[1], sys.argv[2], "reviews")
'''


def test_a_process_killed_mid_export_leaves_no_numeric_directory(source, tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run([sys.executable, "-c", CRASHING_EXPORT, source.directory, str(tmp_path), here],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 17, done.stderr[-3000:]
    left = os.listdir(tmp_path / "reviews")
    assert all(name.startswith(".partial-") for name in left)  # hidden and non-numeric: TF Serving ignores them
    staged = [name for name in left if os.path.isdir(tmp_path / "reviews" / name)]
    assert len(staged) == 1 and os.path.isfile(tmp_path / "reviews" / staged[0] / "saved_model.pb")  # died mid-export
    assert model_versions(str(tmp_path / "reviews")) == []
    assert export_saved_model(source, str(tmp_path), "reviews").version == 1
    assert os.listdir(tmp_path / "reviews") == ["1"]  # the next export removed what the killed one left


def test_cli_export_writes_the_next_version_and_refuses_a_wrong_task(source, tmp_path, capsys):
    from bert_keras.cli import main

    assert main(["export", "--model", source.directory, "--output", str(tmp_path), "--name", "m"]) == 0
    assert main(["export", "--model", source.directory, "--output", str(tmp_path), "--name", "m"]) == 0
    out = capsys.readouterr().out
    assert os.path.join(str(tmp_path), "m", "1") in out and os.path.join(str(tmp_path), "m", "2") in out
    assert main(["export", "--model", source.directory, "--task", "ner", "--output", str(tmp_path)]) == 2
    assert "fine-tuned 'classify' model" in capsys.readouterr().err


def test_the_model_card_carries_the_run_metrics_and_a_broken_file_is_named(source, tmp_path):
    from bert_keras.export import load_export_source

    metrics = os.path.join(os.path.dirname(source.directory), "metrics.json")
    with open(metrics, "w") as f:
        f.write('{"test": {"accuracy": 0.5}}')
    try:
        card = export_saved_model(load_export_source(source.directory), str(tmp_path), "m").card
        assert card["metrics"] == {"test": {"accuracy": 0.5}}
        with open(metrics, "w") as f:
            f.write('{"test": ')
        with pytest.raises(InputFileError, match=r"metrics.json:1:\d+: not valid JSON"):
            load_export_source(source.directory)
    finally:
        os.remove(metrics)
