"""OpenVINO export: the task model's id part converted by OpenVINO's own converter, the text part kept in TF.

    <base_path>/<name>/<version>/
        model.xml, model.bin       the task model: ENCODER_INPUTS in -> its raw outputs (logits, or the encoder's
                                   vectors), float32 weights; what OpenVINO Model Server serves from this directory
        text/                      a SavedModel with, for each serving signature S that runs the model, `S__pre`
                                   (S's inputs -> the encoder inputs: tokenization and packing, exact as in every
                                   export) and `S__post` (S's inputs + the model's outputs -> S's outputs: labels,
                                   word offsets, answer spans); a signature that never runs the model is kept whole
        openvino_signatures.json   how the parts compose (`OpenVinoManifest`): precision, limits, signatures
        model_card.json

Why: the profile in docs/BENCHMARKS.md shows TensorFlow's CPU graph is matrix-product bound at batch 32 and
overhead bound at batch 1, where OpenVINO's CPU plugin is faster; serving the id part with OpenVINO and the text
part with the same TF ops keeps the API and the tokenization of every other export.

The split needs no second copy of each task's signatures: each endpoint is re-traced with a stand-in for the
model (`_ModelStandIn`) that records what the endpoint feeds the model (pre) or returns the outputs OpenVINO
computed (post). An endpoint that calls the model more than once is refused.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from bert_keras.atomic_io import write_text
from bert_keras.errors import InvalidInputError, MissingDependencyError
from bert_keras.export.saved_model import SIGNATURE_METHODS, write_saved_model
from bert_keras.export.signatures import Endpoint, ids_spec
from bert_keras.export.sources import ExportSource, load_export_source
from bert_keras.export.versioning import new_version
from bert_keras.serving_contract import (
    ENCODER_INPUTS,
    OPENVINO_MANIFEST,
    OPENVINO_MODEL,
    OPENVINO_MODEL_OUTPUT_PREFIX,
    OPENVINO_POST,
    OPENVINO_PRE,
    OPENVINO_PRECISIONS,
    OPENVINO_TEXT_MODEL,
    PADDING_MASK,
    PREDICT_METHOD,
    SEGMENT_IDS,
    TOKEN_IDS,
)

# The name of a task model's output when it is one tensor (classifier and token classifier logits).
SINGLE_OUTPUT = "logits"
# Largest |OpenVINO float32 - TensorFlow| on the export's own check batch before the export is refused: float32
# conversion differs by ~1e-6 (docs/EXPORT.md); anything near 1e-3 is a conversion fault, not rounding.
FIDELITY_TOLERANCE = 1e-4


@dataclasses.dataclass
class OpenVinoExport:
    """A written OpenVINO export: its directory, version, signature names, model card and the export's own check
    (max |OpenVINO float32 - TensorFlow| of the model outputs on a padded batch)."""

    path: str
    version: int
    signatures: list[str]
    card: dict
    max_abs_diff: float


class _ModelStandIn:
    """Stands in for the task model while an endpoint is re-traced.

    "pre": records the inputs of each call and returns zeros shaped like the model's outputs (what the endpoint
    computes from them is never fetched). "post": returns `fed` (the outputs OpenVINO computed), in the model's
    output structure.
    """

    def __init__(self, output_specs: dict[str, tf.TensorSpec], single: bool):
        self.output_specs, self.single = output_specs, single
        self.mode, self.calls, self.fed = "pre", [], None

    def __call__(self, inputs, training=False):
        if self.mode == "pre":
            self.calls.append(dict(inputs))
            batch, length = tf.shape(inputs[TOKEN_IDS])[0], tf.shape(inputs[TOKEN_IDS])[1]
            outputs = {name: tf.zeros(tf.stack([batch if i == 0 else length if d is None else d
                                                for i, d in enumerate(spec.shape)]), spec.dtype)
                       for name, spec in self.output_specs.items()}
        else:
            outputs = dict(self.fed)
        return outputs[SINGLE_OUTPUT] if self.single else outputs


def _flat_outputs(outputs) -> dict[str, tf.Tensor]:
    """A task model's outputs as named tensors (one tensor is `SINGLE_OUTPUT`)."""
    return dict(outputs) if isinstance(outputs, dict) else {SINGLE_OUTPUT: outputs}


def _model_endpoint(model: keras.Model) -> Endpoint:
    def run_model(inputs):
        return _flat_outputs(model(inputs, training=False))

    return run_model, [ids_spec()]


