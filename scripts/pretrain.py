"""Pretrain BERT (masked LM + next sentence) from raw text with model.fit.

    python scripts/pretrain.py --input corpus.txt --vocab vocab.txt --output-dir runs/pretrain \
        --model-size tiny --train-steps 2000 --steps-per-epoch 500

Rerun the same command after an interruption to resume from the last backup. The pretrained encoder lands in
OUTPUT_DIR/encoder as a Hugging Face checkpoint that fine-tuning loads. See `--help` for every flag.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from bert_keras.training.pretraining import build_pretraining  # noqa: E402
from bert_keras.training.pretraining_config import add_pretraining_arguments, config_from_args  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_pretraining_arguments(parser)
    config = config_from_args(parser.parse_args())

    run = build_pretraining(config)
    run.model.fit(run.dataset, **run.fit_kwargs)
    encoder_dir = run.export_encoder()
    if encoder_dir:
        print(f"pretrained encoder written to {encoder_dir}")


if __name__ == "__main__":
    main()
