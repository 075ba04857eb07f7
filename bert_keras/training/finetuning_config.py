"""Settings of a fine-tuning run and their command-line flags."""

from __future__ import annotations

import argparse
import dataclasses
import os

from bert_keras.checkpoints.task_spec import POOLINGS, TASK_NAMES, TaskSettings
from bert_keras.data.tag_schemes import ALIASES, SCHEME_NAMES
from bert_keras.data.word_splits import WORD_SPLITS
from bert_keras.errors import InvalidInputError
from bert_keras.precision import PRECISIONS, check_precision
from bert_keras.training.strategy import STRATEGIES

BEST_WEIGHTS = "best.weights.h5"
RUN_CONFIG_FILE = "finetuning_config.json"
BACKUP_DIR = "backup"  # weights, optimizer and dropout state at each epoch end (and every N steps)
VALIDATION_HISTORY_FILE = "validation_history.json"  # every finished epoch's validation metrics (what resuming needs)
RESUME_FREE_FIELDS = ("verbose",)  # settings a rerun may change and still resume the run
# Training batches' padded lengths are rounded up to a multiple of this under XLA or on TPUs: 4 compiled shapes
# at max length 128 instead of up to 126 (measured: 40 steps of varied lengths 147 s unbucketed, 22 s bucketed).
XLA_PAD_MULTIPLE = 32


