"""Task models (classifier, token classifier, question answerer, masked LM) against transformers' BertFor* models
with the same random weights: logits and losses; plus serialization."""

import keras
import numpy as np
import pytest
import torch
from hf_bert_reference import random_batch, random_hf_bert

from bert_keras.checkpoints import load_hf_checkpoint
from bert_keras.checkpoints.task_heads import assign_task_head
from bert_keras.errors import InvalidInputError
from bert_keras.modeling.classifier import BertClassifier
from bert_keras.modeling.question_answerer import BertQuestionAnswerer
from bert_keras.modeling.token_classifier import BertTokenClassifier

LENGTHS = [20, 7, 13]


def _load(model_class, tmp_path_factory, build, seed, **config):
    import transformers

    torch.manual_seed(seed)
    reference = random_hf_bert(model_class=getattr(transformers, model_class), seed=seed)
    for key, value in config.items():
        setattr(reference.config, key, value)
    if config:  # rebuild with the head size the config now names
        reference = getattr(transformers, model_class)(reference.config).eval()
    directory = tmp_path_factory.mktemp(model_class)
    reference.save_pretrained(directory)
    loaded = load_hf_checkpoint(directory)
    model = build(loaded.encoder)
    assert assign_task_head(model, loaded.head_tensors, str(directory))
    return reference, model


def _torch_inputs(batch):
    return dict(input_ids=torch.tensor(batch["token_ids"], dtype=torch.long),
                token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long),
                attention_mask=torch.tensor(batch["padding_mask"], dtype=torch.long))


@pytest.fixture(scope="module")
def batch():
    return random_batch(99, LENGTHS, seed=4)


def test_classifier_equals_bert_for_sequence_classification(tmp_path_factory, batch):
    reference, model = _load("BertForSequenceClassification", tmp_path_factory,
                             lambda e: BertClassifier(e, num_classes=3), seed=1, num_labels=3)
    labels = np.array([2, 0, 1])
    with torch.no_grad():
        expected = reference(**_torch_inputs(batch), labels=torch.tensor(labels))
    logits = np.asarray(model(batch))
    np.testing.assert_allclose(logits, expected.logits.numpy(), atol=2e-5)
    model.compile()
    loss = float(model.compute_loss(y=labels, y_pred=logits))
    assert loss == pytest.approx(float(expected.loss), abs=1e-5)


def test_multi_label_loss_equals_bce_with_logits(tmp_path_factory, batch):
    reference, model = _load("BertForSequenceClassification", tmp_path_factory,
                             lambda e: BertClassifier(e, num_classes=4, multi_label=True), seed=2, num_labels=4,
                             problem_type="multi_label_classification")
    labels = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]], np.float32)
    with torch.no_grad():
        expected = reference(**_torch_inputs(batch), labels=torch.tensor(labels))
    model.compile()
    loss = float(model.compute_loss(y=labels, y_pred=model(batch)))
    assert loss == pytest.approx(float(expected.loss), abs=1e-5)


def test_class_weights_scale_examples_as_keras_class_weight(tmp_path_factory, batch):
    encoder = load_hf_checkpoint(_save_random(tmp_path_factory)).encoder
    model = BertClassifier(encoder, num_classes=2)
    model.compile()
    logits = np.asarray(model(batch))
    labels, weights = np.array([0, 1, 1]), np.array([0.5, 2.0, 2.0], np.float32)
    ce = -np.log(np.exp(logits[np.arange(3), labels]) / np.exp(logits).sum(-1))
    loss = float(model.compute_loss(y=labels, y_pred=logits, sample_weight=weights))
    assert loss == pytest.approx(float((ce * weights).sum() / 3), abs=1e-6)


def _save_random(tmp_path_factory):
    directory = tmp_path_factory.mktemp("random_bert")
    random_hf_bert(seed=7).save_pretrained(directory)
    return directory


def test_token_classifier_equals_bert_for_token_classification(tmp_path_factory, batch):
    reference, model = _load("BertForTokenClassification", tmp_path_factory,
                             lambda e: BertTokenClassifier(e, num_labels=5), seed=3, num_labels=5)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, batch["token_ids"].shape)
    first_piece = (rng.random(labels.shape) < 0.6) & (batch["padding_mask"] > 0)
    hf_labels = np.where(first_piece, labels, -100)  # transformers ignores -100; we weight those 0
    with torch.no_grad():
        expected = reference(**_torch_inputs(batch), labels=torch.tensor(hf_labels))
    logits = np.asarray(model(batch))
    mask = batch["padding_mask"] > 0
    np.testing.assert_allclose(logits[mask], expected.logits.numpy()[mask], atol=2e-5)
    model.compile()
    loss = float(model.compute_loss(y=labels, y_pred=logits, sample_weight=first_piece.astype(np.float32)))
    assert loss == pytest.approx(float(expected.loss), abs=1e-5)


