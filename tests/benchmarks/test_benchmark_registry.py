"""The registry is what `bert-keras benchmark` offers; a run without the dev-side dependencies fails on one line."""

import inspect
import os
import subprocess
import sys

from bert_keras import cli
from bert_keras.benchmarks import registry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _benchmark_parser():
    subparsers = next(a for a in cli.build_parser()._actions if a.dest == "command")
    return subparsers.choices["benchmark"]


def test_the_registry_lists_every_benchmark_the_cli_documents():
    parser = _benchmark_parser()
    names = next(a for a in parser._actions if a.dest == "name").choices
    assert list(names) == list(registry.BENCHMARKS)
    for name in registry.BENCHMARKS:  # the description names each one
        assert name in parser.description, name


def test_the_cli_offers_the_registry_path_options():
    options = {a.dest for a in _benchmark_parser()._actions if a.option_strings}
    assert set(registry.PATH_OPTIONS) <= options


def test_every_benchmark_takes_its_quick_arguments_and_some_path_option_or_none():
    for name, benchmark in registry.BENCHMARKS.items():
        parameters = inspect.signature(benchmark.function).parameters
        assert set(benchmark.quick_args) <= set(parameters), name
        assert benchmark.function.__doc__, name


# Runs `bert-keras benchmark` as if torch and transformers were not installed: their imports find nothing.
WITHOUT_DEV_DEPENDENCIES = """
import sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("torch", "transformers"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
from bert_keras.cli import main
sys.exit(main(["benchmark", "tokenize", "--quick"]))
"""


def test_a_run_without_torch_fails_on_one_line_naming_the_requirements():
    code = WITHOUT_DEV_DEPENDENCIES
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("bert-keras benchmark: error:")]
    assert len(errors) == 1 and "pip install -r requirements-dev.txt" in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