@dataclasses.dataclass(kw_only=True)
class FinetuningConfig(TaskSettings):
    """Every setting of a fine-tuning run (defaults: BERT's fine-tuning recipe).

    The task's own settings (task, lengths, data columns, label mode, QA windows) are `TaskSettings`' fields,
    declared once and saved as the model directory's task.json. Data: `train_file`; `validation_file` (early
    stopping and best-epoch choice; None: hold out `held_out_fraction` of the training file, seeded); `test_file`
    (scored once, at the end, with the chosen weights; never seen during training or model choice).
    `max_train_examples` keeps a seeded random subset of N training examples after the split (quick runs).
    """

    init_checkpoint: str
    train_file: str
    output_dir: str
    validation_file: str | None = None
    test_file: str | None = None
    held_out_fraction: float = 0.1
    max_train_examples: int | None = None
    vocab: str | None = None
    lowercase: bool | None = None  # None: what the checkpoint's tokenizer config says
    class_weights: str | None = None
    batch_size: int = 32
    eval_batch_size: int = 64
    epochs: int = 3
    steps_per_epoch: int | None = None
    learning_rate: float = 5e-5
    warmup_proportion: float = 0.1
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    clipnorm: float | None = 1.0
    early_stopping_patience: int | None = None
    backup_every_steps: int | None = None  # besides each epoch end
    precision: str = "float32"
    jit_compile: bool = False
    pad_to_multiple_of: int | None = None
    strategy: str = "default"
    tpu: str | None = None
    cpu_replicas: int | None = None
    seed: int = 0
    verbose: int = 1

    @property
    def padding_multiple(self) -> int:
        """The training batches' width multiple: as set, else XLA_PAD_MULTIPLE when compiling, else 1."""
        if self.pad_to_multiple_of is not None:
            return self.pad_to_multiple_of
        return XLA_PAD_MULTIPLE if self.jit_compile or self.strategy == "tpu" else 1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_precision(self.precision)
        for name in ("batch_size", "eval_batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("steps_per_epoch", "max_train_examples", "early_stopping_patience", "pad_to_multiple_of",
                     "backup_every_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidInputError(f"{name} must be >= 1 (or unset), got {value!r}")
        if not 0.0 <= self.warmup_proportion <= 1.0:
            raise InvalidInputError(f"warmup_proportion must be in [0, 1], got {self.warmup_proportion}")
        if self.cpu_replicas is not None and (self.strategy != "mirrored" or self.cpu_replicas < 1):
            raise InvalidInputError(f"cpu_replicas ({self.cpu_replicas}) needs strategy 'mirrored' and must be >= 1")
        if self.class_weights is not None and self.task != "classify":
            raise InvalidInputError("class_weights apply to --task classify only")
        for name in ("train_file", "validation_file", "test_file", "vocab"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise FileNotFoundError(f"{name} {path}: no such file")
        if not os.path.isdir(self.init_checkpoint):
            raise FileNotFoundError(f"init_checkpoint {self.init_checkpoint}: no such directory")


def add_finetuning_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line flags of `FinetuningConfig` (shared by scripts/finetune.py and `bert-keras finetune`), and
    --overwrite, which is `build_finetuning`'s `overwrite` argument rather than a setting of the run."""
    d = {f.name: f.default for f in dataclasses.fields(FinetuningConfig)}
    parser.add_argument("--task", required=True, choices=TASK_NAMES,
                        help="classify: CSV/TSV/JSONL text classification; ner: CoNLL/BIO tagging; qa: SQuAD JSON")
    data = parser.add_argument_group("data")
    data.add_argument("--train-file", required=True)
    data.add_argument("--validation-file", help="for early stopping and the best epoch (default: hold out "
                                                "--held-out-fraction of --train-file)")
    data.add_argument("--test-file", help="scored once at the end with the chosen weights")
    data.add_argument("--held-out-fraction", type=float, default=d["held_out_fraction"])
    data.add_argument("--max-train-examples", type=int, help="train on a seeded random subset of N examples")
    data.add_argument("--text-column", default=d["text_column"])
    data.add_argument("--text-pair-column", help="second text of sentence-pair classification")
    data.add_argument("--label-column", default=d["label_column"])
    data.add_argument("--multi-label", action="store_true", help="several labels per example")
    data.add_argument("--pooling", choices=POOLINGS, default=None,
                      help="classify: the vector the label is read from: cls (the pooler on [CLS], as BERT; the "
                           "default) or mean (the mean of the token vectors, leaving out the pooler that "
                           "pretraining trained for next-sentence prediction only)")
    data.add_argument("--tag-scheme", choices=list(dict.fromkeys([*SCHEME_NAMES, *ALIASES])), type=str.upper,
                      default=None,
                      help="ner: the tag scheme of the CoNLL files (BMES for MSRA Chinese NER; default: detected "
                           "from the training tags). IOB1/IOB2 are scored with conlleval's rules, the others "
                           "strictly (seqeval mode='strict')")
    data.add_argument("--word-split", choices=WORD_SPLITS, default=None,
                      help="ner: how the exported model splits raw text into words: bert (whitespace, punctuation, "
                           "each CJK ideograph) or characters (every non-space character; default when every "
                           "training word is one character, as in MSRA)")
    data.add_argument("--constrained-decoding", action=argparse.BooleanOptionalAction, default=None,
                      help="ner: choose each sentence's tags jointly (Viterbi over the tag scheme's transitions) "
                           "rather than each word's argmax (default: on for IOE2, IOBES, BMES, BILOU; off for "
                           "IOB1/IOB2)")
    data.add_argument("--label-separator", default=d["label_separator"],
                      help="separates label names in a CSV/TSV multi-label field")
    data.add_argument("--class-weights", help="'balanced' or label=weight,label=weight (classify)")
    data.add_argument("--max-seq-length", type=int, default=d["max_seq_length"])
    data.add_argument("--tail-tokens", type=int, default=d["tail_tokens"],
                      help="classify: when a single text is cut to --max-seq-length, keep its last N tokens too "
                           "(head + tail truncation)")
    data.add_argument("--doc-stride", type=int, default=d["doc_stride"],
                      help="qa: step between context windows (default 128, at most one window)")
    data.add_argument("--max-query-length", type=int, default=d["max_query_length"],
                      help="qa: question pieces kept (default 64, at most about half of --max-seq-length)")
    data.add_argument("--max-answer-length", type=int, default=d["max_answer_length"])
    data.add_argument("--version-2", action="store_true", help="qa: allow 'no answer' (SQuAD 2.0)")
    data.add_argument("--null-score-diff-threshold", type=float, default=d["null_score_diff_threshold"])
    model = parser.add_argument_group("model")
    model.add_argument("--init-checkpoint", required=True,
                       help="checkpoint directory to start from: Hugging Face, Google TF1, keras-hub, or "
                            "OUTPUT_DIR/encoder of `bert-keras pretrain`")
    model.add_argument("--vocab", help="vocab.txt if the checkpoint has none")
    case = model.add_mutually_exclusive_group()
    case.add_argument("--lowercase", dest="lowercase", action="store_true", default=None)
    case.add_argument("--cased", dest="lowercase", action="store_false",
                      help="(default: what the checkpoint's tokenizer config says, else lower-case)")
    train = parser.add_argument_group("training")
    train.add_argument("--output-dir", required=True)
    train.add_argument("--overwrite", action="store_true",
                       help="replace the run in a non-empty --output-dir (refused without it, except that an "
                            "interrupted run with a backup is resumed by the same command): once every input is "
                            "checked, its model/, metrics.json, best.weights.h5, backup/, validation_history.json, "
                            "history.csv, logs/ and finetuning_config.json are removed before training; other "
                            "files are kept")
    train.add_argument("--batch-size", type=int, default=d["batch_size"], help="global batch size")
    train.add_argument("--eval-batch-size", type=int, default=d["eval_batch_size"])
    train.add_argument("--epochs", type=int, default=d["epochs"])
    train.add_argument("--steps-per-epoch", type=int,
                       help="optimizer steps between validations (default: one pass over the training data)")
    train.add_argument("--learning-rate", type=float, default=d["learning_rate"])
    train.add_argument("--warmup-proportion", type=float, default=d["warmup_proportion"])
    train.add_argument("--optimizer", choices=["adamw", "lamb"], default=d["optimizer"])
    train.add_argument("--weight-decay", type=float, default=d["weight_decay"])
    train.add_argument("--clipnorm", type=float, default=d["clipnorm"], help="0 = no clipping")
    train.add_argument("--early-stopping-patience", type=int,
                       help="stop after N epochs without a better validation score")
    train.add_argument("--backup-every-steps", type=int, metavar="N",
                       help="back up every N steps as well as at each epoch end; rerunning the same command after an "
                            "interruption resumes from the last backup")
    train.add_argument("--precision", choices=PRECISIONS, default=d["precision"])
    train.add_argument("--xla", dest="jit_compile", action="store_true", help="compile train steps with XLA")
    train.add_argument("--pad-to-multiple-of", type=int, metavar="N",
                       help="round each training batch's padded length up to a multiple of N, so XLA and TPUs "
                            f"compile a few shapes instead of one per length (default: {XLA_PAD_MULTIPLE} with --xla "
                            "or --strategy tpu, else 1: pad to the longest example)")
    train.add_argument("--strategy", choices=list(STRATEGIES), default=d["strategy"])
    train.add_argument("--cpu-replicas", type=int)
    train.add_argument("--tpu")
    train.add_argument("--seed", type=int, default=d["seed"])
    train.add_argument("--verbose", type=int, default=d["verbose"], choices=[0, 1, 2])


def config_from_args(args: argparse.Namespace) -> FinetuningConfig:
    """A FinetuningConfig from parsed `add_finetuning_arguments` flags."""
    names = {f.name for f in dataclasses.fields(FinetuningConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    if values.get("clipnorm") == 0:
        values["clipnorm"] = None
    return FinetuningConfig(**values)
