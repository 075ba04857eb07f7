"""Run a bert-keras benchmark against its reference in the same run and write the figures as JSON.

    python scripts/benchmark.py tokenize|infer|train|serve|tflite|pretrain|finetune|export [--quick]
                                [--json out/benchmarks/NAME.json] [--model DIR] [--data CSV] [--checkpoint DIR]

The same as `bert-keras benchmark`. Figures and how each was measured: docs/BENCHMARKS.md.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bert_keras.benchmark import add_benchmark_arguments, run_benchmark  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_benchmark_arguments(parser)
    args = parser.parse_args()
    run_benchmark(args.name, quick=args.quick, json_path=args.json, model=args.model, data=args.data,
                  checkpoint=args.checkpoint)


if __name__ == "__main__":
    main()
