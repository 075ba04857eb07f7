"""The English pretraining-pays corpus: training reviews only, never the text of a test review."""

import csv

from bert_keras.benchmarks.pretraining_pays_english import _corpus


def _write(path, texts):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerows([["text", "label"], *[[text, "pos"] for text in texts]])
    return str(path)


def test_corpus_keeps_training_reviews_as_documents_and_drops_any_that_is_a_test_review(tmp_path):
    shared = "Seen it twice. Both times I left early!"
    train = _write(tmp_path / "train.csv", ["A fine film.<br /><br />The cast is great.", shared,
                                            "Dull. Very dull."])
    test = _write(tmp_path / "test.csv", [shared, "Another test review."])
    path, documents, dropped = _corpus(str(tmp_path / "work"), train, test)
    assert (documents, dropped) == (2, 1)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # One sentence a line (HTML breaks gone), a blank line between reviews, no sentence of a test review.
    assert text == "A fine film.\nThe cast is great.\n\nDull.\nVery dull.\n"
