"""Attention probabilities and locality figures against transformers' own attentions, counted by hand."""

import numpy as np
import pytest
from hf_bert_reference import random_batch, random_hf_bert

from bert_keras.checkpoints import load_hf_checkpoint
from bert_keras.modeling.attention_locality import attention_locality

LENGTHS = [24, 9, 17, 6]


@pytest.fixture(scope="module")
def reference():
    model = random_hf_bert(seed=11)
    model.set_attn_implementation("eager")  # the SDPA kernels do not return attention probabilities
    return model


@pytest.fixture(scope="module")
def encoder(reference, tmp_path_factory):
    directory = tmp_path_factory.mktemp("hf_locality")
    reference.save_pretrained(directory)
    return load_hf_checkpoint(directory).encoder


@pytest.fixture(scope="module")
def batch(reference):
    return random_batch(reference.config.vocab_size, LENGTHS, seed=2)


@pytest.fixture(scope="module")
def reference_attentions(reference, batch):
    import torch

    with torch.no_grad():
        out = reference(input_ids=torch.tensor(batch["token_ids"]), token_type_ids=torch.tensor(batch["segment_ids"]),
                        attention_mask=torch.tensor(batch["padding_mask"]), output_attentions=True)
    return [a.numpy() for a in out.attentions]


def test_attention_probabilities_equal_transformers(encoder, batch, reference_attentions):
    ours = encoder.attention_probabilities(batch)
    assert len(ours) == len(reference_attentions)
    for got, expected in zip(ours, reference_attentions):
        assert got.shape == expected.shape
        np.testing.assert_allclose(np.asarray(got), expected, atol=1e-6)


def test_locality_figures_equal_a_hand_count(encoder, batch, reference, reference_attentions):
    figures = attention_locality(encoder, batch)
    heads = reference.config.num_attention_heads
    for layer, probs in enumerate(reference_attentions):
        for head in range(heads):
            for name, offset in (("previous", -1), ("next", 1), ("self", 0)):
                values = [probs[row, head, q, q + offset] for row, n in enumerate(LENGTHS) for q in range(n)
                          if 0 <= q + offset < n]
                assert figures[name][layer][head] == pytest.approx(np.mean(values), abs=1e-6), (name, layer, head)
    # Uniform attention over n real tokens gives each 1/n; averaged over the n - 1 queries that have a previous one.
    weights = [(n - 1, 1 / n) for n in LENGTHS]
    assert figures["uniform"] == pytest.approx(sum(c * u for c, u in weights) / sum(c for c, _ in weights))
    table = reference.embeddings.position_embeddings.weight.detach().numpy()[:max(LENGTHS)]

    def cosine(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    for key, distance in (("position_cosine_adjacent", 1), ("position_cosine_distance_10", 10)):
        expected = np.mean([cosine(table[i], table[i + distance]) for i in range(len(table) - distance)])
        assert figures[key] == pytest.approx(expected, abs=1e-6)


def test_locality_summary_by_hand():
    from bert_keras.modeling.attention_locality import locality_summary

    # Head 0 gives its neighbours 0.1 and 0.2, head 1 0.5 and 0.05; uniform is 0.1, so only head 1 reaches 3x.
    figures = {"previous": [[0.1, 0.5]], "next": [[0.2, 0.05]], "uniform": 0.1}
    assert locality_summary(figures) == {"strongest_neighbour_attention": 0.5, "strongest_neighbour_vs_uniform": 5.0,
                                         "local_heads": 1, "heads": 2}
