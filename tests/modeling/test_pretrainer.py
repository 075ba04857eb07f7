"""BertPretrainer against transformers' BertForPreTraining: logits, loss, heads import/export, weight tying."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hf_bert_reference import random_batch, random_hf_bert

from bert_keras.checkpoints import load_hf_checkpoint
from bert_keras.checkpoints.pretraining_heads import assign_pretraining_heads, hf_head_tensors
from bert_keras.modeling.pretrainer import BertPretrainer

LENGTHS = [24, 9, 17, 6]
POSITIONS = np.array([[1, 5, 20, 0], [2, 3, 7, 0], [4, 16, 0, 0], [1, 0, 0, 0]], np.int32)
WEIGHTS = np.array([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]], np.float32)
NSP_LABELS = np.array([0, 1, 1, 0], np.int32)


@pytest.fixture(scope="module")
def reference():
    import transformers

    return random_hf_bert(model_class=transformers.BertForPreTraining, seed=3)


@pytest.fixture(scope="module")
def pretrainer(reference, tmp_path_factory):
    directory = tmp_path_factory.mktemp("hf_pretraining")
    reference.save_pretrained(directory)
    loaded = load_hf_checkpoint(directory)
    model = BertPretrainer(loaded.encoder)
    assert assign_pretraining_heads(model, loaded.head_tensors, str(directory)) == ["masked_lm", "next_sentence"]
    return model


@pytest.fixture(scope="module")
def batch(reference):
    data = random_batch(reference.config.vocab_size, LENGTHS, seed=5)
    data["mask_positions"] = POSITIONS
    return data


def _reference_outputs(reference, batch, labels=None, next_sentence_label=None):
    import torch

    with torch.no_grad():
        out = reference(input_ids=torch.tensor(batch["token_ids"], dtype=torch.long),
                        token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long),
                        attention_mask=torch.tensor(batch["padding_mask"], dtype=torch.long),
                        labels=labels, next_sentence_label=next_sentence_label)
    return out


def _hf_mlm_labels(batch):
    """transformers' MLM labels for POSITIONS/WEIGHTS: the original token at each real target, -100 elsewhere."""
    labels = np.full(batch["token_ids"].shape, -100, np.int64)
    for row in range(len(LENGTHS)):
        for position, weight in zip(POSITIONS[row], WEIGHTS[row]):
            if weight:
                labels[row, position] = batch["token_ids"][row, position]
    return labels


def _targets(batch):
    """BertPretrainer's y for the same targets (0 at padded predictions)."""
    return {"mlm": np.take_along_axis(batch["token_ids"], POSITIONS, axis=1) * (WEIGHTS > 0), "nsp": NSP_LABELS}


def test_logits_equal_bert_for_pretraining(pretrainer, reference, batch):
    expected = _reference_outputs(reference, batch)
    ours = pretrainer(batch)
    rows = np.arange(len(LENGTHS))[:, None]
    expected_mlm = expected.prediction_logits.numpy()[rows, POSITIONS]
    mlm_diff = np.abs(np.asarray(ours["mlm"]) - expected_mlm)[WEIGHTS > 0].max()
    nsp_diff = np.abs(np.asarray(ours["nsp"]) - expected.seq_relationship_logits.numpy()).max()
    assert mlm_diff < 1e-4, mlm_diff
    assert nsp_diff < 1e-5, nsp_diff


def test_loss_equals_bert_for_pretraining_loss(pretrainer, reference, batch):
    import torch

    expected = _reference_outputs(reference, batch, labels=torch.tensor(_hf_mlm_labels(batch)),
                                  next_sentence_label=torch.tensor(NSP_LABELS, dtype=torch.long)).loss.item()
    pretrainer.compile(optimizer="sgd")
    ours = float(pretrainer.compute_loss(batch, _targets(batch), pretrainer(batch),
                                         {"mlm": WEIGHTS, "nsp": np.ones(4)}))
    assert abs(ours - expected) < 1e-4 * expected, (ours, expected)


def test_masked_lm_output_is_the_token_embedding_transposed(pretrainer, batch):
    """Hand computation of the head: gather, dense + GELU, LayerNorm, then E^T (no kernel of its own) + bias."""
    from scipy.special import erf

    head = pretrainer.masked_lm_head
    assert head.token_embedding is pretrainer.encoder.token_embedding
    assert not any(w.path.endswith("output_kernel") for w in head.weights)
    encoder_inputs = {k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    sequence = np.asarray(pretrainer.encoder(encoder_inputs)["sequence_output"])
    x = np.take_along_axis(sequence, POSITIONS[..., None], axis=1)
    x = x @ head.transform.kernel.numpy() + head.transform.bias.numpy()
    x = 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))
    x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-12)
    x = x * head.layer_norm.gamma.numpy() + head.layer_norm.beta.numpy()
    expected = x @ pretrainer.encoder.token_embedding.embeddings.numpy().T + head.output_bias.numpy()
    np.testing.assert_allclose(np.asarray(pretrainer(batch)["mlm"]), expected, atol=1e-4)
    assert len({id(v) for v in pretrainer.weights}) == len(pretrainer.weights)


