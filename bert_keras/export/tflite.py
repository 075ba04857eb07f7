"""TFLite export: the id-input model in float32, float16 and dynamic-range int8, and a variant with the tokenizer
inside (tensorflow-text's FastBertTokenizer TFLite kernels).

    <output_dir>/
        model.float32.tflite  model.float16.tflite  model.int8.tflite   token_ids, segment_ids, padding_mask in
        model.text.tflite                                              (classify one text, embed) a string in
        vocab.txt [labels.txt] model_card.json

The models are converted from a SavedModel written by keras.export.ExportArchive: converting a Keras 3 model
wrapped in a plain tf.Module leaves its variables unresolved and outputs NaN (STACK.md). The text variant is
converted with builtin ops plus tf-text's custom ops (not the Flex delegate, which LiteRT's interpreters lack):
run it with `TfliteModel` (bert_keras.export.tflite_runner), which registers them.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Callable, Sequence

import keras
import tensorflow as tf

from bert_keras.atomic_io import atomic_directory
from bert_keras.errors import InvalidInputError
from bert_keras.export.signatures import text_spec
from bert_keras.export.sources import ExportSource, load_export_source
from bert_keras.serving_contract import DEFAULT_SIGNATURE, IDS_SIGNATURE, TEXT, TOKEN_IDS
from bert_keras.text import BertPreprocessor, BertTokenizer

ID_VARIANTS = ("float32", "float16", "int8")
TEXT_VARIANT = "text"
VARIANTS = ID_VARIANTS + (TEXT_VARIANT,)
TEXT_TASKS = ("classify", "embed")  # one text in, dense outputs: what the TFLite tokenizer kernels can serve


def tflite_file(variant: str) -> str:
    return f"model.{variant}.tflite"


def tflite_variants(source: ExportSource) -> tuple[str, ...]:
    """Every variant that applies to `source`: the id models, plus "text" for one-text classify and embed."""
    text = source.task in TEXT_TASKS and not getattr(source.signatures, "pair", False)
    return VARIANTS if text else ID_VARIANTS


@dataclasses.dataclass
class TfliteExport:
    """Written TFLite models: {variant: path}, their sizes in bytes, and the model card."""

    directory: str
    paths: dict[str, str]
    sizes: dict[str, int]
    card: dict


def _text_endpoint(source: ExportSource) -> tuple[BertPreprocessor, Callable]:
    """text -> the task outputs + token_ids, with the TFLite-mode tokenizer and dense packing."""
    signatures = source.signatures
    tokenizer = BertTokenizer(source.vocabulary, lowercase=signatures.tokenizer.lowercase, mode="tflite")
    tail = source.spec.tail_tokens if source.spec is not None else 0
    preprocessor = BertPreprocessor(tokenizer, sequence_length=source.max_seq_length, padding="longest",
                                    tail_tokens=tail)
    model, ids_outputs = signatures.model, signatures.ids_outputs

    def serve(text):
        inputs = preprocessor(text)
        return {**ids_outputs(inputs, model(inputs, training=False)), TOKEN_IDS: inputs[TOKEN_IDS]}

    return preprocessor, serve


def _convert(saved_model_dir: str, variant: str) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[DEFAULT_SIGNATURE])
    if variant in ("float16", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # alone: dynamic-range int8 weights
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if variant == TEXT_VARIANT:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.allow_custom_ops = True
    return converter.convert()


def _write_endpoint(path: str, trackables: list, function: Callable, input_signature: list) -> None:
    archive = keras.export.ExportArchive()
    for trackable in trackables:
        archive.track(trackable)
    archive.add_endpoint(DEFAULT_SIGNATURE, function, input_signature=input_signature)
    archive.write_out(path, verbose=False)


def export_tflite(source: ExportSource | keras.Model | str | os.PathLike, output_dir: str,
                  variants: Sequence[str] = VARIANTS, task: str | None = None,
                  max_seq_length: int | None = None, overwrite: bool = False) -> TfliteExport:
    """Convert a task model (in memory, `.keras`, a model directory) or a checkpoint (as "embed") to TFLite
    models in `output_dir`.

    `output_dir` appears complete or not at all. The "text" variant is made for classification of one text and
    for embeddings; asking for it on another task raises InvalidInputError (a ValueError).
    """
    if not isinstance(source, ExportSource):
        source = load_export_source(source, task=task, max_seq_length=max_seq_length)
    if source.precision != "float32":
        raise InvalidInputError(f"TFLite models are converted from the float32 model (float16 and int8 are TFLite's "
                                f"own variants); a {source.precision} export is for SavedModels only")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise InvalidInputError(f"TFLite variants {list(variants)!r}: expected some of {VARIANTS}")
    if TEXT_VARIANT in variants and TEXT_VARIANT not in tflite_variants(source):
        raise InvalidInputError(f"the {TEXT_VARIANT!r} TFLite variant (tokenizer inside) serves classification of "
                                f"one text and embeddings, not this {source.task!r} model: export the id variants "
                                f"{ID_VARIANTS} and tokenize in the app")
    paths, sizes = {}, {}
    with atomic_directory(output_dir, overwrite=overwrite) as staging, tempfile.TemporaryDirectory() as work:
        ids_function, ids_signature = source.signatures.endpoints()[IDS_SIGNATURE]
        ids_dir = os.path.join(work, "ids")
        _write_endpoint(ids_dir, [source.model], ids_function, ids_signature)
        if TEXT_VARIANT in variants:
            text_dir = os.path.join(work, "text")
            preprocessor, serve = _text_endpoint(source)
            _write_endpoint(text_dir, [source.model, preprocessor], serve, [text_spec(TEXT)])
        for variant in variants:
            data = _convert(text_dir if variant == TEXT_VARIANT else ids_dir, variant)
            with open(os.path.join(staging, tflite_file(variant)), "wb") as f:
                f.write(data)
            paths[variant] = os.path.join(os.path.abspath(output_dir), tflite_file(variant))
            sizes[variant] = len(data)
        source.write_vocab(staging)
        source.write_labels(staging)
        card = source.write_model_card(staging, {"format": "tflite", "files": {v: tflite_file(v) for v in variants},
                                                 "sizes_bytes": sizes})
    return TfliteExport(os.path.abspath(output_dir), paths, sizes, card)
