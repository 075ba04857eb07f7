"""Shared pieces of the export tests: real sentences, and running SavedModels in a fresh TF-only process."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FRESH_TIMEOUT_SECONDS = 600


def review_texts(count: int, skip: int = 0) -> list[str]:
    from bert_keras.assets.corpora import movie_reviews

    return [text for text, _ in movie_reviews(skip + count)[skip:]]


def wnut_texts(count: int) -> list[str]:
    from bert_keras.assets import asset_path
    from bert_keras.data.conll import read_conll

    return [" ".join(s.words) for s in read_conll(asset_path("wnut_ner"))[:count]]


def string_input(values) -> dict:
    raw = [v.encode("utf-8", "surrogateescape") if isinstance(v, str) else v for v in values]
    return {"dtype": "string", "values": [base64.b64encode(v).decode() for v in raw]}


def int_input(array) -> dict:
    return {"dtype": "int32", "values": np.asarray(array, np.int32).tolist()}


def _decode(spec) -> np.ndarray:
    if spec["dtype"] == "string":
        return np.array([base64.b64decode(v) for v in spec["values"]], dtype=object).reshape(spec["shape"])
    return np.array(spec["values"], dtype=spec["dtype"]).reshape(spec["shape"])


def run_fresh(jobs: dict[str, dict], work_dir: str) -> dict:
    """Run {name: job} in one fresh process (tests/export/fresh_loader.py); {name: {"eager", "session",
    "method_name"}} with numpy outputs, plus "bert_keras_loaded"."""
    names = list(jobs)
    jobs_path, results_path = os.path.join(work_dir, "jobs.json"), os.path.join(work_dir, "results.json")
    with open(jobs_path, "w") as f:
        json.dump([jobs[n] for n in names], f)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, os.path.join(HERE, "fresh_loader.py"), jobs_path, results_path],
                          capture_output=True, text=True, timeout=FRESH_TIMEOUT_SECONDS, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    with open(results_path) as f:
        loaded = json.load(f)
    out = {"bert_keras_loaded": loaded["bert_keras_loaded"]}
    for name, result in zip(names, loaded["results"]):
        out[name] = {"method_name": result["method_name"],
                     **{side: {k: _decode(v) for k, v in result[side].items()} for side in ("eager", "session")}}
    return out
