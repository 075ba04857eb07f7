"""The `bert-keras` command line.

Each subcommand is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments and sets
``run=_run_<name>``; ``_run_<name>(args)`` does the work through the library and returns an exit status. To add a
subcommand, write the pair and list ``_add_<name>`` in `SUBCOMMANDS`.

Expected failures are reported as one line on stderr with exit status 2: every `bert_keras.errors.BertKerasError`
(invalid values and configs, bad file content with file and line, mismatched checkpoints, refused overwrites, a
missing optional package) and OSError (a path that does not exist or cannot be read or written). Anything else is
a bug and keeps its traceback. Subcommands import what they need when they run (this file is the one place
lazy imports are allowed), so a subcommand does not load the server or the benchmarks it does not use.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Callable, Sequence

from bert_keras.assets.datasets import DATASETS
from bert_keras.checkpoints import FORMATS as CHECKPOINT_FORMATS
from bert_keras.errors import BertKerasError

EXIT_OK = 0
EXIT_USAGE = 2  # the same status argparse uses for bad arguments

# The errors a user can cause and fix: reported without a traceback.
USER_ERRORS = (BertKerasError, OSError)


class CommandError(BertKerasError):
    """A user-facing error raised by a subcommand (printed as one line, exit status 2)."""


# ---------------------------------------------------------------------------------------------------- convert

CONVERT_TARGETS = ("hf", "keras")


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
    from bert_keras.checkpoints import (
        detect_format,
        load_checkpoint,
        resolve_checkpoint,
        save_hf_checkpoint,
        save_keras_checkpoint,
    )

    directory = resolve_checkpoint(args.input)  # a local directory, or a hub name fetched into its cache
    source_format = args.source_format or detect_format(directory)
    options = {}
    if args.exact_gelu:
        if source_format == "google":
            options["exact_gelu"] = True
        elif source_format == "keras_hub":
            options["hidden_act"] = "gelu"
        else:
            raise CommandError(f"--exact-gelu applies to google and keras_hub checkpoints; a {source_format} "
                               "checkpoint names its activation itself")
    _check_output_dir(args.output, args.overwrite)

    loaded = load_checkpoint(directory, format=source_format, **options)
    if args.target_format == "hf":
        save_hf_checkpoint(loaded.encoder, args.output, vocab_path=loaded.vocab_path, lowercase=loaded.lowercase)
    else:
        save_keras_checkpoint(loaded.encoder, args.output, vocab_path=loaded.vocab_path, lowercase=loaded.lowercase)
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


# ---------------------------------------------------------------------------------------------------- vocab

def _add_vocab(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "vocab", help="learn a WordPiece vocab.txt from raw text files",
        description="Learn a BERT WordPiece vocabulary from UTF-8 text files (one text per line). The result "
                    "loads in bert-keras' BertTokenizer and in transformers' BertTokenizer alike.")
    parser.add_argument("--input", dest="inputs", nargs="+", required=True, metavar="PATH",
                        help="text files, directories or glob patterns")
    parser.add_argument("--output", required=True, metavar="FILE", help="vocab.txt to write")
    parser.add_argument("--vocab-size", type=int, default=30522, help="tokens in the vocab (default: 30522)")
    parser.add_argument("--cased", dest="lowercase", action="store_false",
                        help="keep case and accents (default: lower-case and strip accents, as uncased BERT)")
    parser.add_argument("--num-reserved", type=int, default=0,
                        help="[unusedN] slots after [PAD], for tokens added later (Google's vocabs have 99+)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.set_defaults(run=_run_vocab)


def _run_vocab(args: argparse.Namespace) -> int:
    from bert_keras.text.vocab_learning import learn_wordpiece_vocab, write_vocab_file

    if os.path.exists(args.output) and not args.overwrite:
        raise CommandError(f"--output {args.output} exists (pass --overwrite to replace it)")
    tokens = learn_wordpiece_vocab(args.inputs, args.vocab_size, lowercase=args.lowercase,
                                   num_reserved=args.num_reserved)
    write_vocab_file(tokens, args.output)
    print(f"wrote {len(tokens)} tokens to {args.output} ({'uncased' if args.lowercase else 'cased'})")
    return EXIT_OK


# --------------------------------------------------------------------------------------------- pretrain-data

def _add_pretrain_data(subparsers: argparse._SubParsersAction) -> None:
    from bert_keras.data.pair_config import PairConfig

    defaults = PairConfig()

    parser = subparsers.add_parser(
        "pretrain-data", help="write NSP sentence pairs of a raw-text corpus as sharded TFRecords",
        description="Stream a corpus (one sentence per line, blank line between documents) into TFRecord shards of "
                    "unmasked next-sentence pairs, for corpora that do not fit in memory; `bert-keras pretrain "
                    "--data-dir` reads them back (masking happens there, anew every epoch).")
    parser.add_argument("--input", dest="inputs", nargs="+", required=True, metavar="PATH")
    parser.add_argument("--vocab", required=True)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--cased", dest="lowercase", action="store_false")
    parser.add_argument("--max-seq-length", type=int, default=defaults.max_seq_length)
    parser.add_argument("--short-seq-prob", type=float, default=defaults.short_seq_prob)
    parser.add_argument("--dupe-factor", type=int, default=defaults.dupe_factor)
    parser.add_argument("--segmented-words", action="store_true",
                        help="the corpus separates words with spaces (segmented Chinese): record word boundaries "
                             "for whole-word masking")
    parser.add_argument("--num-shards", type=int, default=8, help="files to write (>= the number of workers)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--overwrite", action="store_true")
    parser.set_defaults(run=_run_pretrain_data)


def _run_pretrain_data(args: argparse.Namespace) -> int:
    from bert_keras.data.pair_config import PairConfig
    from bert_keras.data.pretraining import write_pretraining_tfrecords
    from bert_keras.text import BertTokenizer

    config = PairConfig(max_seq_length=args.max_seq_length, short_seq_prob=args.short_seq_prob,
                        dupe_factor=args.dupe_factor, seed=args.seed)
    tokenizer = BertTokenizer(args.vocab, lowercase=args.lowercase)
    metadata = write_pretraining_tfrecords(args.inputs, args.output_dir, tokenizer, config,
                                           num_shards=args.num_shards, overwrite=args.overwrite,
                                           segmented=args.segmented_words)
    print(f"wrote {metadata['num_pairs']} pairs ({metadata['random_next_pairs']} random next) in "
          f"{len(metadata['pairs_per_shard'])} shards to {args.output_dir}")
    return EXIT_OK


# -------------------------------------------------------------------------------------------------- pretrain

def _add_pretrain(subparsers: argparse._SubParsersAction) -> None:
    from bert_keras.training.pretraining_config import add_pretraining_arguments

    parser = subparsers.add_parser(
        "pretrain", help="pretrain BERT (masked LM + next sentence) with model.fit",
        description="Pretrain a BERT encoder from raw text or TFRecord shards. Rerun the same command after an "
                    "interruption to resume from the last backup; the encoder lands in OUTPUT_DIR/encoder.")
    add_pretraining_arguments(parser)
    parser.set_defaults(run=_run_pretrain)


def _run_pretrain(args: argparse.Namespace) -> int:
    from bert_keras.training.pretraining import build_pretraining
    from bert_keras.training.pretraining_config import config_from_args

    run = build_pretraining(config_from_args(args))
    run.model.fit(run.dataset, **run.fit_kwargs)
    encoder_dir = run.export_encoder()
    if encoder_dir:
        print(f"pretrained encoder written to {encoder_dir}")
    return EXIT_OK


# -------------------------------------------------------------------------------------------------- datasets

def _add_datasets(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "datasets", help="write train/test splits of the bundled real data (reviews, wnut, review-qa, msra, "
                         "chinese-sentiment) or the Chinese pretraining corpus (chinese-pretraining)",
        description="Write seeded train/test splits of the offline corpora in the formats `finetune` reads: "
                    "reviews (sentiment CSV), wnut (WNUT-16 NER, CoNLL), review-qa (QA built from real review "
                    "sentences, SQuAD JSON), msra (MSRA Chinese NER in BMES, CoNLL), chinese-sentiment (Chinese "
                    "product and book reviews, CSV), chinese-pretraining (People's Daily 1998 and the msra and "
                    "chinese-sentiment training text, word-segmented, without any of their dev/test text: for "
                    "`pretrain --segmented-words`; needs jieba).")
    parser.add_argument("name", choices=DATASETS)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=_run_datasets)


def _run_datasets(args: argparse.Namespace) -> int:
    from bert_keras.assets.datasets import write_dataset

    for split, path in write_dataset(args.name, args.output_dir, seed=args.seed).items():
        print(f"{split}: {path}")
    return EXIT_OK


# -------------------------------------------------------------------------------------------------- finetune

def _add_finetune(subparsers: argparse._SubParsersAction) -> None:
    from bert_keras.training.finetuning_config import add_finetuning_arguments

    parser = subparsers.add_parser(
        "finetune", help="fine-tune a checkpoint on a task (classify, ner, qa) with model.fit",
        description="Fine-tune a BERT checkpoint on labelled data. Keeps the best epoch by the task's validation "
                    "metric and writes OUTPUT_DIR/model (for evaluate, predict, export) and OUTPUT_DIR/metrics.json. "
                    "A non-empty OUTPUT_DIR is refused unless --overwrite replaces the run in it.")
    add_finetuning_arguments(parser)
    parser.set_defaults(run=_run_finetune)


def _run_finetune(args: argparse.Namespace) -> int:
    from bert_keras.training.finetuning import build_finetuning
    from bert_keras.training.finetuning_config import config_from_args

    run = build_finetuning(config_from_args(args), overwrite=args.overwrite)
    run.model.fit(run.train_dataset, **run.fit_kwargs)
    metrics = run.finish()
    print(f"{run.task.main_metric}: validation {metrics['validation'][run.task.main_metric]:.4f}"
          + (f", test {metrics['test'][run.task.main_metric]:.4f}" if "test" in metrics else "")
          + f" (best epoch {metrics['best_epoch']}); model written to {os.path.join(args.output_dir, 'model')}")
    return EXIT_OK


# -------------------------------------------------------------------------------------------------- evaluate

def _add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="score a fine-tuned model on labelled data",
        description="Compute the task's metrics (accuracy / macro-F1, entity F1, SQuAD EM/F1) of a fine-tuned "
                    "model directory on a labelled file, print them and optionally write them as JSON.")
    parser.add_argument("--model", required=True, metavar="DIR", help="OUTPUT_DIR/model of `bert-keras finetune`")
    parser.add_argument("--data", required=True, metavar="FILE", help="labelled data in the task's format")
    parser.add_argument("--output", metavar="FILE", help="write the metrics here as JSON")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.set_defaults(run=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from bert_keras.tasks import load_trained_task
    from bert_keras.training.task_callbacks import scalar_metrics

    trained = load_trained_task(args.model)
    data = trained.task.read(args.data)
    metrics = trained.task.evaluate(trained.model, data, args.batch_size)
    if args.output:
        from bert_keras.atomic_io import write_text

        write_text(args.output, json.dumps(metrics, indent=2) + "\n")
    for name, value in scalar_metrics(metrics).items():
        print(f"{name}: {value:.4f}" if isinstance(value, float) and not value.is_integer() else f"{name}: {value:g}")
    return EXIT_OK


# --------------------------------------------------------------------------------------------------- predict

def _add_predict(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="run a fine-tuned model on a file (or texts) and write predictions as JSON lines",
        description="Predict with a fine-tuned model directory: labels and probabilities (classify), tags and "
                    "entities per word (ner), answer text and offsets (qa). Labels in the input are not needed.")
    parser.add_argument("--model", required=True, metavar="DIR", help="OUTPUT_DIR/model of `bert-keras finetune`")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", metavar="FILE", help="input in the task's format")
    source.add_argument("--text", nargs="+", help="raw texts (single-text classification and NER models)")
    parser.add_argument("--output", metavar="FILE", help="JSON lines to write (default: stdout)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.set_defaults(run=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    from bert_keras.tasks import load_trained_task

    trained = load_trained_task(args.model)
    if args.text:  # raw text straight into the model's own readable outputs (the exported signatures' rules)
        texts, model = list(args.text), trained.model
        if trained.spec.task == "classify" and not trained.spec.text_pair_column:
            rows = model.predict_labels(texts, args.batch_size)
        elif trained.spec.task == "ner":
            rows = model.predict_entities(texts, args.batch_size)
        else:
            raise CommandError("--text works for single-text classification and NER models; use --data (a "
                               "text pair CSV, or SQuAD JSON for qa)")
        rows = [{"text": text, **row} for text, row in zip(texts, rows)]
    else:
        rows = trained.task.predict(trained.model, trained.task.read(args.data, labelled=False), args.batch_size)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if args.output:
        from bert_keras.atomic_io import write_text

        write_text(args.output, text)
        print(f"wrote {len(rows)} predictions to {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


# ------------------------------------------------------------------------------------------------- fill-mask

def _add_fill_mask(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fill-mask", help="top-k tokens for each [MASK] in texts, from a checkpoint with a masked-LM head",
        description="Print the most likely tokens for every [MASK] written in the texts.")
    parser.add_argument("--checkpoint", required=True, metavar="DIR",
                        help="a checkpoint with a masked-LM head (e.g. OUTPUT_DIR/encoder of `bert-keras pretrain`)")
    parser.add_argument("texts", nargs="+", help='e.g. "The capital of France is [MASK]."')
    parser.add_argument("--top-k", type=int, default=5)
    parser.set_defaults(run=_run_fill_mask)


def _run_fill_mask(args: argparse.Namespace) -> int:
    from bert_keras.tasks.fill_mask import FillMask

    fill = FillMask.from_checkpoint(args.checkpoint)
    for text, masks in zip(args.texts, fill(args.texts, top_k=args.top_k)):
        print(text)
        for number, candidates in enumerate(masks, 1):
            shown = ", ".join(f"{c.token} {c.score:.3f}" for c in candidates)
            print(f"  [MASK] {number}: {shown}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------- export

EXPORT_FORMATS = ("saved_model", "tflite", "openvino")


def _add_export(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="export a fine-tuned model (or a checkpoint's encoder) as a SavedModel, TFLite or OpenVINO",
        description="saved_model: <base>/<name>/<version>/ for TF Serving, raw strings in (tokenization in the "
                    "graph), written atomically and op-checked against TF Serving 2.12. tflite: float32, float16 "
                    "and int8 id-input models and a tokenizer-inside model in one directory. openvino: the same layout "
                    "and API as saved_model, the model run by OpenVINO (model.xml/.bin, which OpenVINO Model Server "
                    "also serves, ids in) and tokenization by the same TF ops (text/).")
    parser.add_argument("--model", required=True, metavar="DIR",
                        help="OUTPUT_DIR/model of `bert-keras finetune`, or a checkpoint directory (--task embed)")
    parser.add_argument("--task", choices=("classify", "ner", "qa", "embed"), default=None,
                        help="default: the fine-tuned model's task; embed: sentence vectors from the encoder")
    parser.add_argument("--format", choices=EXPORT_FORMATS, default="saved_model")
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="saved_model: the model base path (TF Serving's --model_base_path parent); "
                             "tflite: the directory to write")
    parser.add_argument("--name", default=None, help="saved_model, openvino: model name (default: the task)")
    parser.add_argument("--version", type=int, default=None,
                        help="saved_model, openvino: version number (default: one past the highest present)")
    parser.add_argument("--max-seq-length", type=int, default=None,
                        help="embed only (default: the fine-tuned length, or 128 for a checkpoint)")
    parser.add_argument("--variants", nargs="+", default=None, metavar="VARIANT",
                        help="tflite: some of float32 float16 int8 text (default: all that apply to the task)")
    parser.add_argument("--precision", choices=("float32", "bfloat16", "auto"), default="float32",
                        help="saved_model: bfloat16 runs the encoder's matrix products in bfloat16 (~1.5x faster on "
                             "CPUs with AVX512_BF16 or AMX, slower elsewhere; outputs stay float32). openvino: how "
                             "the server runs the model: float32, bfloat16, or auto (bfloat16 only where the CPU "
                             "has native bf16). See docs/EXPORT.md for their accuracy")
    parser.add_argument("--skip-op-check", action="store_true",
                        help="saved_model: do not refuse ops TF Serving 2.12-2.19 lacks")
    parser.add_argument("--overwrite", action="store_true", help="tflite: replace an existing --output")
    parser.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from bert_keras.export import load_export_source

    if args.format == "tflite" and args.precision != "float32":
        raise CommandError(f"--precision {args.precision} is for saved_model and openvino; TFLite has its own "
                           "float16 and int8 variants")
    if args.format == "saved_model" and args.precision == "auto":
        raise CommandError("--precision auto is for openvino (chosen where it runs); a SavedModel's precision is "
                           "fixed at export: float32 or bfloat16")
    source = load_export_source(args.model, task=args.task, max_seq_length=args.max_seq_length,
                                precision="float32" if args.format == "openvino" else args.precision)
    if args.format == "openvino":  # converts the float32 model; the precision is how the server runs it
        from bert_keras.export import export_openvino

        result = export_openvino(source, args.output, args.name or source.task, version=args.version,
                                 precision=args.precision, check_ops=not args.skip_op_check)
        print(f"wrote {result.path} (signatures: {', '.join(result.signatures)}; OpenVINO {args.precision}; max abs "
              f"diff vs TensorFlow {result.max_abs_diff:.2e})")
        return EXIT_OK
    if args.format == "saved_model":
        from bert_keras.export import export_saved_model

        result = export_saved_model(source, args.output, args.name or source.task, version=args.version,
                                    check_ops=not args.skip_op_check)
        print(f"wrote {result.path} (signatures: {', '.join(result.signatures)})")
        return EXIT_OK
    from bert_keras.export import export_tflite, tflite_variants

    variants = args.variants or tflite_variants(source)
    result = export_tflite(source, args.output, variants=variants, overwrite=args.overwrite)
    print(json.dumps({"directory": result.directory, "sizes_bytes": result.sizes}))
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------- serve

def _add_serve(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve exported SavedModels over TF Serving's gRPC and REST APIs",
        description="A server that speaks TensorFlow Serving's API (PredictionService, ModelService, REST "
                    "/v1/models) over the export layout <base>/<name>/<version>/, polling for new versions. "
                    "Flags follow tensorflow_model_server's. Stops gracefully on SIGTERM / Ctrl-C.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model_base_path", "--model-base-path", metavar="DIR",
                        help="a model's directory of numeric versions (with --model_name)")
    source.add_argument("--model_config_file", "--model-config-file", metavar="FILE",
                        help="a TF Serving models.config (ModelServerConfig text proto)")
    parser.add_argument("--model_name", "--model-name", default="default", help="name of --model_base_path's model")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: this machine only)")
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (default 8500)")
    parser.add_argument("--rest_api_port", "--rest-api-port", type=int, default=8501,
                        help="REST port (default 8501; 0: no REST API, as in TF Serving)")
    parser.add_argument("--enable_batching", "--enable-batching", action="store_true",
                        help="batch concurrent requests (BatchingParameters defaults unless a file is given)")
    parser.add_argument("--batching_parameters_file", "--batching-parameters-file", metavar="FILE",
                        help="a TF Serving batching.config (BatchingParameters text proto); implies batching")
    parser.add_argument("--file_system_poll_wait_seconds", "--file-system-poll-wait-seconds", type=float,
                        default=1.0, help="how often base paths are scanned for new versions")
    parser.add_argument("--max_message_bytes", "--max-message-bytes", type=int, default=64 * 1024 * 1024,
                        help="largest gRPC message / REST body accepted")
    parser.add_argument("--grace_seconds", "--grace-seconds", type=float, default=10.0,
                        help="on SIGTERM, how long in-flight requests may take to finish; the process exits "
                             "within this (+1 s) whatever clients do")
    parser.add_argument("--max_num_load_retries", "--max-num-load-retries", type=int, default=5,
                        help="retries of a model version that failed to load (TF Serving's default 5)")
    parser.add_argument("--load_retry_interval_micros", "--load-retry-interval-micros", type=int,
                        default=60_000_000, help="wait between load retries (TF Serving's default 1 min)")
    parser.add_argument("--ssl_config_file", "--ssl-config-file", metavar="FILE",
                        help="TLS for gRPC and REST: an SSLConfig text proto (server_key, server_cert, custom_ca, "
                             "client_verify for mutual TLS), as TF Serving's")
    parser.add_argument("--allow_reload_config", "--allow-reload-config", action="store_true",
                        help="accept ModelService.HandleReloadConfigRequest (off by default: it lets any client "
                             "that reaches the port repoint or drop models)")
    parser.add_argument("--rest_api_num_threads", "--rest-api-num-threads", type=int, default=32,
                        help="REST requests running at once")
    parser.add_argument("--max_connections", "--max-connections", type=int, default=1024,
                        help="open REST connections at once (503 beyond)")
    parser.add_argument("--rest_api_timeout_in_ms", "--rest-api-timeout-in-ms", type=int, default=30_000,
                        help="a REST request not run within this is answered 504 instead (TF Serving's default)")
    parser.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from bert_keras.serving import (
        BatchingParameters,
        ModelServer,
        ServerOptions,
        read_model_server_config,
        single_model_config,
    )
    from bert_keras.serving.config import SSLConfig
    from bert_keras.serving.http_server import HttpLimits
    from bert_keras.serving.model_manager import LoadRetryPolicy

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    if args.model_config_file:
        config = read_model_server_config(args.model_config_file)
    else:
        if not os.path.isdir(args.model_base_path):
            raise CommandError(f"--model_base_path {args.model_base_path}: not a directory")
        config = single_model_config(args.model_name, args.model_base_path)
    batching = None
    if args.batching_parameters_file:
        batching = BatchingParameters.from_file(args.batching_parameters_file)
    elif args.enable_batching:
        batching = BatchingParameters()
    positive = ("rest_api_num_threads", "max_connections", "rest_api_timeout_in_ms")
    for flag in ("max_num_load_retries", "load_retry_interval_micros") + positive:
        minimum = 1 if flag in positive else 0
        if getattr(args, flag) < minimum:
            raise CommandError(f"--{flag} must be >= {minimum}, got {getattr(args, flag)}")
    options = ServerOptions(
        host=args.host, grpc_port=args.port, rest_port=args.rest_api_port or None, batching=batching,
        poll_seconds=args.file_system_poll_wait_seconds, max_message_bytes=args.max_message_bytes,
        retry=LoadRetryPolicy(args.max_num_load_retries, args.load_retry_interval_micros / 1e6),
        ssl=SSLConfig.from_file(args.ssl_config_file) if args.ssl_config_file else None,
        allow_reload_config=args.allow_reload_config,
        http=HttpLimits(threads=args.rest_api_num_threads, max_connections=args.max_connections,
                        request_timeout_seconds=args.rest_api_timeout_in_ms / 1000))
    server = ModelServer(config, options).start()
    print(f"serving {', '.join(server.manager.model_names())}: gRPC {server.grpc_address}"
          + (f", REST {server.rest_url}" if server.rest_url else ""), flush=True)

    def shut_down(signum, frame):
        threading.Thread(target=server.stop, args=(args.grace_seconds,), daemon=True).start()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    server.wait()
    if not server.drained:  # a request still runs past the grace period: do not let its thread hold the exit
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_OK)
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------- query

def _add_query(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "query", help="query a TF Serving API server (ours or tensorflow_model_server) over gRPC or REST",
        description="Classify texts (the Classify API), tag them (NER exports), answer questions (QA exports), "
                    "score a labelled CSV through the server, or print the model's version status.")
    parser.add_argument("--model", "--model_name", dest="model", required=True, help="the served model's name")
    parser.add_argument("--api", choices=("grpc", "rest"), default="grpc")
    parser.add_argument("--address", default=None,
                        help="grpc: host:port (default 127.0.0.1:8500); rest: URL (default http://127.0.0.1:8501)")
    parser.add_argument("--version", type=int, default=None, help="a specific version (default: the latest)")
    parser.add_argument("--timeout", type=float, default=30.0, help="deadline per call, seconds")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", nargs="+", help="texts to classify")
    what.add_argument("--tag", nargs="+", metavar="TEXT", help="texts to tag (NER export)")
    what.add_argument("--question", help="a question (QA export; with --context)")
    what.add_argument("--data", metavar="CSV", help="classify every row's text column; accuracy if it has labels")
    what.add_argument("--status", action="store_true", help="print the model's versions and states")
    parser.add_argument("--context", help="the passage for --question")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--batch-size", type=int, default=32, help="--data: texts per request")
    parser.set_defaults(run=_run_query)


def _run_query(args: argparse.Namespace) -> int:
    from bert_keras.serving import ServingError

    try:
        return _query(args)
    except ServingError as error:
        raise CommandError(f"{error.code.name}: {error.message}") from None


def _query(args: argparse.Namespace) -> int:
    from bert_keras.serving import GrpcClient, RestClient

    if args.api == "grpc":
        client = GrpcClient(args.address or "127.0.0.1:8500", args.model, version=args.version, timeout=args.timeout)
    else:
        client = RestClient(args.address or "http://127.0.0.1:8501", args.model, version=args.version,
                            timeout=args.timeout)
    if args.status:
        print(json.dumps(client.status()))
    elif args.text:
        for text, result in zip(args.text, client.classify(args.text)):
            print(json.dumps({"text": text, "label": result.label, "score": round(result.score, 4)},
                             ensure_ascii=False))
    elif args.tag:
        for text, tagged in zip(args.tag, client.tag_entities(args.tag)):
            print(json.dumps({"text": text, "words": [[w.word, w.label, w.start, w.end] for w in tagged.words],
                              "entities": [[e.type, e.text, e.start, e.end] for e in tagged.entities]},
                             ensure_ascii=False))
    elif args.question:
        if args.context is None:
            raise CommandError("--question needs --context")
        answer = client.answer([args.question], [args.context])[0]
        print(json.dumps({"answer": answer.text, "start": answer.start, "end": answer.end,
                          "score": round(answer.score, 4)}, ensure_ascii=False))
    else:
        _query_file(client, args)
    return EXIT_OK


def _query_file(client, args: argparse.Namespace) -> None:
    """Classify a CSV's texts through the server; print the accuracy against its labels when it has them."""

    from bert_keras.data.classification import read_classification_file

    examples = read_classification_file(args.data, text_column=args.text_column, label_column=args.label_column,
                                        require_labels=False)
    start, predicted = time.perf_counter(), []
    for i in range(0, len(examples.texts), args.batch_size):
        predicted += [r.label for r in client.classify(examples.texts[i:i + args.batch_size])]
    seconds = time.perf_counter() - start
    line = f"{len(predicted)} texts classified through {args.api} in {seconds:.1f} s"
    if examples.labels is not None:
        correct = sum(p == str(label) for p, label in zip(predicted, examples.labels))
        line += f"; accuracy {correct / len(predicted):.4f} against the {args.label_column!r} column"
    print(line)


