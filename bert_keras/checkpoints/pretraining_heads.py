"""Masked-LM and next-sentence head weights of pretraining checkpoints (HF BertForPreTraining / BertForMaskedLM,
Google's cls/ variables) into a `BertPretrainer`, and back out in HF names."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from bert_keras.errors import CheckpointMismatchError

# Canonical (Google) head name -> (our variable path, transpose when reading a Google tensor).
_HEADS = {
    "cls/predictions/transform/dense/kernel": ("masked_lm_head/transform/kernel", False),
    "cls/predictions/transform/dense/bias": ("masked_lm_head/transform/bias", False),
    "cls/predictions/transform/LayerNorm/gamma": ("masked_lm_head/layer_norm/gamma", False),
    "cls/predictions/transform/LayerNorm/beta": ("masked_lm_head/layer_norm/beta", False),
    "cls/predictions/output_bias": ("masked_lm_head/output_bias", False),
    "cls/seq_relationship/output_weights": ("next_sentence_head/kernel", True),  # Google stores [2, hidden]
    "cls/seq_relationship/output_bias": ("next_sentence_head/bias", False),
}
MLM_HEAD_NAMES = tuple(n for n in _HEADS if n.startswith("cls/predictions/"))
NSP_HEAD_NAMES = tuple(n for n in _HEADS if n.startswith("cls/seq_relationship/"))
# HF name -> canonical name; HF stores Linear weights [out, in], so dense weights transpose into Keras kernels.
_HF_NAMES = {
    "cls.predictions.transform.dense.weight": "cls/predictions/transform/dense/kernel",
    "cls.predictions.transform.dense.bias": "cls/predictions/transform/dense/bias",
    "cls.predictions.transform.LayerNorm.weight": "cls/predictions/transform/LayerNorm/gamma",
    "cls.predictions.transform.LayerNorm.bias": "cls/predictions/transform/LayerNorm/beta",
    "cls.predictions.bias": "cls/predictions/output_bias",
    "cls.predictions.decoder.bias": "cls/predictions/output_bias",
    "cls.seq_relationship.weight": "cls/seq_relationship/output_weights",
    "cls.seq_relationship.bias": "cls/seq_relationship/output_bias",
}
# Tied to the word embeddings in both formats: nothing to load.
_TIED = ("cls.predictions.decoder.weight",)


def canonical_head_tensors(head_tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Pretraining head tensors under canonical names, Keras layouts; other heads (classifier, QA) are ignored."""
    out = {}
    for name, array in head_tensors.items():
        if name in _TIED:
            continue
        if name in _HF_NAMES:
            canonical = _HF_NAMES[name]
            transpose_hf = canonical.endswith("dense/kernel")
            out[canonical] = array.T if transpose_hf else array
        elif name in _HEADS:
            out[name] = array
    return out


def assign_pretraining_heads(pretrainer, head_tensors: Mapping[str, np.ndarray], source: str) -> list[str]:
    """Load whichever complete heads (masked LM, next sentence) both `head_tensors` and the model (a
    `BertPretrainer` or `BertMaskedLM`) have; returns their names.

    A head is loaded only when all its tensors are present; a partial head or a wrong shape raises
    `CheckpointMismatchError` naming the tensors, before any variable changes.
    """
    tensors = canonical_head_tensors(head_tensors)
    variables = {v.path: v for v in pretrainer.weights}
    plan, loaded, missing, mismatched = [], [], [], []
    for head, names in (("masked_lm", MLM_HEAD_NAMES), ("next_sentence", NSP_HEAD_NAMES)):
        present = [n for n in names if n in tensors]
        if not present or _HEADS[names[0]][0] not in variables:  # absent from the checkpoint or the model
            continue
        missing.extend(n for n in names if n not in tensors)
        for name in present:
            path, transpose = _HEADS[name]
            array = tensors[name].T if transpose else tensors[name]
            expected = tuple(variables[path].shape)
            if tuple(array.shape) != expected:
                mismatched.append((name, expected, tuple(array.shape)))
            plan.append((variables[path], array))
        loaded.append(head)
    if missing or mismatched:
        raise CheckpointMismatchError(source, missing=missing, mismatched=mismatched)
    for variable, array in plan:
        variable.assign(np.asarray(array, dtype=variable.dtype))
    return loaded


def hf_head_tensors(pretrainer) -> dict[str, np.ndarray]:
    """The pretrainer's heads under HF BertForPreTraining names (decoder weight = the tied word embeddings)."""
    variables = {v.path: np.asarray(v.numpy(), np.float32) for v in pretrainer.weights}
    out = {}
    for hf_name, canonical in _HF_NAMES.items():  # the bias twice: transformers keeps both (tied) names
        path, _ = _HEADS[canonical]
        array = variables[path]
        out[hf_name] = array.T if (canonical.endswith("dense/kernel") or canonical.endswith("output_weights")) \
            else array
    out["cls.predictions.decoder.weight"] = variables["token_embedding/embeddings"]
    return out