def test_question_answerer_equals_bert_for_question_answering(tmp_path_factory, batch):
    reference, model = _load("BertForQuestionAnswering", tmp_path_factory, BertQuestionAnswerer, seed=4)
    starts, ends = np.array([3, 0, 5]), np.array([6, 0, 9])
    with torch.no_grad():
        expected = reference(**_torch_inputs(batch), start_positions=torch.tensor(starts),
                             end_positions=torch.tensor(ends))
    out = model(batch)
    mask = batch["padding_mask"] > 0
    np.testing.assert_allclose(np.asarray(out["start"])[mask], expected.start_logits.numpy()[mask], atol=2e-5)
    np.testing.assert_allclose(np.asarray(out["end"])[mask], expected.end_logits.numpy()[mask], atol=2e-5)
    assert np.all(np.asarray(out["start"])[~mask] < -1e8)  # padding can never be an answer
    model.compile()
    # transformers does not mask padding, so its loss includes exp(padding logits); compare on an unpadded row
    loss = float(model.compute_loss(y={"start": starts, "end": ends}, y_pred=out))
    logits_start, logits_end = np.asarray(out["start"], np.float64), np.asarray(out["end"], np.float64)

    def ce(logits, targets):
        shifted = logits - logits.max(-1, keepdims=True)
        return -(shifted[np.arange(3), targets] - np.log(np.exp(shifted).sum(-1)))

    assert loss == pytest.approx(float(np.mean((ce(logits_start, starts) + ce(logits_end, ends)) / 2)), abs=1e-5)
    full = np.array([0])  # row 0 has no padding: there both losses agree exactly
    with torch.no_grad():
        row0 = reference(**{k: v[full] for k, v in _torch_inputs(batch).items()},
                         start_positions=torch.tensor(starts[full]), end_positions=torch.tensor(ends[full]))
    row_loss = float(model.compute_loss(y={"start": starts[full], "end": ends[full]},
                                        y_pred={k: np.asarray(v)[full] for k, v in out.items()}))
    assert row_loss == pytest.approx(float(row0.loss), abs=1e-5)


def test_task_model_survives_keras_save_and_load(tmp_path_factory, batch, tmp_path):
    encoder = load_hf_checkpoint(_save_random(tmp_path_factory)).encoder
    model = BertTokenClassifier(encoder, num_labels=3)
    model.compile(optimizer="adam")
    model.optimizer.build(model.trainable_variables)
    path = str(tmp_path / "ner.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(restored(batch)), np.asarray(model(batch)), atol=1e-6)
    assert restored.num_labels == 3


def test_head_shape_mismatch_is_reported(tmp_path_factory):
    from bert_keras.errors import CheckpointMismatchError

    reference, _ = _load("BertForSequenceClassification", tmp_path_factory,
                         lambda e: BertClassifier(e, num_classes=3), seed=5, num_labels=3)
    directory = tmp_path_factory.mktemp("three_labels")
    reference.save_pretrained(directory)
    loaded = load_hf_checkpoint(directory)
    with pytest.raises(CheckpointMismatchError, match=r"wrong shape: classifier.weight"):
        assign_task_head(BertClassifier(loaded.encoder, num_classes=2), loaded.head_tensors, str(directory))


def test_mean_pooling_reads_the_mean_of_transformers_token_vectors(tmp_path_factory, batch):
    """pooling="mean": logits = dense(mean of the unpadded token vectors), the vectors taken from transformers'
    BertModel with the same weights; padding does not move them; the NSP-trained pooler is left out, and an HF
    classification head (trained on the pooler's output) is not loaded onto the mean."""
    import transformers

    reference, _ = _load("BertForSequenceClassification", tmp_path_factory,
                         lambda e: BertClassifier(e, num_classes=3), seed=6, num_labels=3)
    directory = tmp_path_factory.mktemp("classifier_head")
    reference.save_pretrained(directory)
    loaded = load_hf_checkpoint(directory)
    model = BertClassifier(loaded.encoder, num_classes=3, pooling="mean")
    model.load_checkpoint_heads(loaded.head_tensors, str(directory))
    kernel, bias = (np.asarray(w) for w in model.get_layer("classifier").weights)
    assert not np.allclose(kernel, reference.classifier.weight.detach().numpy().T)  # the HF head was not loaded
    with torch.no_grad():
        hidden = transformers.BertModel(reference.config).eval()
        hidden.load_state_dict(reference.bert.state_dict())
        tokens = hidden(**_torch_inputs(batch)).last_hidden_state.numpy()
    mask = batch["padding_mask"][:, :, None].astype(np.float64)
    mean = (tokens * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(np.asarray(model(batch)), mean @ kernel + bias, atol=2e-5)
    padded = {k: np.pad(v, ((0, 0), (0, 4))) for k, v in batch.items()}  # four more padding positions
    np.testing.assert_allclose(np.asarray(model(padded)), np.asarray(model(batch)), atol=1e-5)
    assert model.encoder.pooler.trainable is False
    assert model.get_config()["pooling"] == "mean"
    with pytest.raises(InvalidInputError, match=r"pooling 'max' is unknown; expected one of \('cls', 'mean'\)"):
        BertClassifier(loaded.encoder, num_classes=3, pooling="max")