# ------------------------------------------------------------------------------------------------- benchmark

# What `bert-keras benchmark` offers, named here so `bert-keras --help` imports no benchmark (their functions are in
# bert_keras/benchmarks/registry.py; tests/benchmarks checks the two agree).
BENCHMARK_NAMES = ("tokenize", "infer", "train", "serve", "tflite", "pretrain", "finetune", "export", "profile",
                   "pretraining-pays", "pretraining-pays-english")
BENCHMARK_PATH_OPTIONS = {
    "model": "a fine-tuned model directory (export, serve; default runs/reviews/model)",
    "data": "a labelled CSV of held-out texts (export; default data/reviews/test.csv)",
    "checkpoint": "a Hugging Face BERT checkpoint directory (infer, tflite; default the bundled all-MiniLM-L6-v2)",
    "work_dir": "where pretraining-pays(-english) keeps its stages and resumes them (default "
                "out/pretraining-pays, out/pretraining-pays-english)"}


def _add_benchmark(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmark", help="measure bert-keras against its reference (transformers, keras-hub, ...) in one run",
        description="Run one benchmark, print its figures and write them as JSON. Speed benchmarks time a "
                    "reference in the same process: tokenize (vs transformers' Rust tokenizer), infer (vs "
                    "transformers PyTorch, keras-hub, ONNX Runtime and OpenVINO), profile (our time per op class "
                    "vs OpenVINO's layers), train (vs a PyTorch loop), serve (server vs in "
                    "process), tflite (vs the SavedModel). Quality benchmarks: pretrain, finetune, export, "
                    "pretraining-pays (a Chinese BERT pretrained here vs random init on MSRA NER and sentiment; "
                    "hours, resumable), pretraining-pays-english (MiniLM pretrained further on the reviews vs as "
                    "is). "
                    "docs/BENCHMARKS.md has the measured figures. Needs the dev-side dependencies "
                    "(pip install -r requirements-dev.txt).")
    parser.add_argument("name", choices=BENCHMARK_NAMES, help="which benchmark")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs, figures meaningless")
    parser.add_argument("--json", default=None, help="where to write the figures (default out/benchmarks/NAME.json)")
    for option, text in BENCHMARK_PATH_OPTIONS.items():
        parser.add_argument("--" + option.replace("_", "-"), dest=option, default=None, help=text)
    parser.set_defaults(run=_run_benchmark)


def _run_benchmark(args: argparse.Namespace) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from bert_keras.benchmarks import registry  # here, not at the top: it imports torch and every benchmark

    registry.run_benchmark(args.name, quick=args.quick, json_path=args.json,
                           **{option: getattr(args, option) for option in BENCHMARK_PATH_OPTIONS})
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------- main

SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_convert, _add_vocab, _add_pretrain_data, _add_pretrain, _add_datasets, _add_finetune, _add_evaluate,
    _add_predict, _add_fill_mask, _add_export, _add_serve, _add_query, _add_benchmark)


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
    except USER_ERRORS as error:
        print(f"bert-keras {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE


def _one_line(error: BaseException) -> str:
    """An error's message on one line (multi-line messages such as checkpoint mismatches are joined)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
