"""Fine-tune a BERT checkpoint on a task (classify, ner, qa) with model.fit.

    python scripts/finetune.py --task classify --init-checkpoint CHECKPOINT_DIR \
        --train-file train.csv --test-file test.csv --output-dir runs/classify

The fine-tuned model lands in OUTPUT_DIR/model (what `bert-keras evaluate`, `predict` and `export` read) and the
scores in OUTPUT_DIR/metrics.json. See `--help` for every flag and docs/FINETUNING.md for the data formats.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from bert_keras.training.finetuning import build_finetuning  # noqa: E402
from bert_keras.training.finetuning_config import add_finetuning_arguments, config_from_args  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_finetuning_arguments(parser)
    args = parser.parse_args()
    config = config_from_args(args)

    run = build_finetuning(config, overwrite=args.overwrite)
    run.model.fit(run.train_dataset, **run.fit_kwargs)
    metrics = run.finish()
    split = "test" if "test" in metrics else "validation"
    print(f"{split} {run.task.main_metric}: {metrics[split][run.task.main_metric]:.4f} "
          f"(best epoch {metrics['best_epoch']}); model in {os.path.join(config.output_dir, 'model')}")


if __name__ == "__main__":
    main()
