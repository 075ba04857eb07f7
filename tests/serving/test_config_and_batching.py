"""TF Serving's configuration files and the batch scheduler's semantics, on a stand-in model (no TensorFlow run)."""

import os
import threading
import time

import grpc
import numpy as np
import pytest

from bert_keras.errors import InputFileError
from bert_keras.serving.batching import BatchScheduler
from bert_keras.serving.config import BatchingParameters, read_model_server_config
from bert_keras.serving.errors import ServingError
from bert_keras.serving.model_manager import wanted_versions

# The example of TF Serving's batching guide, plus the two fields this server also honours.
BATCHING_TEXT = """
max_batch_size { value: 128 }
batch_timeout_micros { value: 0 }
max_enqueued_batches { value: 1000000 }
num_batch_threads { value: 8 }
allowed_batch_sizes: 32
allowed_batch_sizes: 128
pad_variable_length_inputs: true
"""


def test_batching_parameters_read_tf_servings_text_format():
    params = BatchingParameters.from_text(BATCHING_TEXT)
    assert (params.max_batch_size, params.batch_timeout_micros, params.max_enqueued_batches,
            params.num_batch_threads) == (128, 0, 1000000, 8)
    assert params.allowed_batch_sizes == (32, 128) and params.pad_variable_length_inputs


def test_batching_parameters_errors_name_the_line_and_rule():
    with pytest.raises(InputFileError, match=r"batching.config:2:1 : .*max_batch_sise"):
        BatchingParameters.from_text("max_batch_size { value: 4 }\nmax_batch_sise { value: 4 }", "batching.config")
    with pytest.raises(InputFileError, match="must increase and end with max_batch_size 64"):
        BatchingParameters.from_text("max_batch_size { value: 64 }\nallowed_batch_sizes: 8\nallowed_batch_sizes: 32")


def test_models_config_with_version_policies_and_labels(tmp_path):
    path = tmp_path / "models.config"
    path.write_text("""
model_config_list {
  config { name: "reviews" base_path: "models/reviews" model_platform: "tensorflow"
           model_version_policy { specific { versions: 1 versions: 3 } }
           version_labels { key: "stable" value: 1 } version_labels { key: "canary" value: 3 } }
  config { name: "ner" base_path: "/abs/ner" model_version_policy { latest { num_versions: 2 } } }
  config { name: "all" base_path: "x" model_version_policy { all {} } }
}""")
    config = read_model_server_config(str(path))
    reviews, ner, every = config.model_config_list.config
    assert reviews.base_path == str(tmp_path / "models" / "reviews") and ner.base_path == "/abs/ner"
    assert dict(reviews.version_labels) == {"stable": 1, "canary": 3}
    present = [1, 2, 3, 4]
    assert wanted_versions(reviews, present) == [1, 3]
    assert wanted_versions(ner, present) == [3, 4]
    assert wanted_versions(every, present) == present
    path.write_text("model_config_list { config { name: \"x\" } }")
    with pytest.raises(InputFileError, match="needs name and base_path"):
        read_model_server_config(str(path))


class FakeServable:
    """Records every batch it runs; output = input row sums (so each request can check its own rows)."""

    def __init__(self, gate: threading.Event | None = None):
        self.batches, self.gate = [], gate

    def run(self, signature, inputs, output_filter=None):
        if self.gate is not None:
            self.gate.wait(10)
        self.batches.append({k: v.copy() for k, v in inputs.items()})
        ids = inputs["ids"]
        return {"sum": ids.reshape(len(ids), -1).sum(-1), "first": ids[:, 0]}


class Signature:
    name = "serving_default"


def test_requests_are_batched_padded_and_split_back():
    servable = FakeServable()
    params = BatchingParameters(max_batch_size=8, batch_timeout_micros=200_000, num_batch_threads=1,
                                allowed_batch_sizes=(4, 8), pad_variable_length_inputs=True)
    scheduler = BatchScheduler(params)
    rows = [np.array([[1, 2, 3]]), np.array([[5, 6], [7, 8]])]  # different lengths: padded, not refused
    futures = [scheduler.submit(servable, Signature(), {"ids": r}) for r in rows]
    results = [f.result(5) for f in futures]
    scheduler.stop()
    assert len(servable.batches) == 1
    batch = servable.batches[0]["ids"]
    # 3 examples padded to the allowed size 4 by repeating the first; short rows padded with their first element
    assert batch.tolist() == [[1, 2, 3], [5, 6, 5], [7, 8, 5], [1, 2, 3]]
    assert results[0]["sum"].tolist() == [6] and results[1]["sum"].tolist() == [16, 20]
    assert results[1]["first"].tolist() == [5, 7]


def test_a_full_queue_answers_unavailable_instead_of_growing():
    gate = threading.Event()
    servable = FakeServable(gate)
    scheduler = BatchScheduler(BatchingParameters(max_batch_size=1, max_enqueued_batches=2, num_batch_threads=1))
    first = scheduler.submit(servable, Signature(), {"ids": np.ones([1, 2])})
    time.sleep(0.2)  # the worker holds the first batch (blocked on the gate)
    queued = [scheduler.submit(servable, Signature(), {"ids": np.ones([1, 2])}) for _ in range(2)]
    with pytest.raises(ServingError) as caught:
        scheduler.submit(servable, Signature(), {"ids": np.ones([1, 2])})
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE and "queue" in caught.value.message
    gate.set()
    assert [f.result(5)["sum"].tolist() for f in [first] + queued] == [[2.0]] * 3
    with pytest.raises(ServingError, match="larger than maximum input batch size 1"):
        scheduler.submit(servable, Signature(), {"ids": np.ones([2, 2])})
    scheduler.stop()


