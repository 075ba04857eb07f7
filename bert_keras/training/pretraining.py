"""Pretraining from raw text: one config, one builder that returns everything `model.fit` needs.

`scripts/pretrain.py` and `bert-keras pretrain` both parse `add_pretraining_arguments`, call `build_pretraining`
and run `run.model.fit(run.dataset, **run.fit_kwargs)` then `run.export_encoder()`.

Output directory layout: `backup/` (crash-safe backups; rerunning the same command resumes), `checkpoints/`
(weights after each epoch), `logs/` (TensorBoard), `encoder/` (the final encoder as a Hugging Face checkpoint
with vocab.txt: what fine-tuning loads), `history.csv` (per-epoch losses and accuracies),
`pretraining_config.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from typing import Any

import keras

from bert_keras.config import NAMED_SIZES, BertConfig
from bert_keras.training.strategy import STRATEGIES

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
HISTORY_FILE = "history.csv"


@dataclasses.dataclass
class PretrainingConfig:
    """Every setting of a pretraining run (the defaults are BERT's, scaled to a small model).

    Data: `inputs` (raw text: files, directories or globs; one sentence per line, blank line between documents)
    or `data_dir` (TFRecord shards written by `bert-keras pretrain-data` / `write_pretraining_tfrecords`).
    Model: `init_checkpoint` (continue from any supported checkpoint), else `bert_config` (a config JSON), else
    the named `model_size` with the vocab's size.
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
    short_seq_prob: float = 0.1
    dupe_factor: int = 1
    batch_size: int = 32
    train_steps: int = 10000
    steps_per_epoch: int = 1000
    warmup_steps: int = 1000
    learning_rate: float = 1e-4
    optimizer: str = "adamw"
    weight_decay: float = 0.01
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
            raise ValueError("give exactly one of inputs (raw text files) and data_dir (TFRecord shards)")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is unknown; expected one of {PRECISIONS}")
        if self.model_size not in NAMED_SIZES:
            raise ValueError(f"model_size {self.model_size!r} is unknown; expected one of {list(NAMED_SIZES)}")
        for name in ("batch_size", "train_steps", "steps_per_epoch", "max_predictions_per_seq"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.cpu_replicas is not None and (self.strategy != "mirrored" or self.cpu_replicas < 1):
            raise ValueError(f"cpu_replicas ({self.cpu_replicas}) needs strategy 'mirrored' and must be >= 1")
        if self.train_steps % self.steps_per_epoch:
            raise ValueError(f"train_steps ({self.train_steps}) must be a multiple of steps_per_epoch "
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
    data.add_argument("--whole-word-masking", action="store_true")
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


@dataclasses.dataclass
class PretrainingRun:
    """What `build_pretraining` returns: call `model.fit(dataset, **fit_kwargs)`, then `export_encoder()`."""

    config: PretrainingConfig
    strategy: Any
    model: Any
    dataset: Any
    fit_kwargs: dict
    backup: Any

    def export_encoder(self) -> str | None:
        """Write the encoder as an HF checkpoint (+ vocab.txt) to `output_dir/encoder` (chief only, atomic)."""
        from bert_keras.atomic_io import atomic_directory
        from bert_keras.checkpoints import save_hf_checkpoint
        from bert_keras.training.strategy import is_chief

        if not is_chief():
            return None
        path = os.path.join(self.config.output_dir, "encoder")
        with atomic_directory(path, overwrite=True) as staging:
            save_hf_checkpoint(self.model.encoder, staging, vocab_path=self.config.vocab,
                               lowercase=self.config.lowercase)
        return path


def _encoder_config(config: PretrainingConfig, vocab_size: int) -> BertConfig:
    if config.bert_config:
        bert_config = BertConfig.from_json_file(config.bert_config)
    else:
        bert_config = BertConfig.named(config.model_size, vocab_size=vocab_size)
    return bert_config


def _check_fit(config: PretrainingConfig, bert_config: BertConfig, vocab_size: int, source: str) -> None:
    if config.max_seq_length > bert_config.max_position_embeddings:
        raise ValueError(f"max_seq_length {config.max_seq_length} exceeds the model's max_position_embeddings "
                         f"{bert_config.max_position_embeddings} ({source})")
    if bert_config.vocab_size != vocab_size:
        raise ValueError(f"{config.vocab} has {vocab_size} tokens but the model's vocab_size is "
                         f"{bert_config.vocab_size} ({source})")


def _build_dataset(config: PretrainingConfig, tokenizer, masker, num_workers: int):
    from bert_keras.data.pretraining import (PairConfig, build_pretraining_arrays, pretraining_dataset,
                                             read_pretraining_metadata, tfrecord_pairs, vocab_fingerprint)
    from bert_keras.training.strategy import data_sharding_options

    if config.inputs is not None:
        pairs = build_pretraining_arrays(config.inputs, tokenizer, PairConfig(
            max_seq_length=config.max_seq_length, short_seq_prob=config.short_seq_prob,
            dupe_factor=config.dupe_factor, seed=config.seed))
        options = data_sharding_options("data") if num_workers > 1 else None
        return pretraining_dataset(pairs, masker, config.batch_size, seed=config.seed, options=options)
    metadata = read_pretraining_metadata(config.data_dir)
    if metadata["max_seq_length"] > config.max_seq_length:
        raise ValueError(f"{config.data_dir} holds pairs of up to {metadata['max_seq_length']} tokens, more than "
                         f"max_seq_length {config.max_seq_length}")
    if metadata["vocab_sha256"] != vocab_fingerprint(tokenizer.vocabulary):
        raise ValueError(f"{config.data_dir} was tokenized with a different vocab than {config.vocab}")
    shards = len(metadata["pairs_per_shard"])
    options = None
    if num_workers > 1:
        if shards < num_workers:
            raise ValueError(f"{config.data_dir} has {shards} shards, fewer than the {num_workers} workers")
        options = data_sharding_options("file")
    return pretraining_dataset(tfrecord_pairs(config.data_dir, seed=config.seed), masker, config.batch_size,
                               max_seq_length=config.max_seq_length, seed=config.seed, options=options)


def build_pretraining(config: PretrainingConfig) -> PretrainingRun:
    """Strategy, data pipeline, compiled BertPretrainer and callbacks for `config`; validates everything first."""
    from bert_keras.checkpoints import load_checkpoint
    from bert_keras.modeling import BertEncoder
    from bert_keras.modeling.pretrainer import BertPretrainer
    from bert_keras.text import BertTokenizer
    from bert_keras.text.masking import MaskedLMMasker
    from bert_keras.training.callbacks import EpochCheckpoint, ResumableBackup
    from bert_keras.training.optimizer import OptimizerConfig, create_optimizer
    from bert_keras.training.strategy import build_strategy, is_chief, num_workers, split_cpu

    # The strategy comes first: logical CPU devices and multi-worker collectives must be set up before
    # TensorFlow makes its first tensor (the tokenizer makes some).
    devices = split_cpu(config.cpu_replicas) if config.cpu_replicas else None
    strategy = build_strategy(config.strategy, tpu=config.tpu, devices=devices)
    tokenizer = BertTokenizer(config.vocab, lowercase=config.lowercase)
    masker = MaskedLMMasker(config.vocab, mask_rate=config.mask_rate, max_predictions=config.max_predictions_per_seq,
                            whole_word=config.whole_word_masking)
    vocab_size = tokenizer.vocabulary_size
    if not config.init_checkpoint:
        bert_config = _encoder_config(config, vocab_size)
        _check_fit(config, bert_config, vocab_size, config.bert_config or f"model_size {config.model_size}")
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"batch_size {config.batch_size} is the global batch: it must be a multiple of the "
                         f"{strategy.num_replicas_in_sync} replicas of strategy {config.strategy!r}")
    dataset = _build_dataset(config, tokenizer, masker, num_workers(strategy))

    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_dtype_policy(config.precision)
    with strategy.scope():
        if config.init_checkpoint:
            loaded = load_checkpoint(config.init_checkpoint)
            _check_fit(config, loaded.config, vocab_size, config.init_checkpoint)
            encoder = loaded.encoder
        else:
            encoder = BertEncoder(bert_config)
        model = BertPretrainer(encoder)
        optimizer = create_optimizer(OptimizerConfig(
            name=config.optimizer, learning_rate=config.learning_rate, train_steps=config.train_steps,
            warmup_steps=min(config.warmup_steps, config.train_steps), weight_decay=config.weight_decay,
            global_clipnorm=config.clipnorm))
        if config.precision == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer, jit_compile=config.jit_compile)

    os.makedirs(config.output_dir, exist_ok=True)
    if is_chief():
        with open(os.path.join(config.output_dir, "pretraining_config.json"), "w", encoding="utf-8") as f:
            json.dump(dataclasses.asdict(config), f, indent=2)
    backup = ResumableBackup(os.path.join(config.output_dir, "backup"), config.steps_per_epoch,
                             save_every_steps=config.backup_every_steps, verbose=bool(config.verbose))
    callbacks = [backup, EpochCheckpoint(os.path.join(config.output_dir, "checkpoints"))]
    if is_chief():
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(config.output_dir, "logs")))
        # One row of losses and accuracies per epoch; a resumed run appends its epochs.
        callbacks.append(keras.callbacks.CSVLogger(os.path.join(config.output_dir, HISTORY_FILE), append=True))
    # The dataset shuffles and masks itself; shuffle=False only silences Keras' warning about that.
    fit_kwargs = dict(epochs=config.epochs, steps_per_epoch=config.steps_per_epoch, callbacks=callbacks,
                      verbose=config.verbose, shuffle=False)
    return PretrainingRun(config=config, strategy=strategy, model=model, dataset=dataset, fit_kwargs=fit_kwargs,
                          backup=backup)
