"""The exact-mode preprocessor and the encoder export to a SavedModel that a process with only TensorFlow and
tensorflow-text loads (no bert_keras code), both with tf.saved_model.load and with the TF1 session loader TF Serving
uses."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf

from bert_keras.config import BertConfig
from bert_keras.modeling import BertEncoder
from bert_keras.text import BertPreprocessor, BertTokenizer

TEXTS = ["The capital of France is [MASK].", "straße ½ naïve don´t", "", "   ", "caf\udce9 ok", "🥰 x" * 40]

LOADER = r'''
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tf-text ops)
path, texts = sys.argv[1], [t.encode("utf-8", "surrogateescape") for t in json.loads(sys.argv[2])]
model = tf.saved_model.load(path)  # keep a reference: its variables live as long as it does
out = model.serve(tf.constant(texts))
with tf.compat.v1.Session(graph=tf.Graph()) as sess:
    signature = tf.compat.v1.saved_model.loader.load(sess, ["serve"], path).signature_def["serve"]
    session_out = sess.run({k: v.name for k, v in signature.outputs.items()}, {signature.inputs["text"].name: texts})
print(json.dumps({"bert_keras_loaded": "bert_keras" in sys.modules,
                  "token_ids": out["token_ids"].numpy().tolist(), "pooled": out["pooled"].numpy().tolist(),
                  "session_token_ids": session_out["token_ids"].tolist(),
                  "session_pooled": session_out["pooled"].tolist()}))
'''


def test_saved_model_with_in_graph_tokenizer_runs_without_keras(minilm_vocab, tmp_path):
    preprocessor = BertPreprocessor(BertTokenizer(minilm_vocab), sequence_length=24, padding="longest")
    encoder = BertEncoder(BertConfig.named("tiny", vocab_size=30522, num_hidden_layers=2, hidden_size=32,
                                           num_attention_heads=2, intermediate_size=64))

    def serve(text):
        inputs = preprocessor(text)
        return {"pooled": encoder(inputs)["pooled_output"], "token_ids": inputs["token_ids"]}

    archive = keras.export.ExportArchive()
    archive.track(encoder)
    archive.track(preprocessor)
    archive.add_endpoint("serve", serve, input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    path = str(tmp_path / "saved_model")
    archive.write_out(path, verbose=False)
    raw = [t.encode("utf-8", "surrogateescape") for t in TEXTS]  # the 5th text carries the invalid byte 0xE9
    expected = serve(tf.constant(raw))

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-c", LOADER, path, json.dumps(TEXTS)], capture_output=True,
                            text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["bert_keras_loaded"] is False  # (TensorFlow itself imports keras; our code is not needed)
    ids = expected["token_ids"].numpy().tolist()
    assert loaded["token_ids"] == ids and loaded["session_token_ids"] == ids
    assert ids[0][6] == 103  # [MASK] written in the text stays the mask id inside the exported graph
    np.testing.assert_allclose(loaded["pooled"], expected["pooled"].numpy(), atol=1e-6)
    np.testing.assert_allclose(loaded["session_pooled"], expected["pooled"].numpy(), atol=1e-6)
