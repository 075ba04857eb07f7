"""A yardstick for text classification: TF-IDF over character n-grams and a logistic regression (scikit-learn).

What a bag of characters (n = 1) or of characters and character pairs (n <= 2) scores on a split says how much
of a BERT's accuracy needs more than that: a model that reads no order can reach the first, one that reads each
character's neighbour the second. scikit-learn is a dev-side dependency (it comes with seqeval), so it is imported
here only.
"""

from __future__ import annotations

import csv

from bert_keras.errors import InputFileError

NGRAM_ORDERS = (1, 2)
# The regularisation is chosen on the dev split among these inverse strengths, per n-gram order.
C_GRID = (1.0, 4.0, 16.0)


def read_classification_csv(path: str) -> tuple[list[str], list[str]]:
    """(texts, labels) of a CSV with `text` and `label` columns (the files `bert-keras datasets` writes)."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = sorted({"text", "label"} - set(reader.fieldnames or ()))
        if missing:
            raise InputFileError(f"{path}:1: missing column(s) {missing}; expected a header with 'text' and 'label'")
        rows = list(reader)
    return [row["text"] for row in rows], [row["label"] for row in rows]


def ngram_baseline(train: str, dev: str, test: str, orders: tuple[int, ...] = NGRAM_ORDERS) -> dict:
    """Test accuracy of a character n-gram logistic regression for each order in `orders` (n-grams of length 1..n),
    its C chosen on `dev`: {"ngram{n}_test_accuracy", "ngram{n}_dev_accuracy", "ngram{n}_c"} per order."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    (train_x, train_y), (dev_x, dev_y), (test_x, test_y) = map(read_classification_csv, (train, dev, test))
    out: dict = {}
    for n in orders:
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, n), sublinear_tf=True)
        features = vectorizer.fit_transform(train_x)
        dev_features, test_features = vectorizer.transform(dev_x), vectorizer.transform(test_x)
        fits = [LogisticRegression(C=c, max_iter=2000).fit(features, train_y) for c in C_GRID]
        dev_scores = [fit.score(dev_features, dev_y) for fit in fits]
        best = max(range(len(C_GRID)), key=dev_scores.__getitem__)  # the first of equals: the strongest prior
        out[f"ngram{n}_c"] = C_GRID[best]
        out[f"ngram{n}_dev_accuracy"] = float(dev_scores[best])
        out[f"ngram{n}_test_accuracy"] = float(fits[best].score(test_features, test_y))
    return out
