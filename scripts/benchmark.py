"""Run a bert-keras benchmark against its reference in the same run and write the figures as JSON.

    python scripts/benchmark.py tokenize|train|pretrain|finetune|export|serve [--quick]
                                [--json out/benchmarks/NAME.json]
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bert_keras.benchmark import BENCHMARKS, QUICK_ARGS, print_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs, figures meaningless")
    parser.add_argument("--json", default=None, help="where to write the figures (default out/benchmarks/NAME.json)")
    args = parser.parse_args()
    results = BENCHMARKS[args.name](**(QUICK_ARGS[args.name] if args.quick else {}))
    print_table(args.name, results)
    path = args.json or os.path.join("out", "benchmarks", f"{args.name}.json")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
