"""Pretraining under tf.distribute: MirroredStrategy over 2 CPU devices follows the one-device run, and two
MultiWorkerMirroredStrategy processes on 127.0.0.1 end with identical weights (through model.fit, i.e. with the
Keras workaround in bert_keras/training/strategy.py)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from bert_keras.assets.corpora import review_documents, write_pretraining_corpus
from bert_keras.config import BertConfig
from bert_keras.data.pair_config import PairConfig
from bert_keras.data.pretraining import write_pretraining_tfrecords
from bert_keras.errors import InputFileError, InvalidInputError
from bert_keras.text import BertTokenizer
from bert_keras.training.strategy import build_strategy, data_sharding_options, is_chief

WORKER = os.path.join(os.path.dirname(__file__), "pretrain_worker.py")
TIMEOUT_S = 300
TRAIN_STEPS, STEPS_PER_EPOCH = 12, 6


@pytest.fixture(scope="module")
def base_config(tmp_path_factory, minilm_vocab):
    """A tiny dropout-free pretraining run on real reviews (no dropout: replicas draw different dropout masks)."""
    root = tmp_path_factory.mktemp("strategies")
    corpus = write_pretraining_corpus(str(root / "corpus.txt"), review_documents(limit=150))
    bert_config = str(root / "config.json")
    BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
               max_position_embeddings=64, hidden_dropout_prob=0.0,
               attention_probs_dropout_prob=0.0).save_hf_json(bert_config)
    return dict(vocab=minilm_vocab, inputs=[corpus], bert_config=bert_config, max_seq_length=32,
                max_predictions_per_seq=5, batch_size=16, train_steps=TRAIN_STEPS, steps_per_epoch=STEPS_PER_EPOCH,
                warmup_steps=2, learning_rate=1e-3, verbose=0, seed=3)


def _start(config: dict, result: str, env_extra: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    env.pop("TF_CONFIG", None)
    env.update(env_extra or {})
    return subprocess.Popen([sys.executable, WORKER, "--config", json.dumps(config), "--result", result],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(processes: list[subprocess.Popen]) -> None:
    try:
        outputs = [p.communicate(timeout=TIMEOUT_S)[0] for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    for p, out in zip(processes, outputs):
        assert p.returncode == 0, f"worker exited with {p.returncode}:\n{out[-4000:]}"


def _free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _weights(result) -> list[np.ndarray]:
    return [result[k] for k in sorted(result.files) if k.startswith("w")]


def test_mirrored_on_two_cpu_devices_follows_the_one_device_run(base_config, tmp_path):
    single = dict(base_config, output_dir=str(tmp_path / "single"))
    mirrored = dict(base_config, output_dir=str(tmp_path / "mirrored"), strategy="mirrored", cpu_replicas=2)
    processes = [_start(single, str(tmp_path / "single.npz")), _start(mirrored, str(tmp_path / "mirrored.npz"))]
    _finish(processes)
    one, two = np.load(tmp_path / "single.npz"), np.load(tmp_path / "mirrored.npz")
    assert int(one["replicas"]) == 1 and int(two["replicas"]) == 2
    assert one["losses"].shape == (TRAIN_STEPS, 3)
    # Same data, same masks, same global loss: only float summation order differs.
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-5)
    for a, b in zip(_weights(one), _weights(two)):
        np.testing.assert_allclose(b, a, atol=1e-5)
    assert one["losses"][-1, 1] < one["losses"][0, 1]  # the MLM loss went down: the run really trained


@pytest.fixture(scope="module")
def shard_dir(base_config, tmp_path_factory):
    """The same corpus as TFRecord shards: 4 files, so each of 2 workers reads 2 of its own (file sharding)."""
    directory = tmp_path_factory.mktemp("shards") / "data"
    write_pretraining_tfrecords(base_config["inputs"], directory, BertTokenizer(base_config["vocab"]),
                                PairConfig(max_seq_length=base_config["max_seq_length"]), num_shards=4)
    return str(directory)


@pytest.mark.parametrize("source", ["in_memory", "tfrecord_shards"])
def test_two_multi_worker_processes_end_with_identical_weights(base_config, shard_dir, tmp_path, source):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    config = dict(base_config, output_dir=str(tmp_path / "run"), strategy="multi_worker")
    if source == "tfrecord_shards":
        config.update(inputs=None, data_dir=shard_dir)
    processes = [
        _start(config, str(tmp_path / f"worker{i}.npz"),
               {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
        for i in range(2)]
    _finish(processes)
    first, second = np.load(tmp_path / "worker0.npz"), np.load(tmp_path / "worker1.npz")
    assert int(first["replicas"]) == 2 and int(second["replicas"]) == 2
    for a, b in zip(_weights(first), _weights(second)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(first["losses"], second["losses"], rtol=1e-6)
    assert first["losses"][-1, 1] < first["losses"][0, 1]
    # Only the chief (worker 0) wrote the shared outputs.
    run_dir = tmp_path / "run"
    assert (run_dir / "backup" / "backup_state.json").exists()
    assert json.loads((run_dir / "backup" / "backup_state.json").read_text())["global_step"] == TRAIN_STEPS
    assert len(list((run_dir / "checkpoints").glob("epoch-*.weights.h5"))) == TRAIN_STEPS // STEPS_PER_EPOCH


@pytest.mark.parametrize("tf_config, chief", [
    (None, True),
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, False),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, True),
])
def test_chief_rule(monkeypatch, tf_config, chief):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert is_chief() is chief


@pytest.mark.parametrize("name, kwargs, message", [
    ("horovod", {}, "strategy 'horovod' is unknown"),
    ("tpu", {}, "needs the TPU's address"),
    ("default", {"tpu": "grpc://1.2.3.4:8470"}, "only used with strategy 'tpu'"),
    ("multi_worker", {}, "needs TF_CONFIG"),
])
def test_bad_strategy_settings_are_clear_errors(monkeypatch, name, kwargs, message):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(InvalidInputError, match=message):
        build_strategy(name, **kwargs)


def test_malformed_tf_config_is_named(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{cluster: nope")
    with pytest.raises(InputFileError, match="^TF_CONFIG:1:2: not valid JSON: Expecting property name"):
        is_chief()
    monkeypatch.setenv("TF_CONFIG", "[]")
    with pytest.raises(InputFileError, match="^TF_CONFIG: expected a JSON object, got list"):
        is_chief()


def test_data_sharding_policy_names():
    assert data_sharding_options("file").experimental_distribute.auto_shard_policy == \
        tf.data.experimental.AutoShardPolicy.FILE
    with pytest.raises(ValueError, match="sharding policy 'rows' is unknown"):
        data_sharding_options("rows")