def _output_specs(model: keras.Model) -> tuple[dict[str, tf.TensorSpec], bool]:
    """The model's named output specs (from one symbolic trace) and whether it returns a single tensor."""
    outputs = tf.function(lambda x: model(x, training=False)).get_concrete_function(ids_spec()).structured_outputs
    flat = _flat_outputs(outputs)
    return {name: tf.TensorSpec(t.shape, t.dtype, name=OPENVINO_MODEL_OUTPUT_PREFIX + name)
            for name, t in flat.items()}, not isinstance(outputs, dict)


def _pre(function, stand_in: _ModelStandIn):
    def pre(*args):
        stand_in.mode, stand_in.calls = "pre", []
        function(*args)
        if len(stand_in.calls) != 1:
            raise InvalidInputError(f"an OpenVINO export needs each signature to run the model once; this one runs "
                                    f"it {len(stand_in.calls)} times")
        return {name: stand_in.calls[0][name] for name in ENCODER_INPUTS}

    return pre


def _post(function, stand_in: _ModelStandIn):
    def post(*args):
        *inputs, model_outputs = args
        stand_in.mode, stand_in.fed = "post", model_outputs
        try:
            return function(*inputs)
        finally:
            stand_in.mode, stand_in.fed = "pre", None

    return post


def _model_calls(function, input_signature: list, stand_in: _ModelStandIn) -> int:
    """How many times `function` runs the model (a throwaway trace with the stand-in)."""
    stand_in.mode, stand_in.calls = "pre", []
    tf.function(function).get_concrete_function(*input_signature)
    return len(stand_in.calls)


class _SplitSignatures:
    """A task's signatures cut at the model: what `write_saved_model` writes as the export's text/ SavedModel."""

    def __init__(self, signatures, output_specs: dict[str, tf.TensorSpec], single: bool):
        self.stand_in = _ModelStandIn(output_specs, single)
        self.original = signatures
        cut = copy.copy(signatures)
        cut.model = self.stand_in  # the endpoint factories close over `self.model` when called below
        self.split, self.whole, self.names = {}, {}, []
        for name, (function, input_signature) in cut.endpoints().items():
            self.names.append(name)
            if _model_calls(function, input_signature, self.stand_in):
                self.split[name] = (_pre(function, self.stand_in), _post(function, self.stand_in), input_signature)
            else:
                self.whole[name] = (function, input_signature)
        self.output_specs = output_specs

    def trackables(self) -> list:
        return self.original.trackables()

    def endpoints(self) -> dict[str, Endpoint]:
        endpoints = dict(self.whole)
        for name, (pre, post, input_signature) in self.split.items():
            endpoints[name + OPENVINO_PRE] = (pre, input_signature)
            endpoints[name + OPENVINO_POST] = (post, list(input_signature) + [dict(self.output_specs)])
        return endpoints


def _import_openvino():
    try:
        import openvino
    except ModuleNotFoundError as error:
        raise MissingDependencyError("the OpenVINO export needs the openvino package: pip install "
                                     "openvino==2026.4.1 (see requirements-dev.txt)") from error
    return openvino


def _convert_model(model: keras.Model, xml_path: str):
    """Write the model's id endpoint as a SavedModel, convert it with OpenVINO's converter, save it as IR."""
    openvino = _import_openvino()
    with tempfile.TemporaryDirectory() as work:
        archive = keras.export.ExportArchive()
        function, input_signature = _model_endpoint(model)
        archive.add_endpoint("serving_default", function, input_signature=input_signature)
        archive.write_out(work, verbose=False)
        converted = openvino.convert_model(work)
    openvino.save_model(converted, xml_path, compress_to_fp16=False)  # float32 weights; precision is a run choice
    return converted


