"""Settings of a pretraining run and their command-line flags."""

from __future__ import annotations

import argparse
import dataclasses
import os

from bert_keras.config import NAMED_SIZES
from bert_keras.errors import InvalidInputError
from bert_keras.precision import PRECISIONS, check_precision
from bert_keras.training.strategy import STRATEGIES

HISTORY_FILE = "history.csv"
RUN_CONFIG_FILE = "pretraining_config.json"  # the run's settings, in its output directory
# Settings a resumed run may change: how it runs and reports, not what it computes.
RESUME_FREE_FIELDS = frozenset({"verbose", "strategy", "tpu", "cpu_replicas", "jit_compile", "backup_every_steps"})


@dataclasses.dataclass
class PretrainingConfig:
    """Every setting of a pretraining run (the defaults are BERT's, scaled to a small model).

    Data: `inputs` (raw text: files, directories or globs; one sentence per line, blank line between documents)
    or `data_dir` (TFRecord shards written by `bert-keras pretrain-data` / `write_pretraining_tfrecords`).
    `segmented_words`: the raw text separates words with spaces (segmented Chinese); whole-word masking then
    takes those words (shards record it themselves).
    Model: `init_checkpoint` (continue from any supported checkpoint), else `bert_config` (a config JSON), else
    the named `model_size` with the vocab's size.
    Training: `locality_scaffold_steps` > 0 adds a fading penalty on attention distance for that many first
    steps (`bert_keras.modeling.locality_scaffold`), which gets a small model off the plateau where no head reads
    a token's neighbours; it must end by `train_steps`, and the saved model is plain BERT.
    """

    vocab: str
    output_dir: str
    inputs: list[str] | None = None
    data_dir: str | None = None
    lowercase: bool = True
    model_size: str = "tiny"
    bert_config: str | None = None
    init_checkpoint: str | None = None
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    mask_rate: float = 0.15
    whole_word_masking: bool = False
    segmented_words: bool = False
    short_seq_prob: float = 0.1
    dupe_factor: int = 1
    batch_size: int = 32
    train_steps: int = 10000
    steps_per_epoch: int = 1000
    warmup_steps: int = 1000
    learning_rate: float = 1e-4
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    locality_scaffold_steps: int = 0
    clipnorm: float | None = 1.0
    precision: str = "float32"
    jit_compile: bool = False
    strategy: str = "default"
    tpu: str | None = None
    cpu_replicas: int | None = None
    backup_every_steps: int | None = None
    seed: int = 0
    verbose: int = 1

    def __post_init__(self) -> None:
        if (self.inputs is None) == (self.data_dir is None):
            raise InvalidInputError("give exactly one of inputs (raw text files) and data_dir (TFRecord shards)")
        if self.init_checkpoint and self.bert_config:
            raise InvalidInputError("give at most one of init_checkpoint (its config comes with it) and bert_config")
        check_precision(self.precision)
        if self.model_size not in NAMED_SIZES:
            raise InvalidInputError(f"model_size {self.model_size!r} is unknown; expected one of "
                                    f"{list(NAMED_SIZES)}")
        for name in ("batch_size", "train_steps", "steps_per_epoch", "max_predictions_per_seq"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0 <= self.locality_scaffold_steps <= self.train_steps:
            raise InvalidInputError(f"locality_scaffold_steps ({self.locality_scaffold_steps}) must be between 0 "
                                    f"and train_steps ({self.train_steps}): the scaffold has to fade out before "
                                    "the run ends")
        if self.cpu_replicas is not None and (self.strategy != "mirrored" or self.cpu_replicas < 1):
            raise InvalidInputError(f"cpu_replicas ({self.cpu_replicas}) needs strategy 'mirrored' and must be "
                                    ">= 1")
        if self.train_steps % self.steps_per_epoch:
            raise InvalidInputError(f"train_steps ({self.train_steps}) must be a multiple of steps_per_epoch "
                                    f"({self.steps_per_epoch})")
        if not os.path.isfile(self.vocab):
            raise FileNotFoundError(f"vocab {self.vocab}: no such file")

    @property
    def epochs(self) -> int:
        return self.train_steps // self.steps_per_epoch


def add_pretraining_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line flags of `PretrainingConfig` (shared by scripts/pretrain.py and `bert-keras pretrain`)."""
    d = PretrainingConfig.__dataclass_fields__
    data = parser.add_argument_group("data")
    source = data.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", dest="inputs", nargs="+", metavar="PATH",
                        help="raw text files, directories or globs (one sentence per line, blank line between "
                             "documents)")
    source.add_argument("--data-dir", help="TFRecord shards written by `bert-keras pretrain-data`")
    data.add_argument("--vocab", required=True, help="vocab.txt (e.g. from `bert-keras vocab`)")
    data.add_argument("--cased", dest="lowercase", action="store_false", help="do not lower-case the text")
    data.add_argument("--max-seq-length", type=int, default=d["max_seq_length"].default)
    data.add_argument("--max-predictions-per-seq", type=int, default=d["max_predictions_per_seq"].default)
    data.add_argument("--mask-rate", type=float, default=d["mask_rate"].default)
    data.add_argument("--whole-word-masking", action="store_true",
                      help='mask all pieces of a word together (words are "##" runs, or see --segmented-words)')
    data.add_argument("--segmented-words", action="store_true",
                      help="the --input text separates words with spaces (segmented Chinese, as Chinese-BERT-wwm "
                           "uses): whole-word masking masks each space-separated word whole")
    data.add_argument("--short-seq-prob", type=float, default=d["short_seq_prob"].default)
    data.add_argument("--dupe-factor", type=int, default=d["dupe_factor"].default)
    model = parser.add_argument_group("model")
    model.add_argument("--model-size", choices=list(NAMED_SIZES), default=d["model_size"].default)
    model.add_argument("--bert-config", help="config JSON (HF config.json or Google bert_config.json)")
    model.add_argument("--init-checkpoint", help="start from this checkpoint directory (HF, Google, keras-hub)")
    train = parser.add_argument_group("training")
    train.add_argument("--output-dir", required=True)
    train.add_argument("--batch-size", type=int, default=d["batch_size"].default, help="global batch size")
    train.add_argument("--train-steps", type=int, default=d["train_steps"].default)
    train.add_argument("--steps-per-epoch", type=int, default=d["steps_per_epoch"].default)
    train.add_argument("--warmup-steps", type=int, default=d["warmup_steps"].default)
    train.add_argument("--learning-rate", type=float, default=d["learning_rate"].default)
    train.add_argument("--optimizer", choices=["adamw", "lamb"], default=d["optimizer"].default)
    train.add_argument("--weight-decay", type=float, default=d["weight_decay"].default)
    train.add_argument("--locality-scaffold-steps", type=int, default=d["locality_scaffold_steps"].default,
                       help="for the first N steps add a fading penalty on attention distance (gets small models "
                            "reading neighbours sooner; the saved model is plain BERT); 0 = off")
    train.add_argument("--clipnorm", type=float, default=d["clipnorm"].default,
                       help="clip gradients by global norm (0 = off)")
    train.add_argument("--precision", choices=PRECISIONS, default=d["precision"].default)
    train.add_argument("--xla", dest="jit_compile", action="store_true", help="compile train steps with XLA")
    train.add_argument("--strategy", choices=list(STRATEGIES), default=d["strategy"].default,
                       help="default: one device; mirrored: all local GPUs; multi_worker: the cluster in TF_CONFIG "
                            "(run the same command on every worker); tpu: the TPU given by --tpu")
    train.add_argument("--cpu-replicas", type=int, default=None,
                       help="with --strategy mirrored: split the CPU into N logical devices and mirror over them "
                            "(tries a multi-device run on a machine without GPUs)")
    train.add_argument("--tpu", help="TPU address for --strategy tpu (grpc://host:8470 or a TPU name)")
    train.add_argument("--backup-every-steps", type=int, default=None,
                       help="also back up within epochs every N steps (always at epoch ends)")
    train.add_argument("--seed", type=int, default=d["seed"].default)
    train.add_argument("--verbose", type=int, default=d["verbose"].default, choices=[0, 1, 2],
                       help="Keras fit verbosity: 1 = progress bar")


def config_from_args(args: argparse.Namespace) -> PretrainingConfig:
    """A PretrainingConfig from parsed `add_pretraining_arguments` flags."""
    names = {f.name for f in dataclasses.fields(PretrainingConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    if values.get("clipnorm") == 0:
        values["clipnorm"] = None
    return PretrainingConfig(**values)