def test_exported_heads_load_into_transformers(pretrainer, reference, batch):
    import torch
    import transformers

    other = transformers.BertForPreTraining(reference.config).eval()
    state = {f"bert.{k}": torch.tensor(v) for k, v in _encoder_hf_tensors(pretrainer).items()}
    state.update({k: torch.tensor(v) for k, v in hf_head_tensors(pretrainer).items()})
    missing, unexpected = other.load_state_dict(state, strict=False)
    assert not unexpected and all("position_ids" in m for m in missing), (missing, unexpected)
    expected = _reference_outputs(reference, batch)
    got = _reference_outputs(other, batch)
    assert np.abs(got.prediction_logits.numpy() - expected.prediction_logits.numpy()).max() < 1e-5


def _encoder_hf_tensors(pretrainer):
    from bert_keras.checkpoints.hf import canonical_to_hf
    from bert_keras.checkpoints.layout import encoder_tensors

    out = {}
    for key, array in encoder_tensors(pretrainer.encoder).items():
        name, transpose = canonical_to_hf(key)
        out[name] = np.ascontiguousarray(array.T if transpose else array)
    return out


def test_keras_file_round_trip_keeps_weights_and_the_tie(pretrainer, batch, tmp_path):
    path = str(tmp_path / "pretrainer.keras")
    pretrainer.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, BertPretrainer)
    assert restored.masked_lm_head.token_embedding is restored.encoder.token_embedding
    np.testing.assert_allclose(np.asarray(restored(batch)["mlm"]), np.asarray(pretrainer(batch)["mlm"]),
                               atol=1e-6)


def test_partial_head_is_a_mismatch_error_naming_the_missing_tensor(pretrainer):
    from bert_keras.errors import CheckpointMismatchError

    heads = {"cls.predictions.bias": np.zeros(pretrainer.encoder.config.vocab_size, np.float32)}
    with pytest.raises(CheckpointMismatchError, match="cls/predictions/transform/dense/kernel"):
        assign_pretraining_heads(pretrainer, heads, "some_checkpoint")


def test_fit_lowers_the_loss_on_a_fixed_batch(pretrainer, batch):
    keras.utils.set_random_seed(0)
    model = BertPretrainer.from_config(pretrainer.get_config())
    model.set_weights(pretrainer.get_weights())
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    weights = {"mlm": WEIGHTS, "nsp": np.ones(4, np.float32)}
    data = tf.data.Dataset.from_tensors((batch, _targets(batch), weights)).repeat(30)
    history = model.fit(data, epochs=1, verbose=0)
    logs = history.history
    assert {"loss", "mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy"} <= set(logs)
    final = model.evaluate(data.take(1), verbose=0, return_dict=True)
    assert final["loss"] < 0.5 * logs["loss"][0]


def test_gradients_equal_bert_for_pretraining(pretrainer, reference, batch):
    """Training, not just inference, matches: the gradient of BERT's loss with respect to every weight (encoder,
    both heads, the tied embedding) equals transformers' (dropout off on both sides)."""
    import torch

    reference.zero_grad()
    out = reference(input_ids=torch.tensor(batch["token_ids"], dtype=torch.long),
                    token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long),
                    attention_mask=torch.tensor(batch["padding_mask"], dtype=torch.long),
                    labels=torch.tensor(_hf_mlm_labels(batch)),
                    next_sentence_label=torch.tensor(NSP_LABELS, dtype=torch.long))
    out.loss.backward()
    expected = {name: param.grad.numpy() for name, param in reference.named_parameters()}
    reference.zero_grad()

    pretrainer.compile(optimizer="sgd")
    variables = pretrainer.trainable_variables
    with tf.GradientTape() as tape:
        loss = pretrainer.compute_loss(batch, _targets(batch), pretrainer(batch, training=False),
                                       {"mlm": WEIGHTS, "nsp": np.ones(4, np.float32)})
    ours = {v.path: tf.convert_to_tensor(g).numpy() for v, g in zip(variables, tape.gradient(loss, variables))}
    matched = _variables_of_hf_names(pretrainer, expected)
    assert sorted(path for path, _ in matched.values()) == sorted(ours), "every trainable variable is compared"
    for name, (path, transposed) in matched.items():
        got = ours[path].T if transposed else ours[path]
        error, scale = np.abs(got - expected[name]).max(), np.abs(expected[name]).max()
        assert error <= 1e-4 * scale + 1e-6, (name, error, scale)  # + 1e-6: the key bias gets ~0 (softmax ignores it)


def _variables_of_hf_names(pretrainer, hf_names) -> dict[str, tuple[str, bool]]:
    """HF parameter name -> (our variable path, whether its array is the transpose), matched by value (every
    weight of the random reference is distinct)."""
    arrays = {**{f"bert.{k}": v for k, v in _encoder_hf_tensors(pretrainer).items()}, **hf_head_tensors(pretrainer)}
    by_value = {}
    for variable in pretrainer.trainable_variables:
        value = np.asarray(variable.numpy())
        by_value[value.tobytes()] = (variable.path, False)
        by_value.setdefault(np.ascontiguousarray(value.T).tobytes(), (variable.path, True))
    return {name: by_value[np.ascontiguousarray(arrays[name]).tobytes()] for name in hf_names}
