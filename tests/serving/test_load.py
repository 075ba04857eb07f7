"""Load test (issue 16): 32 concurrent clients for 45 s over gRPC and REST with batching on, 10% of the requests
invalid in every way the server has been seen to mishandle. Every valid request must be answered, with the
in-process answer, and the server's memory must not grow by 100 MB. 127.0.0.1 only; bounded in time."""

import http.client
import json
import os
import random
import socket
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_service_pb2_grpc
from tiny_models import tiny_task_dir

from bert_keras.assets.corpora import movie_reviews
from bert_keras.serving import BatchingParameters, ModelServer, ServerOptions
from bert_keras.serving.config import single_model_config

CLIENTS = 32
DURATION_SECONDS = int(os.environ.get("BERT_KERAS_LOAD_SECONDS", "45"))  # shorter only for probing
INVALID_SHARE = float(os.environ.get("BERT_KERAS_LOAD_INVALID", "0.10"))
RSS_GROWTH_LIMIT_BYTES = 100 * 1024 * 1024
TIMEOUT = 60


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, minilm_vocab):
    from bert_keras.export import export_saved_model

    root = tmp_path_factory.mktemp("load")
    model_dir = tiny_task_dir(str(root / "models"), minilm_vocab, "classify")
    path = export_saved_model(model_dir, str(root / "base"), "classify").path
    texts = [t[:300] for t, _ in movie_reviews(64)]
    function = tf.saved_model.load(path).signatures["serving_default"]
    expected = function(text=tf.constant(texts))["probabilities"].numpy()
    return os.path.dirname(path), texts, expected


def _tensor(dtype, dims, **values) -> tensor_pb2.TensorProto:
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims])
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, **values)


def _predict(signature="", **inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "classify", signature
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(value if isinstance(value, tensor_pb2.TensorProto) else
                                     tf.make_tensor_proto(value))
    return request


def _ids(token_ids, dtype=np.int32):
    token_ids = np.asarray(token_ids, dtype=dtype)
    return {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids), "padding_mask": np.ones_like(token_ids)}


