"""Run SavedModel signatures the way TensorFlow Serving does, in a process with only TensorFlow + tf-text.

    python fresh_loader.py JOBS.json RESULTS.json

Each job is {"path", "signature", "inputs": {name: {"dtype", "values"}}}; string values are base64. Every job
runs twice: through tf.saved_model.load, and through the TF1 session loader with the "serve" tag and the
SignatureDef's tensor names (TF Serving's SavedModelBundle path). Outputs come back as lists (strings base64).
"""

import base64
import json
import os
import sys

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402,F401  (registers the tf-text ops, as TF Serving bundles them)


def decode(spec):
    if spec["dtype"] == "string":
        return np.array([base64.b64decode(v) for v in spec["values"]], dtype=object).reshape(spec.get("shape", [-1]))
    return np.array(spec["values"], dtype=spec["dtype"])


def encode(array):
    array = np.asarray(array)
    if array.dtype == object:
        return {"dtype": "string", "shape": list(array.shape),
                "values": [base64.b64encode(v).decode() for v in array.reshape(-1)]}
    return {"dtype": str(array.dtype), "shape": list(array.shape), "values": array.tolist()}


def main():
    jobs = json.load(open(sys.argv[1]))
    results, models = [], {}
    for job in jobs:
        inputs = {name: decode(spec) for name, spec in job["inputs"].items()}
        if job["path"] not in models:
            models[job["path"]] = tf.saved_model.load(job["path"])
        eager = models[job["path"]].signatures[job["signature"]](**{k: tf.constant(v) for k, v in inputs.items()})
        with tf.compat.v1.Session(graph=tf.Graph()) as session:
            meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], job["path"])
            signature = meta_graph.signature_def[job["signature"]]
            fetched = session.run({k: v.name for k, v in signature.outputs.items()},
                                  {signature.inputs[k].name: v for k, v in inputs.items()})
        results.append({"eager": {k: encode(v.numpy()) for k, v in eager.items()},
                        "session": {k: encode(v) for k, v in fetched.items()},
                        "method_name": signature.method_name})
    json.dump({"results": results, "bert_keras_loaded": "bert_keras" in sys.modules}, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