def _check_batch(vocabulary_size: int, length: int = 16) -> dict[str, np.ndarray]:
    """Two rows of seeded ids, the second padded after 9 tokens: what a real padded batch looks like."""
    rng = np.random.default_rng(0)
    token_ids = rng.integers(1, vocabulary_size, (2, length)).astype(np.int32)
    mask = np.ones((2, length), np.int32)
    mask[1, 9:] = 0
    token_ids[1, 9:] = 0
    segments = np.zeros((2, length), np.int32)
    segments[0, length // 2:] = 1
    return {TOKEN_IDS: token_ids, SEGMENT_IDS: segments, PADDING_MASK: mask}


def _fidelity(model: keras.Model, xml_path: str, vocabulary_size: int) -> float:
    """Max |OpenVINO float32 - TensorFlow| over the model's outputs on `_check_batch`."""
    openvino = _import_openvino()
    batch = _check_batch(vocabulary_size)
    expected = _flat_outputs(model({k: tf.constant(v) for k, v in batch.items()}, training=False))
    compiled = openvino.Core().compile_model(xml_path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = compiled.create_infer_request().infer(batch)
    return max(float(np.abs(got[compiled.output(name)] - np.asarray(value)).max())
               for name, value in expected.items())


def _write_openvino(source: ExportSource, path: str, precision: str, check_ops: bool) -> tuple:
    """Write `source` in the OpenVINO layout at `path` (an empty or new directory; `precision` already checked);
    returns (signature names, manifest, max abs diff of the export's own check)."""
    if source.precision != "float32":
        raise InvalidInputError(f"an OpenVINO export converts the float32 model and chooses its precision when it "
                                f"runs; got a {source.precision} source: load it in float32 and pass "
                                "precision='bfloat16' or 'auto'")
    model = source.model
    output_specs, single = _output_specs(model)
    split = _SplitSignatures(source.signatures, output_specs, single)
    xml_path = os.path.join(path, OPENVINO_MODEL)
    _convert_model(model, xml_path)
    max_abs_diff = _fidelity(model, xml_path, source.signatures.tokenizer.vocabulary_size)
    if not max_abs_diff <= FIDELITY_TOLERANCE:
        raise RuntimeError(f"OpenVINO's conversion of the model differs from TensorFlow by {max_abs_diff:.3g} on the "
                           f"check batch (tolerance {FIDELITY_TOLERANCE:g}); not writing the export")
    write_saved_model(dataclasses.replace(source, signatures=split), os.path.join(path, OPENVINO_TEXT_MODEL),
                      check_ops=check_ops)
    names = split.names
    manifest = {
        "format": "openvino", "model": OPENVINO_MODEL, "text_model": OPENVINO_TEXT_MODEL,
        "inference_precision": precision, "model_inputs": list(ENCODER_INPUTS),
        "model_outputs": {name: {"input": spec.name, "dtype": spec.dtype.name} for name, spec in output_specs.items()},
        "vocabulary_size": int(source.config.vocab_size),
        "max_position_embeddings": int(source.config.max_position_embeddings),
        "signatures": {name: {"method_name": SIGNATURE_METHODS.get(name, PREDICT_METHOD),
                              "runs_model": name in split.split} for name in names},
    }
    write_text(os.path.join(path, OPENVINO_MANIFEST), json.dumps(manifest, indent=2) + "\n")
    return names, manifest, max_abs_diff


def export_openvino(source: ExportSource | keras.Model | str | os.PathLike, base_path: str, name: str,
                    version: int | None = None, task: str | None = None, max_seq_length: int | None = None,
                    precision: str = "float32", check_ops: bool = True) -> OpenVinoExport:
    """Export a task model (or a checkpoint's encoder, task "embed") to `<base_path>/<name>/<version>/` in the
    OpenVINO layout (module doc), written atomically like `export_saved_model`.

    Args:
        source, task, max_seq_length: as in `export_saved_model` (the model is loaded in float32).
        base_path, name, version: where to write.
        precision: how the server runs the model: "float32" (within ~1e-6 of TensorFlow), "bfloat16"
            (OpenVINO's bf16 inference: ~2x faster on CPUs with native bf16, emulated and slow elsewhere), or
            "auto" (bfloat16 where the CPU has native bf16, else float32; see docs/EXPORT.md for the decision
            agreement measured on held-out data).
        check_ops: refuse text-part ops TF Serving 2.12-2.19 lacks (`op_check`).

    Example:
        >>> export = export_openvino("runs/reviews/model", "exports", "reviews")  # doctest: +SKIP
        >>> # bert-keras serve --model_base_path exports/reviews --model_name reviews
    """
    if precision not in OPENVINO_PRECISIONS:
        raise InvalidInputError(f"OpenVINO precision {precision!r} is unknown; expected one of "
                                f"{list(OPENVINO_PRECISIONS)}")
    if not isinstance(source, ExportSource):
        source = load_export_source(source, task=task, max_seq_length=max_seq_length)
    with new_version(base_path, name, version) as (staging, number):
        names, manifest, max_abs_diff = _write_openvino(source, staging, precision, check_ops)
        card = source.write_model_card(staging, {
            "format": "openvino", "name": name, "version": number, "signatures": names, "precision": precision,
            "openvino_max_abs_diff_vs_tensorflow": max_abs_diff})
    return OpenVinoExport(os.path.join(os.path.abspath(base_path), name, str(number)), number, names, card,
                          max_abs_diff)
