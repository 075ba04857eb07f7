"""The `bert-keras` command line.

Each subcommand is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments and sets
``run=_run_<name>``; ``_run_<name>(args)`` does the work through the library and returns an exit status. To add a
subcommand, write the pair and list ``_add_<name>`` in `SUBCOMMANDS`.

Expected failures (bad paths, mismatched checkpoints, invalid configs) are reported as one line on stderr with
exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Callable, Sequence

from bert_keras.checkpoints import FORMATS as CHECKPOINT_FORMATS  # light: no TensorFlow import

EXIT_OK = 0
EXIT_USAGE = 2  # the same status argparse uses for bad arguments

# The errors a user can cause and fix (missing files, bad configs, mismatched checkpoints, a missing optional
# dependency): reported without a traceback.
USER_ERRORS = (OSError, ValueError, ImportError)


class CommandError(Exception):
    """A user-facing error raised by a subcommand (printed as one line, exit status 2)."""


# ---------------------------------------------------------------------------------------------------- convert

CONVERT_TARGETS = ("hf", "keras")
KERAS_FILE = "encoder.keras"


def _add_convert(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert", help="convert a BERT checkpoint (HF, Google TF1, keras-hub) to HF safetensors or .keras",
        description="Load a BERT checkpoint directory and write it as a Hugging Face directory (config.json, "
                    "model.safetensors, vocab.txt) or as a Keras file (encoder.keras, vocab.txt).")
    parser.add_argument("--input", required=True, metavar="DIR", help="checkpoint directory to read")
    parser.add_argument("--from", dest="source_format", choices=CHECKPOINT_FORMATS, default=None,
                        help="format of --input (default: detected from its files)")
    parser.add_argument("--output", required=True, metavar="DIR", help="directory to write")
    parser.add_argument("--to", dest="target_format", choices=CONVERT_TARGETS, default="hf",
                        help="hf: config.json + model.safetensors; keras: encoder.keras (default: hf)")
    parser.add_argument("--exact-gelu", action="store_true",
                        help="google/keras_hub only: use the exact (erf) GELU instead of the tanh approximation "
                             "those implementations compute")
    parser.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty --output")
    parser.set_defaults(run=_run_convert)


def _run_convert(args: argparse.Namespace) -> int:
    from bert_keras.checkpoints import detect_format, load_checkpoint, save_hf_checkpoint

    source_format = args.source_format or detect_format(args.input)
    options = {}
    if args.exact_gelu:
        if source_format == "google":
            options["exact_gelu"] = True
        elif source_format == "keras_hub":
            options["hidden_act"] = "gelu"
        else:
            raise CommandError("--exact-gelu applies to google and keras_hub checkpoints; a Hugging Face "
                               "config.json names its activation itself")
    _check_output_dir(args.output, args.overwrite)

    loaded = load_checkpoint(args.input, format=source_format, **options)
    if args.target_format == "hf":
        save_hf_checkpoint(loaded.encoder, args.output, vocab_path=loaded.vocab_path, lowercase=loaded.lowercase)
    else:
        os.makedirs(args.output, exist_ok=True)
        loaded.encoder.save(os.path.join(args.output, KERAS_FILE))
        if loaded.vocab_path:
            shutil.copyfile(loaded.vocab_path, os.path.join(args.output, "vocab.txt"))
    config = loaded.config
    print(f"converted {source_format} checkpoint {args.input} -> {args.target_format} {args.output} "
          f"({config.num_hidden_layers} layers, hidden {config.hidden_size}, {config.activation}"
          f"{'' if loaded.vocab_path else ', no vocab.txt'})")
    return EXIT_OK


def _check_output_dir(path: str, overwrite: bool) -> None:
    if os.path.exists(path) and not os.path.isdir(path):
        raise CommandError(f"--output {path} exists and is not a directory")
    if os.path.isdir(path) and os.listdir(path) and not overwrite:
        raise CommandError(f"--output {path} is not empty (pass --overwrite to write into it)")


# ---------------------------------------------------------------------------------------------------- main

SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (_add_convert,)


def build_parser() -> argparse.ArgumentParser:
    """The `bert-keras` argument parser with every subcommand in `SUBCOMMANDS`."""
    parser = argparse.ArgumentParser(prog="bert-keras", description="BERT for TensorFlow and Keras 3.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_subcommand in SUBCOMMANDS:
        add_subcommand(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `bert-keras` with `argv` (default: sys.argv[1:]); returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CommandError, *USER_ERRORS) as error:
        print(f"bert-keras {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE


def _one_line(error: BaseException) -> str:
    """An error's message on one line (multi-line messages such as checkpoint mismatches are joined)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