class Client:
    """One client thread's connections and its tally."""

    def __init__(self, server, texts, expected, seed):
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.grpc_address))
        self.rest_port = server.rest_port
        self.http = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=TIMEOUT)
        self.texts, self.expected = texts, expected
        self.random = random.Random(seed)
        self.valid = self.failed_valid = self.invalid = self.invalid_answered_200 = 0
        self.wrong_answers, self.failures = 0, []

    def _rest(self, body: bytes) -> tuple[int, bytes]:
        for attempt in range(2):  # a keep-alive connection the server closed when idle is reopened once
            try:
                self.http.request("POST", "/v1/models/classify:predict", body=body,
                                  headers={"Content-Type": "application/json"})
                response = self.http.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.http.close()
                self.http = http.client.HTTPConnection("127.0.0.1", self.rest_port, timeout=TIMEOUT)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def valid_request(self):
        index = self.random.randrange(len(self.texts))
        if self.random.random() < 0.5:
            response = self.stub.Predict(_predict(text=np.array([self.texts[index].encode()], dtype=object)),
                                         timeout=TIMEOUT)
            probabilities = tf.make_ndarray(response.outputs["probabilities"])[0]
        else:
            status, body = self._rest(json.dumps({"instances": [self.texts[index]]}).encode())
            if status != 200:
                raise AssertionError(f"REST {status}: {body[:200]!r}")
            probabilities = np.array(json.loads(body)["predictions"][0]["probabilities"])
        if not np.allclose(probabilities, self.expected[index], atol=1e-5):
            self.wrong_answers += 1

    def invalid_request(self):
        """One of the bad requests of issue 16; returns True if it was (wrongly) answered as a success."""
        kind = self.random.randrange(10)
        try:
            if kind == 0:  # an out-of-vocabulary id
                self.stub.Predict(_predict("predict_ids", **_ids([[101, 999999, 102]])), timeout=TIMEOUT)
            elif kind == 1:  # a tf.Example without the text feature
                request = classification_pb2.ClassificationRequest()
                request.model_spec.name, request.model_spec.signature_name = "classify", "classify"
                request.input.example_list.examples.add().features.feature["words"].bytes_list.value.append(b"x")
                self.stub.Classify(request, timeout=TIMEOUT)
            elif kind == 2:  # garbage bytes on the classify signature
                self.stub.Predict(_predict("classify", inputs=np.array([b"\xff\xfe\x00garbage"], dtype=object)),
                                  timeout=TIMEOUT)
            elif kind == 3:  # int64 where int32 is declared
                self.stub.Predict(_predict("predict_ids", **_ids([[101, 102]], np.int64)), timeout=TIMEOUT)
            elif kind == 4:  # a negative dimension
                self.stub.Predict(_predict(text=_tensor(types_pb2.DT_STRING, [-1])), timeout=TIMEOUT)
            elif kind == 5:  # a few bytes declaring ten million elements
                huge = _tensor(types_pb2.DT_INT32, [10_000_000, 1], int_val=[1])
                self.stub.Predict(_predict("predict_ids", token_ids=huge, segment_ids=huge, padding_mask=huge),
                                  timeout=TIMEOUT)
            elif kind == 6:
                return self._rest(b'{"instances": ["\\ud800"]}')[0] == 200
            elif kind == 7:
                return self._rest(b'{"instances": ' + b"[" * 900 + b"1" + b"]" * 900 + b"}")[0] == 200
            elif kind == 8:
                return self._rest(b'{"instances": ["unterminated')[0] == 200
            else:  # a body shorter than its Content-Length, then a half-close
                with socket.create_connection(("127.0.0.1", self.rest_port), timeout=TIMEOUT) as sock:
                    sock.sendall(b"POST /v1/models/classify:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 99\r\n"
                                 b"\r\n{\"instances\": [\"cut\"]}")
                    sock.shutdown(socket.SHUT_WR)
                    return sock.recv(100).startswith(b"HTTP/1.1 200")
        except grpc.RpcError as error:
            return error.code() == grpc.StatusCode.OK
        return True

    def run(self, stop: threading.Event):
        while not stop.is_set():
            if self.random.random() < INVALID_SHARE:
                self.invalid += 1
                self.invalid_answered_200 += bool(self.invalid_request())
                continue
            self.valid += 1
            try:
                self.valid_request()
            except Exception as error:  # counted: a valid request must never fail
                self.failed_valid += 1
                self.failures.append(repr(error)[:300])


def test_32_clients_with_10_percent_bad_requests_lose_no_valid_request(setup):
    base, texts, expected = setup
    options = ServerOptions(grpc_port=0, rest_port=0, poll_seconds=0,
                            batching=BatchingParameters(max_batch_size=32, batch_timeout_micros=5_000,
                                                        num_batch_threads=2, max_enqueued_batches=1000))
    with ModelServer(single_model_config("classify", base), options) as server:
        warm = Client(server, texts, expected, seed=-1)
        for _ in range(20):
            warm.valid_request()
        rss_before = _rss_bytes()
        clients = [Client(server, texts, expected, seed) for seed in range(CLIENTS)]
        stop = threading.Event()
        threads = [threading.Thread(target=c.run, args=(stop,)) for c in clients]
        for thread in threads:
            thread.start()
        time.sleep(DURATION_SECONDS)
        stop.set()
        for thread in threads:
            thread.join(TIMEOUT)
        rss_growth = _rss_bytes() - rss_before
    valid = sum(c.valid for c in clients)
    invalid = sum(c.invalid for c in clients)
    failures = [f for c in clients for f in c.failures]
    print(f"valid {valid}, invalid {invalid}, RSS growth {rss_growth / 2**20:.1f} MB")
    assert sum(c.failed_valid for c in clients) == 0, failures[:5]
    assert sum(c.wrong_answers for c in clients) == 0
    assert sum(c.invalid_answered_200 for c in clients) == 0
    assert valid > 500 and invalid > 50  # the load really ran, with its share of bad requests
    assert rss_growth < RSS_GROWTH_LIMIT_BYTES
