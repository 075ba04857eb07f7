"""The error family and the CLI's policy: a user's error is one line with status 2, a bug keeps its traceback."""

import pytest

from bert_keras import cli, errors
from bert_keras.errors import BertKerasError


def test_every_error_class_is_a_bert_keras_error_and_its_builtin():
    builtins = {errors.InvalidInputError: ValueError, errors.InputFileError: ValueError,
                errors.UnknownLabelError: ValueError, errors.CheckpointMismatchError: ValueError,
                errors.CheckpointNotFoundError: FileNotFoundError, errors.OutputExistsError: FileExistsError,
                errors.MissingDependencyError: ImportError}
    for cls, builtin in builtins.items():
        assert issubclass(cls, BertKerasError) and issubclass(cls, builtin), cls
    assert issubclass(cli.CommandError, BertKerasError)


def test_checkpoint_mismatch_lists_every_problem():
    error = errors.CheckpointMismatchError("ckpt", missing=["b", "a"], unexpected=["x"],
                                           mismatched=[("w", (2, 3), (3, 2))])
    assert str(error) == ("ckpt: checkpoint does not match the BERT encoder\n  missing (2): a, b\n"
                          "  unexpected (1): x\n  wrong shape: w is (3, 2), expected (2, 3)")


def _run_raising(monkeypatch, error: BaseException):
    def run(args):
        raise error
    monkeypatch.setattr(cli, "_run_datasets", run)
    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_run(parser(), run))
    return cli.main(["datasets", "reviews", "--output-dir", "unused"])


def _with_run(parser, run):
    parser.set_defaults(run=run)
    for action in parser._subparsers._group_actions:
        for sub in action.choices.values():
            sub.set_defaults(run=run)
    return parser


@pytest.mark.parametrize("error", [errors.InvalidInputError("max_seq_length must be >= 3, got 2"),
                                   errors.InputFileError("data.csv:4: expected 2 columns\nsecond line"),
                                   FileNotFoundError("no such file: data.csv")])
def test_user_errors_are_one_line_with_status_2(monkeypatch, capsys, error):
    assert _run_raising(monkeypatch, error) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bert-keras datasets: error: ")


@pytest.mark.parametrize("error", [ValueError("an internal invariant broke"), KeyError("token_ids"),
                                   ImportError("cannot import name 'x'")])
def test_other_exceptions_are_bugs_and_keep_their_traceback(monkeypatch, error):
    with pytest.raises(type(error)):
        _run_raising(monkeypatch, error)
