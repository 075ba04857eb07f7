"""`bert-keras datasets NAME`: every ready-made data set by name, written to a directory.

    reviews, wnut, review-qa, msra, chinese-sentiment
                seeded task splits in the readers' formats (`bert_keras.assets.splits`)
    chinese-pretraining
                raw Chinese text for `pretrain --segmented-words`: corpus.txt and corpus_stats.json, with every
                msra and chinese-sentiment dev/test text of the same seed left out (`chinese_pretraining`)
"""

from __future__ import annotations

import os

from bert_keras.assets.chinese_pretraining import write_chinese_pretraining_corpus
from bert_keras.assets.splits import (
    write_chinese_sentiment_splits,
    write_msra_splits,
    write_review_qa,
    write_review_splits,
    write_wnut_splits,
)
from bert_keras.errors import InvalidInputError

DATASETS = ("reviews", "wnut", "review-qa", "msra", "chinese-sentiment", "chinese-pretraining")
_WRITERS = {"reviews": write_review_splits, "wnut": write_wnut_splits, "review-qa": write_review_qa,
            "msra": write_msra_splits, "chinese-sentiment": write_chinese_sentiment_splits,
            "chinese-pretraining": write_chinese_pretraining_corpus}


def write_dataset(name: str, directory: str, seed: int = 0) -> dict[str, str]:
    """Write one of `DATASETS` to `directory`; returns {split or file: path}."""
    if name not in _WRITERS:
        raise InvalidInputError(f"dataset {name!r} is unknown; expected one of {DATASETS}")
    os.makedirs(directory, exist_ok=True)
    return _WRITERS[name](directory, seed=seed)
