"""SavedModel export for TF Serving: tokenization in the graph, versioned and atomic, op-checked, with a card.

    <base_path>/<name>/<version>/
        saved_model.pb, variables/      signatures of the task (see the *_signatures modules)
        assets/vocab.txt [labels.txt]   the vocab the graph was built from; label names in id order
        model_card.json                 task, config, vocab hash, labels, max length, source, metrics
"""

from __future__ import annotations

import dataclasses
import os
import tempfile

import keras
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from bert_keras.export.op_check import SAVED_MODEL_FILE, check_saved_model_ops
from bert_keras.export.sources import ExportSource, load_export_source
from bert_keras.export.versioning import new_version
from bert_keras.serving_contract import CLASSIFY_METHOD, CLASSIFY_SIGNATURE

# Signatures TF Serving calls by another method than Predict (ExportArchive writes PREDICT_METHOD for each).
SIGNATURE_METHODS = {CLASSIFY_SIGNATURE: CLASSIFY_METHOD}


@dataclasses.dataclass
class SavedModelExport:
    """A written export: its directory, version number, signature names and model card."""

    path: str
    version: int
    signatures: list[str]
    card: dict


def _set_signature_methods(path: str, methods: dict[str, str]) -> None:
    """Give signatures TF Serving's method names (Classify needs tensorflow/serving/classify)."""
    proto = saved_model_pb2.SavedModel()
    pb_path = os.path.join(path, SAVED_MODEL_FILE)
    with open(pb_path, "rb") as f:
        proto.ParseFromString(f.read())
    changed = False
    for meta_graph in proto.meta_graphs:
        for name, method in methods.items():
            if name in meta_graph.signature_def:
                meta_graph.signature_def[name].method_name = method
                changed = True
    if changed:
        with open(pb_path, "wb") as f:
            f.write(proto.SerializeToString())


def write_saved_model(source: ExportSource, path: str, check_ops: bool = True) -> list[str]:
    """Write `source`'s signatures as a SavedModel at `path` (an empty or new directory); returns their names."""
    archive = keras.export.ExportArchive()
    for trackable in source.signatures.trackables():
        archive.track(trackable)
    names = []
    for name, (function, input_signature) in source.signatures.endpoints().items():
        archive.add_endpoint(name, function, input_signature=input_signature)
        names.append(name)
    with tempfile.TemporaryDirectory() as work:
        # ExportArchive.track keeps only resources its endpoints use, and no graph op reads these files (the
        # vocab is compiled into the tokenizer), so they hang on the archive's root object, which
        # tf.saved_model.save writes: they land in assets/ and in the MetaGraph's asset_file_def.
        root = archive._tf_trackable
        root.vocab_file = tf.saved_model.Asset(source.write_vocab(work))
        labels_path = source.write_labels(work)
        if labels_path is not None:
            root.labels_file = tf.saved_model.Asset(labels_path)
        archive.write_out(path, verbose=False)
    _set_signature_methods(path, SIGNATURE_METHODS)
    if check_ops:
        check_saved_model_ops(path)
    return names


def export_saved_model(source: ExportSource | keras.Model | str | os.PathLike, base_path: str, name: str,
                       version: int | None = None, task: str | None = None, max_seq_length: int | None = None,
                       check_ops: bool = True, precision: str = "float32") -> SavedModelExport:
    """Export a task model (in memory, a `.keras` file or a model directory) or a checkpoint to
    `<base_path>/<name>/<version>/`.

    The version (default: the next number) appears only when complete, so TF Serving, which polls the model
    directory, never loads a partial export; a failure (including the op check) leaves no numeric directory.

    Args:
        source: a task model (`BertClassifier`, `BertTokenClassifier`, `BertQuestionAnswerer`,
            `BertTextEmbedder`), a `.keras` file, a model directory or checkpoint (see `load_export_source`), or
            an `ExportSource`.
        base_path, name, version: where to write.
        task, max_seq_length, precision: as in `load_export_source` (task "embed" exports a task model's encoder).
        check_ops: refuse graphs with ops TF Serving 2.12-2.19 lacks (`op_check`).
    """
    if not isinstance(source, ExportSource):
        source = load_export_source(source, task=task, max_seq_length=max_seq_length, precision=precision)
    with new_version(base_path, name, version) as (staging, number):
        signatures = write_saved_model(source, staging, check_ops=check_ops)
        card = source.write_model_card(staging, {"format": "saved_model", "name": name, "version": number,
                                                 "signatures": signatures})
    return SavedModelExport(os.path.join(os.path.abspath(base_path), name, str(number)), number, signatures, card)
