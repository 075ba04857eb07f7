"""Every benchmark by name: its function and its --quick sizes, and how `bert-keras benchmark` and
scripts/benchmark.py run one (print the table, write the JSON).

Importing this module imports every benchmark module, hence the dev-side dependencies (torch, transformers);
without them it raises `MissingDependencyError` naming `pip install -r requirements-dev.txt`.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from typing import Any, Callable, Mapping

from bert_keras.benchmarks.report import print_table, write_figures
from bert_keras.errors import InvalidInputError, MissingDependencyError

# The dev-side packages benchmarks may import (requirements-dev.txt; pyproject.toml's `bench` extra).
DEV_DEPENDENCIES = ("torch", "transformers", "onnxruntime", "openvino")

try:
    from bert_keras.benchmarks import (
        export,
        finetune,
        infer,
        pretrain,
        pretraining_pays,
        pretraining_pays_english,
        profile,
        serve,
        tflite,
        tokenize,
        train,
    )
except ModuleNotFoundError as error:
    if (error.name or "").partition(".")[0] not in DEV_DEPENDENCIES:
        raise
    raise MissingDependencyError(f"the benchmarks need {error.name}, a dev-side dependency that is not installed: "
                                 "pip install -r requirements-dev.txt") from error


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """A benchmark: a function (keyword arguments in, a dict of figures out) and its --quick keyword arguments."""

    function: Callable[..., dict]
    quick_args: Mapping[str, Any]

    def accepts(self, keyword: str) -> bool:
        """Whether the function takes `keyword` (how a path option is refused by a benchmark without it)."""
        return keyword in inspect.signature(self.function).parameters


BENCHMARKS: dict[str, Benchmark] = {
    "tokenize": Benchmark(tokenize.tokenize_benchmark, tokenize.QUICK_ARGS),
    "infer": Benchmark(infer.infer_benchmark, infer.QUICK_ARGS),
    "train": Benchmark(train.train_benchmark, train.QUICK_ARGS),
    "serve": Benchmark(serve.serve_benchmark, serve.QUICK_ARGS),
    "tflite": Benchmark(tflite.tflite_benchmark, tflite.QUICK_ARGS),
    "pretrain": Benchmark(pretrain.pretrain_benchmark, pretrain.QUICK_ARGS),
    "finetune": Benchmark(finetune.finetune_benchmark, finetune.QUICK_ARGS),
    "export": Benchmark(export.export_benchmark, export.QUICK_ARGS),
    "profile": Benchmark(profile.profile_benchmark, profile.QUICK_ARGS),
    "pretraining-pays": Benchmark(pretraining_pays.pretraining_pays_benchmark, pretraining_pays.QUICK_ARGS),
    "pretraining-pays-english": Benchmark(pretraining_pays_english.pretraining_pays_english_benchmark,
                                          pretraining_pays_english.QUICK_ARGS),
}
# Command-line options -> the keyword each benchmark takes; a benchmark without that keyword refuses the option.
PATH_OPTIONS = {"model": "a fine-tuned model directory (export, serve; default runs/reviews/model)",
                "data": "a labelled CSV of held-out texts (export; default data/reviews/test.csv)",
                "checkpoint": "a Hugging Face BERT checkpoint directory (infer, tflite; default the bundled "
                              "all-MiniLM-L6-v2)",
                "work_dir": "where pretraining-pays(-english) keeps its stages and resumes them (default "
                            "out/pretraining-pays, out/pretraining-pays-english)"}


def add_benchmark_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of scripts/benchmark.py (the same as `bert-keras benchmark`'s)."""
    parser.add_argument("name", choices=list(BENCHMARKS), help="which benchmark")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs, figures meaningless")
    parser.add_argument("--json", default=None, help="where to write the figures (default out/benchmarks/NAME.json)")
    for option, text in PATH_OPTIONS.items():
        parser.add_argument("--" + option.replace("_", "-"), dest=option, default=None, help=text)


def run_benchmark(name: str, quick: bool = False, json_path: str | None = None, **paths: str | None) -> dict:
    """Run benchmark `name` (its quick sizes with `quick`), print its table and write its figures as JSON.

    `paths` are the `PATH_OPTIONS` given on the command line (None = not given).
    """
    if name not in BENCHMARKS:
        raise InvalidInputError(f"unknown benchmark {name!r}; expected one of {list(BENCHMARKS)}")
    benchmark = BENCHMARKS[name]
    kwargs = dict(benchmark.quick_args) if quick else {}
    for option, value in paths.items():
        if value is None:
            continue
        if option not in PATH_OPTIONS or not benchmark.accepts(option):
            options = ["--" + p.replace("_", "-") for p in PATH_OPTIONS if benchmark.accepts(p)]
            raise InvalidInputError(f"benchmark {name!r} takes no --{option.replace('_', '-')} (its path options: "
                                    f"{options or 'none'})")
        kwargs[option] = value
    results = benchmark.function(**kwargs)
    print_table(name, results)
    print(f"wrote {write_figures(name, results, json_path)}")
    return results
