"""Pretraining from raw text: one config, one builder that returns everything `model.fit` needs.

`scripts/pretrain.py` and `bert-keras pretrain` both parse `pretraining_config.add_pretraining_arguments`, call
`build_pretraining` and run `run.model.fit(run.dataset, **run.fit_kwargs)` then `run.export_encoder()`.

Output directory layout: `backup/` (crash-safe backups; rerunning the same command resumes, a rerun with other
settings is refused), `checkpoints/` (weights after each epoch), `logs/` (TensorBoard), `encoder/` (the final
encoder as a Hugging Face checkpoint with vocab.txt: what fine-tuning loads), `history.csv` (per-epoch losses and
accuracies), `pretraining_config.json`.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import tensorflow as tf

from bert_keras.atomic_io import atomic_directory, remove_staging_leftovers
from bert_keras.checkpoints import load_checkpoint, save_hf_checkpoint
from bert_keras.checkpoints.pretraining_heads import assign_pretraining_heads, hf_head_tensors
from bert_keras.config import BertConfig
from bert_keras.data.pair_config import PairConfig
from bert_keras.data.pretraining import (
    build_pretraining_arrays,
    pretraining_dataset,
    read_pretraining_metadata,
    tfrecord_pairs,
    vocab_fingerprint,
)
from bert_keras.errors import InvalidInputError
from bert_keras.modeling import BertEncoder
from bert_keras.modeling.locality_scaffold import LocalityScaffold
from bert_keras.modeling.pretrainer import BertPretrainer
from bert_keras.precision import global_dtype_policy
from bert_keras.text import BertTokenizer
from bert_keras.text.masking import MaskedLMMasker
from bert_keras.training.callbacks import EpochCheckpoint, ResumableBackup, read_backup_state
from bert_keras.training.optimizer import OptimizerConfig
from bert_keras.training.pretraining_config import RESUME_FREE_FIELDS, RUN_CONFIG_FILE, PretrainingConfig
from bert_keras.training.run_setup import (
    check_same_run,
    compile_for_training,
    logging_callbacks,
    save_run_config,
    training_strategy,
)
from bert_keras.training.strategy import data_sharding_options, is_chief, num_workers, worker_index


@dataclasses.dataclass
class PretrainingRun:
    """What `build_pretraining` returns: call `model.fit(dataset, **fit_kwargs)`, then `export_encoder()`."""

    config: PretrainingConfig
    strategy: tf.distribute.Strategy
    model: BertPretrainer
    dataset: tf.data.Dataset
    fit_kwargs: dict
    backup: ResumableBackup

    def export_encoder(self) -> str | None:
        """Write the encoder and its MLM/NSP heads as an HF BertForPreTraining checkpoint (+ vocab.txt) to
        `output_dir/encoder` (chief only, atomic): fine-tuning loads the encoder, fill-mask the MLM head."""
        if not is_chief():
            return None
        path = os.path.join(self.config.output_dir, "encoder")
        remove_staging_leftovers(self.config.output_dir)  # an earlier export a kill interrupted
        with atomic_directory(path, overwrite=True) as staging:
            save_hf_checkpoint(self.model.encoder, staging, vocab_path=self.config.vocab,
                               lowercase=self.config.lowercase, head_tensors=hf_head_tensors(self.model))
        return path


def _encoder_config(config: PretrainingConfig, vocab_size: int) -> BertConfig:
    if config.bert_config:
        bert_config = BertConfig.from_json_file(config.bert_config)
    else:
        bert_config = BertConfig.named(config.model_size, vocab_size=vocab_size)
    return bert_config


def _check_fit(config: PretrainingConfig, bert_config: BertConfig, vocab_size: int, source: str) -> None:
    if config.max_seq_length > bert_config.max_position_embeddings:
        raise InvalidInputError(f"max_seq_length {config.max_seq_length} exceeds the model's "
                                f"max_position_embeddings {bert_config.max_position_embeddings} ({source})")
    if bert_config.vocab_size != vocab_size:
        raise InvalidInputError(f"{config.vocab} has {vocab_size} tokens but the model's vocab_size is "
                                f"{bert_config.vocab_size} ({source})")


def _build_dataset(config: PretrainingConfig, tokenizer: BertTokenizer, masker: MaskedLMMasker,
                   strategy: tf.distribute.Strategy, start_batch: int) -> tf.data.Dataset:
    workers = num_workers(strategy)
    if config.inputs is not None:
        pairs = build_pretraining_arrays(config.inputs, tokenizer, PairConfig(
            max_seq_length=config.max_seq_length, short_seq_prob=config.short_seq_prob,
            dupe_factor=config.dupe_factor, seed=config.seed), segmented=config.segmented_words)
        # Every worker pairs the whole corpus (same seed); tf.data keeps each worker's share of the batches.
        options = data_sharding_options("data") if workers > 1 else None
        return pretraining_dataset(pairs, masker, config.batch_size, seed=config.seed, options=options,
                                   start_batch=start_batch)
    metadata = read_pretraining_metadata(config.data_dir)
    if metadata["max_seq_length"] > config.max_seq_length:
        raise InvalidInputError(f"{config.data_dir} holds pairs of up to {metadata['max_seq_length']} tokens, "
                                f"more than max_seq_length {config.max_seq_length}")
    if metadata["vocab_sha256"] != vocab_fingerprint(tokenizer.vocabulary):
        raise InvalidInputError(f"{config.data_dir} was tokenized with a different vocab than {config.vocab}")
    # Each worker reads its own files; auto-sharding is off because it cannot shard a pipeline that also
    # draws the masking seeds from a random source (and the files are already split).
    pairs = tfrecord_pairs(config.data_dir, seed=config.seed, num_workers=workers,
                           worker_index=worker_index(strategy))
    options = data_sharding_options("off") if workers > 1 else None
    return pretraining_dataset(pairs, masker, config.batch_size, max_seq_length=config.max_seq_length,
                               seed=config.seed, options=options, start_batch=start_batch)


def build_pretraining(config: PretrainingConfig) -> PretrainingRun:
    """Strategy, data pipeline, compiled BertPretrainer and callbacks for `config`; validates everything first.

    Rerunning into the same `output_dir` resumes from its backup, so the settings must be the run's own: any
    difference but in RESUME_FREE_FIELDS is refused before anything is written.
    """
    check_same_run(os.path.join(config.output_dir, RUN_CONFIG_FILE), dataclasses.asdict(config),
                   "rerun with the same settings to resume it, or pick another output directory", RESUME_FREE_FIELDS)
    # The strategy comes first (the tokenizer makes tensors).
    strategy = training_strategy(config.strategy, config.tpu, config.cpu_replicas, config.batch_size)
    tokenizer = BertTokenizer(config.vocab, lowercase=config.lowercase)
    masker = MaskedLMMasker(config.vocab, mask_rate=config.mask_rate, max_predictions=config.max_predictions_per_seq,
                            whole_word=config.whole_word_masking)
    vocab_size = tokenizer.vocabulary_size
    if not config.init_checkpoint:
        bert_config = _encoder_config(config, vocab_size)
        _check_fit(config, bert_config, vocab_size, config.bert_config or f"model_size {config.model_size}")
    # A rerun resumes from the backup's step (ResumableBackup restores the weights when fit starts); the data
    # stream continues there too, or the resumed run would replay the batches it already trained on.
    backup_dir = os.path.join(config.output_dir, "backup")
    state = read_backup_state(backup_dir)
    # Seeded first: the data stream's shuffling and masking seeds derive from the global seed as well as
    # config.seed, so the stream must not depend on what ran before in the process.
    keras.utils.set_random_seed(config.seed)
    dataset = _build_dataset(config, tokenizer, masker, strategy, start_batch=state["global_step"] if state else 0)
    keras.utils.set_random_seed(config.seed)  # the weights' initialisation, whatever building the data drew
    with global_dtype_policy(config.precision), strategy.scope():
        if config.init_checkpoint:
            loaded = load_checkpoint(config.init_checkpoint)
            _check_fit(config, loaded.config, vocab_size, config.init_checkpoint)
            encoder = loaded.encoder
        else:
            encoder = BertEncoder(bert_config)
        model = BertPretrainer(encoder)
        if config.init_checkpoint:  # continue with the checkpoint's own MLM / NSP heads when it has them
            heads = assign_pretraining_heads(model, loaded.head_tensors, config.init_checkpoint)
            if config.verbose:
                print(f"{config.init_checkpoint}: encoder and {', '.join(heads) or 'no'} pretraining heads "
                      "loaded", flush=True)
        compile_for_training(model, OptimizerConfig(
            name=config.optimizer, learning_rate=config.learning_rate, train_steps=config.train_steps,
            warmup_steps=min(config.warmup_steps, config.train_steps), weight_decay=config.weight_decay,
            global_clipnorm=config.clipnorm), config.precision, config.jit_compile)
        if config.locality_scaffold_steps:
            LocalityScaffold(config.locality_scaffold_steps, model.optimizer.iterations).attach(encoder)

    save_run_config(config.output_dir, RUN_CONFIG_FILE, config)
    backup = ResumableBackup(backup_dir, config.steps_per_epoch,
                             save_every_steps=config.backup_every_steps, verbose=bool(config.verbose))
    # history.csv: one row of losses and accuracies per epoch; a resumed run appends its epochs.
    callbacks = [backup, EpochCheckpoint(os.path.join(config.output_dir, "checkpoints")),
                 *logging_callbacks(config.output_dir, append_history=True)]
    # The dataset shuffles and masks itself; shuffle=False only silences Keras' warning about that.
    fit_kwargs = dict(epochs=config.epochs, steps_per_epoch=config.steps_per_epoch, callbacks=callbacks,
                      verbose=config.verbose, shuffle=False)
    return PretrainingRun(config=config, strategy=strategy, model=model, dataset=dataset, fit_kwargs=fit_kwargs,
                          backup=backup)
