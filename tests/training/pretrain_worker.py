"""A pretraining process for the strategy tests: `build_pretraining` + `model.fit` under the strategy named on
the command line, then this process's per-step losses and final weights written to `--result` (.npz).

Runs in its own process because logical CPU devices and multi-worker collectives must be configured before
TensorFlow starts, which the pytest process has long done. TF_CONFIG (multi_worker) comes from the environment.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bert_keras.training.pretraining import build_pretraining  # noqa: E402
from bert_keras.training.pretraining_config import PretrainingConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True, help="PretrainingConfig fields as JSON")
    parser.add_argument("--result", required=True, help=".npz to write: losses + final weights")
    args = parser.parse_args()
    run = build_pretraining(PretrainingConfig(**json.loads(args.config)))
    losses = []

    class RecordLoss(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            losses.append([float(logs["loss"]), float(logs["mlm_loss"]), float(logs["nsp_loss"])])

    fit_kwargs = dict(run.fit_kwargs)
    fit_kwargs["callbacks"] = [*fit_kwargs["callbacks"], RecordLoss()]
    run.model.fit(run.dataset, **fit_kwargs)
    weights = {f"w{i:03d}": w for i, w in enumerate(run.model.get_weights())}
    np.savez(args.result, losses=np.array(losses), replicas=run.strategy.num_replicas_in_sync, **weights)
    print(f"done: {len(losses)} steps, {run.strategy.num_replicas_in_sync} replicas", flush=True)


if __name__ == "__main__":
    sys.exit(main())
