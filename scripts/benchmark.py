"""Run a bert-keras benchmark against its reference in the same run and write the figures as JSON.

    python scripts/benchmark.py tokenize|infer|train|serve|tflite|pretrain|finetune|export [--quick]
                                [--json out/benchmarks/NAME.json] [--model DIR] [--data CSV] [--checkpoint DIR]

The same as `bert-keras benchmark`; the benchmarks are in bert_keras/benchmarks/ (registry.py lists them).
Figures and how each was measured: docs/BENCHMARKS.md.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bert_keras.errors import BertKerasError  # noqa: E402

try:
    from bert_keras.benchmarks import registry  # noqa: E402
except BertKerasError as error:  # the dev-side dependencies are missing
    sys.exit(f"benchmark: error: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    registry.add_benchmark_arguments(parser)
    args = parser.parse_args()
    paths = {option: getattr(args, option) for option in registry.PATH_OPTIONS}
    try:
        registry.run_benchmark(args.name, quick=args.quick, json_path=args.json, **paths)
    except BertKerasError as error:
        parser.exit(2, f"benchmark: error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
