"""What counting neighbours scores at masked-character prediction: a yardstick for a Chinese MLM's accuracy.

Counts, over the pretraining corpus of `bert-keras benchmark pretraining-pays` (its WORK_DIR/corpus/corpus.txt),
which character follows each character and which one sits between each pair of characters; then hides a seeded
15% of the characters of the held-out MSRA test sentences (WORK_DIR/data/msra/test.conll) one at a time and
predicts each from its visible neighbours. A network whose masked-LM accuracy stays below these figures has not
learned to read the characters next to a mask (BENCHMARKS.md, pretraining-pays). The counting is plain Python,
about 30 s.

    .venv/bin/python scripts/masked_char_baseline.py [--work-dir out/pretraining-pays]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random

from bert_keras.data.conll import read_conll

START, END = "\x02", "\x03"  # sentence bounds, so the first and last characters have neighbours too


def sentences_of_corpus(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return ["".join(line.split()).lower() for line in f if line.strip()]


def neighbour_scores(train: list[str], test: list[str], rate: float = 0.15, seed: int = 0) -> dict:
    """Accuracy of the most frequent character, the most frequent follower of the left neighbour, and the most
    frequent character between both neighbours (falling back to the left one when that pair was never seen)."""
    unigram: collections.Counter = collections.Counter()
    after: dict = collections.defaultdict(collections.Counter)
    between: dict = collections.defaultdict(collections.Counter)
    for sentence in train:
        s = START + sentence + END
        for i in range(1, len(s) - 1):
            unigram[s[i]] += 1
            after[s[i - 1]][s[i]] += 1
            between[s[i - 1], s[i + 1]][s[i]] += 1
    most_frequent = unigram.most_common(1)[0][0]

    def best_after(left: str) -> str:
        return after[left].most_common(1)[0][0] if after.get(left) else most_frequent

    draw = random.Random(seed)
    hits = collections.Counter()
    targets = 0
    for sentence in test:
        s = START + sentence + END
        for i in range(1, len(s) - 1):
            if draw.random() >= rate:
                continue
            targets += 1
            hits["unigram"] += s[i] == most_frequent
            hits["left_neighbour"] += s[i] == best_after(s[i - 1])
            pair = between.get((s[i - 1], s[i + 1]))
            hits["both_neighbours"] += s[i] == (pair.most_common(1)[0][0] if pair else best_after(s[i - 1]))
    return {"targets": targets, **{f"{name}_accuracy": count / targets for name, count in hits.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", default=os.path.join("out", "pretraining-pays"))
    args = parser.parse_args()
    train = sentences_of_corpus(os.path.join(args.work_dir, "corpus", "corpus.txt"))
    test = ["".join(s.words).lower() for s in read_conll(os.path.join(args.work_dir, "data", "msra", "test.conll"))]
    print(json.dumps(neighbour_scores(train, test), indent=2))


if __name__ == "__main__":
    main()
