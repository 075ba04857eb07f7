"""Does a checkpoint read a token's neighbours? Per layer and head, the attention a token gives to the token before
and after it, against what uniform attention would give, and how alike neighbouring position embeddings are
(bert_keras.modeling.attention_locality explains the figures).

TEXTS is a file with one text a line, or a .conll file (each sentence's words joined by spaces: tokenized word by
word, as the NER task does). Prints a table, and with --json writes the figures.

    .venv/bin/python scripts/attention_locality.py CHECKPOINT TEXTS [--max-texts 256] [--sequence-length 128]
"""

from __future__ import annotations

import argparse
import json

from bert_keras.atomic_io import write_text
from bert_keras.checkpoints import load_checkpoint
from bert_keras.data.conll import read_conll
from bert_keras.errors import InvalidInputError
from bert_keras.modeling.attention_locality import LOCAL_FACTOR, attention_locality, locality_summary
from bert_keras.text.preprocessor import BertPreprocessor
from bert_keras.text.tokenizer import BertTokenizer


def read_texts(path: str, limit: int) -> list[str]:
    """The first `limit` texts of `path` (see the module docstring for the two formats)."""
    if path.endswith(".conll"):
        texts = [" ".join(sentence.words) for sentence in read_conll(path)]
    else:
        with open(path, encoding="utf-8") as f:
            texts = [line.strip() for line in f if line.strip()]
    if not texts:
        raise InvalidInputError(f"{path}: no texts in it")
    return texts[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="any checkpoint bert_keras.load_checkpoint reads, with a vocab.txt")
    parser.add_argument("texts", help="one text a line, or a .conll file")
    parser.add_argument("--max-texts", type=int, default=256)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--lowercase", action=argparse.BooleanOptionalAction, default=None,
                        help="default: what the checkpoint says, else lower-case")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    loaded = load_checkpoint(args.checkpoint)
    if loaded.vocab_path is None:
        raise InvalidInputError(f"{args.checkpoint}: no vocab.txt to tokenize the texts with")
    lowercase = args.lowercase if args.lowercase is not None else loaded.lowercase is not False
    preprocessor = BertPreprocessor(BertTokenizer(loaded.vocab_path, lowercase=lowercase),
                                    sequence_length=args.sequence_length, padding="longest")
    figures = attention_locality(loaded.encoder, preprocessor(read_texts(args.texts, args.max_texts)))
    print(f"uniform attention gives a neighbour {figures['uniform']:.3f}")
    print("layer  head  previous  next   self")
    for layer, heads in enumerate(figures["previous"]):
        for head in range(len(heads)):
            print(f"{layer:5d} {head:5d} {figures['previous'][layer][head]:9.3f} {figures['next'][layer][head]:6.3f} "
                  f"{figures['self'][layer][head]:6.3f}")
    summary = locality_summary(figures)
    print(f"strongest neighbour head: {summary['strongest_neighbour_attention']:.3f} "
          f"({summary['strongest_neighbour_vs_uniform']:.1f}x uniform); heads giving a neighbour >= {LOCAL_FACTOR}x "
          f"uniform: {summary['local_heads']} of {summary['heads']}")
    print(f"position embeddings: cosine of neighbours {figures['position_cosine_adjacent']:.3f}, "
          f"10 apart {figures['position_cosine_distance_10'] or float('nan'):.3f}")
    if args.json:
        write_text(args.json, json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