def test_stop_runs_what_is_queued():
    servable = FakeServable()
    scheduler = BatchScheduler(BatchingParameters(max_batch_size=8, batch_timeout_micros=5_000_000))
    future = scheduler.submit(servable, Signature(), {"ids": np.ones([1, 3])})
    scheduler.stop()  # long before the 5 s timeout: the open batch still runs
    assert future.result(1)["sum"].tolist() == [3.0]


def test_the_shipped_deployment_files_parse_with_tf_servings_schemas():
    deploy = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "deploy")
    config = read_model_server_config(os.path.join(deploy, "models.config"))
    (reviews,) = config.model_config_list.config
    assert reviews.name == "reviews" and reviews.base_path == "/models/reviews"
    assert wanted_versions(reviews, [1, 2, 3]) == [2, 3]
    params = BatchingParameters.from_file(os.path.join(deploy, "batching.config"))
    assert params.max_batch_size == 32 and params.batch_timeout_micros == 5000
    with open(os.path.join(deploy, "docker-compose.yml"), encoding="utf-8") as f:
        compose = f.read()
    image = next(line.split(":")[-1] for line in compose.splitlines() if "image: tensorflow/serving:" in line)
    assert tuple(int(p) for p in image.split(".")[:2]) >= (2, 12)  # the tf-text ops the exports use
    assert '"127.0.0.1:8500:8500"' in compose and "healthcheck:" in compose


class PoisonServable(FakeServable):
    """Fails a whole run, as a graph error does, when any row of the batch holds a negative id."""

    def run(self, signature, inputs, output_filter=None):
        if (inputs["ids"] < 0).any():
            self.batches.append(None)
            row = int(np.flatnonzero((inputs["ids"] < 0).any(axis=1))[0])
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"indices[{row},0] is negative")
        return super().run(signature, inputs, output_filter)


def test_a_failing_request_fails_alone_and_its_batch_neighbours_are_answered():
    servable = PoisonServable()
    scheduler = BatchScheduler(BatchingParameters(max_batch_size=8, batch_timeout_micros=300_000))
    rows = [np.array([[i, 1]]) for i in range(7)]
    rows[4] = np.array([[-1, 1]])
    futures = [scheduler.submit(servable, Signature(), {"ids": r}) for r in rows]
    for index, future in enumerate(futures):
        if index == 4:
            with pytest.raises(ServingError) as caught:
                future.result(5)
            # its own message, re-run alone: the row index is the request's own row 0
            assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and caught.value.message == \
                "indices[0,0] is negative"
        else:
            assert future.result(5)["sum"].tolist() == [index + 1]
    scheduler.stop()
    # 1 failed run of 7, halves [0..2] ok and [3..6] failed, [3,4] failed, [5,6] ok, [3] ok, [4] failed
    assert sum(b is None for b in servable.batches) == 4 and len(servable.batches) == 7


def test_a_request_past_its_deadline_or_cancelled_is_not_run():
    servable = FakeServable()
    scheduler = BatchScheduler(BatchingParameters(max_batch_size=8, batch_timeout_micros=300_000))
    late = scheduler.submit(servable, Signature(), {"ids": np.ones([1, 2])}, deadline=time.monotonic() + 0.05)
    gone = scheduler.submit(servable, Signature(), {"ids": np.ones([1, 2])}, is_active=lambda: False)
    alive = scheduler.submit(servable, Signature(), {"ids": np.full([1, 2], 2.0)}, deadline=time.monotonic() + 30)
    assert alive.result(5)["sum"].tolist() == [4.0]
    with pytest.raises(ServingError) as caught:
        late.result(5)
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(ServingError) as caught:
        gone.result(5)
    assert caught.value.code == grpc.StatusCode.CANCELLED
    scheduler.stop()
    assert [b["ids"].tolist() for b in servable.batches] == [[[2.0, 2.0]]]  # only the live request ran


def test_ssl_config_reads_tf_servings_text_format(tmp_path):
    from bert_keras.serving.config import SSLConfig

    pem = "-----BEGIN X-----\\nAAAA\\n-----END X-----\\n"
    config = SSLConfig.from_text(f'server_key: "{pem}"\nserver_cert: "{pem}"\ncustom_ca: "{pem}"\n'
                                 "client_verify: true\n")
    assert config.client_verify and config.server_key == pem.replace("\\n", "\n")
    path = tmp_path / "ssl.config"
    path.write_text(f'server_key: "{pem}"\nserver_cert: "{pem}"\nclient_verify: true\n')
    with pytest.raises(InputFileError, match="ssl.config: .*client_verify: true needs custom_ca"):
        SSLConfig.from_file(str(path))
    path.write_text('server_key: "k"\nserver_crt: "c"\n')
    with pytest.raises(InputFileError, match=r"ssl.config:2:1 : .*server_crt"):
        SSLConfig.from_file(str(path))
