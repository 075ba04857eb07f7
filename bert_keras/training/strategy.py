"""The one place that builds tf.distribute strategies for model.fit, and holds the Keras workaround they need.

`build_strategy("default" | "mirrored" | "multi_worker" | "tpu")`:
- default: the current default strategy (one device: the GPU if there is one, else the CPU).
- mirrored: tf.distribute.MirroredStrategy over all local GPUs, or over the devices you name (for example two
  logical CPU devices made with `split_cpu(2)`, which is how the tests run it on a CPU-only machine).
- multi_worker: tf.distribute.MultiWorkerMirroredStrategy over the cluster in TF_CONFIG (one process per
  machine, every process runs the same script). Keras 3's model.fit fails under it out of the box
  (keras-team/keras#20585); `build_strategy` installs `patch_keras_for_multi_worker()`, below.
- tpu: tf.distribute.TPUStrategy on the TPU at `tpu` (a grpc:// address, a Cloud TPU name, or "local").

Chief rule (for checkpoints and exports): with no TF_CONFIG, or a cluster with a "chief" task, the chief is that
task; in a workers-only cluster it is worker 0. Only the chief writes shared files.
"""

from __future__ import annotations

import os
from typing import Sequence

import tensorflow as tf
from keras.src import tree
from keras.src.backend.tensorflow import trainer as keras_trainer

from bert_keras.errors import InvalidInputError
from bert_keras.json_files import parse_json

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
DATA_SHARDING = ("off", "data", "file")  # tf.data.experimental.AutoShardPolicy members, lower-cased


def _tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw.strip():
        return {}
    return parse_json(raw, "TF_CONFIG", expect=dict)


def is_chief() -> bool:
    """Whether this process is the one that writes checkpoints, logs and exports (see the module docstring)."""
    config = _tf_config()
    task = config.get("task") or {}
    if not task:
        return True
    task_type, index = task.get("type"), int(task.get("index", 0))
    if task_type == "chief":
        return True
    cluster = config.get("cluster") or {}
    return task_type == "worker" and index == 0 and "chief" not in cluster


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """Worker processes that `strategy` spans (1 for default, mirrored and single-host TPU)."""
    return int(getattr(strategy.extended, "_num_workers", 1) or 1)


def worker_index(strategy: tf.distribute.Strategy) -> int:
    """This process's index among the workers `strategy` spans (0 when there is one)."""
    if num_workers(strategy) == 1:
        return 0
    return int(strategy.cluster_resolver.task_id)


def split_cpu(count: int) -> list[str]:
    """Split the physical CPU into `count` logical devices (before TensorFlow initialises); their names.

    Lets MirroredStrategy run over several replicas on a CPU-only machine, for tests and for trying a
    multi-device configuration before renting accelerators.
    """
    if count < 1:
        raise InvalidInputError(f"count must be >= 1, got {count!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    existing = tf.config.get_logical_device_configuration(cpu)
    if existing is None or len(existing) != count:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
        except RuntimeError as error:
            raise RuntimeError(f"cannot split the CPU into {count} devices after TensorFlow has initialised its "
                               "devices: call split_cpu before building any model or tensor") from error
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def build_strategy(name: str = "default", tpu: str | None = None,
                   devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """The tf.distribute strategy called `name` (one of STRATEGIES; see the module docstring).

    Args:
        name: "default", "mirrored", "multi_worker" or "tpu".
        tpu: for "tpu": the TPU's address or name ("local" for a TPU VM's own chips).
        devices: for "mirrored": the devices to mirror over (default: every local GPU, else the CPU).
    """
    if name not in STRATEGIES:
        raise InvalidInputError(f"strategy {name!r} is unknown; expected one of {STRATEGIES}")
    if name != "tpu" and tpu:
        raise InvalidInputError(f"--tpu {tpu!r} is only used with strategy 'tpu', not {name!r}")
    if name != "mirrored" and devices:
        raise InvalidInputError(f"devices are only used with strategy 'mirrored', not {name!r}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)
    if name == "multi_worker":
        config = _tf_config()
        if not config.get("cluster") or not config.get("task"):
            raise InvalidInputError("strategy 'multi_worker' needs TF_CONFIG with 'cluster' and 'task', e.g. "
                                    '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                                    '"task": {"type": "worker", "index": 0}}')
        patch_keras_for_multi_worker()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if not tpu:
        raise InvalidInputError("strategy 'tpu' needs the TPU's address or name (--tpu grpc://10.0.0.2:8470, a "
                                "Cloud TPU name, or 'local' on a TPU VM)")
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="" if tpu == "local" else tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def data_sharding_options(policy: str) -> tf.data.Options:
    """tf.data options for input under a multi-worker strategy: "data" (every worker reads everything and keeps
    its share), "file" (each worker reads its own files; the pipeline must have files as its only source and at
    least as many files as workers), or "off" (the pipeline shards itself, e.g. `tfrecord_pairs(num_workers=...)`)."""
    if policy not in DATA_SHARDING:
        raise InvalidInputError(f"sharding policy {policy!r} is unknown; expected one of {list(DATA_SHARDING)}")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = getattr(tf.data.experimental.AutoShardPolicy,
                                                                policy.upper())
    return options


# ------------------------------------------------------------------------------------------------------------
# Keras 3 + MultiWorkerMirroredStrategy (keras-team/keras#20585). Two steps of Keras' TensorFlow trainer fail
# under a multi-worker collective strategy:
#   1. `_maybe_symbolic_build` averages the first distributed batch with strategy.reduce("MEAN", nest,
#      axis=None), which CollectiveAllReduce cannot do for a nest of PerReplica values; the batch is only needed
#      for its structure and shapes, so one local replica's value serves.
#   2. `reduce_per_replica` reduces the step's scalar logs with strategy.reduce("MEAN", v, axis=0), which fails
#      on rank-0 tensors ("Invalid reduction dimension 0"); scalars are reduced with axis=None instead.
# Both replacements keep Keras' own code path for every other strategy. To remove the workaround once Keras is
# fixed: delete this section and its one call in build_strategy; tests/training/test_strategies.py
# (test_two_multi_worker_processes_end_with_identical_weights) then tells whether Keras alone works.

_PATCHED = False


def patch_keras_for_multi_worker() -> None:
    """Install the two fixes above into keras' TensorFlow trainer (idempotent, process-wide)."""
    global _PATCHED
    if _PATCHED:
        return
    original_build = keras_trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = keras_trainer.reduce_per_replica

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or not keras_trainer._collective_all_reduce_multi_worker(strategy) or iterator is None:
            return original_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:
            batch = next(batches)
            data_batch = tree.map_structure(
                lambda value: strategy.experimental_local_results(value)[0]
                if isinstance(value, tf.distribute.DistributedValues) else value, batch)
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if keras_trainer._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean"):
            return tree.map_structure(
                lambda value: strategy.reduce("MEAN", value, axis=0 if value.shape.rank else None), values)
        return original_reduce(values, strategy, reduction)

    keras_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    keras_trainer.reduce_per_replica = reduce_per_replica
    _PATCHED = True
