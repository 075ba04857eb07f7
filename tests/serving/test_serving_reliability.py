"""The server keeps every valid request: bad neighbours, malformed and hostile HTTP, wrong tensors, deadlines,
half-copied versions, TLS and the reload RPC. Each test names the defect it guards (issue 16), on 127.0.0.1."""

import base64
import concurrent.futures
import json
import os
import shutil
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from http_json import post_json
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tiny_models import tiny_task_dir

from bert_keras.serving import BatchingParameters, GrpcClient, ModelServer, RestClient, ServerOptions
from bert_keras.serving.config import SSLConfig, single_model_config
from bert_keras.serving.http_server import HttpLimits
from bert_keras.serving.model_manager import LoadRetryPolicy
from bert_keras.serving.servable import Servable, graph_error_message

TIMEOUT = 60
BATCHING = BatchingParameters(max_batch_size=16, batch_timeout_micros=20_000, num_batch_threads=2)
TEXTS = ["A wonderful, moving film.", "Dull and far too long.", "Paris in the spring", "ok", "the end"]


@pytest.fixture(scope="module")
def base(tmp_path_factory, minilm_vocab):
    """A model base path holding version 1 of a tiny classifier export."""
    from bert_keras.export import export_saved_model

    root = tmp_path_factory.mktemp("reliability")
    model_dir = tiny_task_dir(str(root / "models"), minilm_vocab, "classify")
    return os.path.dirname(export_saved_model(model_dir, str(root / "base"), "classify").path)


@pytest.fixture(scope="module")
def expected(base):
    """In-process probabilities of every text in TEXTS (tf.saved_model.load, no server)."""
    function = tf.saved_model.load(os.path.join(base, "1")).signatures["serving_default"]
    return dict(zip(TEXTS, function(text=tf.constant(TEXTS))["probabilities"].numpy()))


@pytest.fixture(scope="module")
def server(base):
    options = ServerOptions(grpc_port=0, rest_port=0, batching=BATCHING, poll_seconds=0,
                            http=HttpLimits(body_timeout_seconds=1.0, idle_timeout_seconds=2.0))
    with ModelServer(single_model_config("classify", base), options) as running:
        yield running


def _predict(signature="", **inputs) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "classify"
    request.model_spec.signature_name = signature
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(value if isinstance(value, tensor_pb2.TensorProto) else
                                     tf.make_tensor_proto(value))
    return request


def _ids(token_ids, dtype=np.int32) -> dict:
    token_ids = np.asarray(token_ids, dtype=dtype)
    return {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids), "padding_mask": np.ones_like(token_ids)}


def _rpc_error(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), caught.value.details()


def _raw_http(port: int, data: bytes, half_close: bool = False, timeout: float = 10.0) -> bytes:
    """Send raw bytes on one connection and return everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and not half_close and _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


# ------------------------------------------------------------------------ 1, 2: isolation and graph messages

def test_graph_errors_keep_tensorflows_reason_without_internals():
    message = ("Graph execution error:\n\nDetected at node bert/token_embedding/GatherV2 defined at (most recent "
               "call last):\n  File \"/usr/lib/python3/site.py\", line 3\n\nindices[0,1] = 999999 is not in "
               "[0, 30522)\n\t [[{{node bert_classifier_1_1/bert_encoder_1_1/token_embedding_1/GatherV2}}]]")
    assert graph_error_message(message) == "indices[0,1] = 999999 is not in [0, 30522)"
    assert graph_error_message("Graph execution error:\n\nFile /srv/models/x/1/assets/vocab.txt not found") == \
        "File vocab.txt not found"


def test_a_graph_error_reaches_the_client_with_its_reason(base):
    servable = Servable("classify", 1, os.path.join(base, "1"))
    signature = servable.signatures["predict_ids"]
    inputs = _ids([[101, 999999, 102]])
    with pytest.raises(Exception) as caught:  # straight to the graph, past the pre-batching checks
        servable.run(signature, inputs)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.message == "model classify version 1: indices[0,1] = 999999 is not in [0, 30522)"
    servable.retire()


def test_bad_requests_in_a_batch_fail_alone_each_with_its_reason(server, stub, expected):
    """Requests that fail inside the graph, mixed into batches of valid ones: only they fail."""
    bad_example = classification_pb2.ClassificationRequest()
    bad_example.model_spec.name = "classify"
    bad_example.model_spec.signature_name = "classify"
    bad_example.input.example_list.examples.add().features.feature["words"].bytes_list.value.append(b"x")
    calls = []
    for i in range(48):
        text = TEXTS[i % len(TEXTS)]
        if i % 8 == 3:
            calls.append(("oov", lambda: stub.Predict(_predict("predict_ids", **_ids([[101, 999999, 102]])),
                                                      timeout=TIMEOUT)))
        elif i % 8 == 6:
            calls.append(("feature", lambda: stub.Classify(bad_example, timeout=TIMEOUT)))
        else:
            calls.append((text, lambda t=text: stub.Predict(_predict(text=np.array([t.encode()], dtype=object)),
                                                            timeout=TIMEOUT)))

    def run(call):
        kind, function = call
        try:
            return kind, function(), None
        except grpc.RpcError as error:
            return kind, None, (error.code(), error.details())

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(run, calls))
    for kind, response, error in results:
        if kind == "oov":
            assert error[0] == grpc.StatusCode.INVALID_ARGUMENT and "999999 is not in [0, 30522)" in error[1]
        elif kind == "feature":
            assert error[0] == grpc.StatusCode.INVALID_ARGUMENT and "feature 'text' is required" in error[1]
        else:
            assert error is None, error
            np.testing.assert_allclose(tf.make_ndarray(response.outputs["probabilities"])[0], expected[kind],
                                       atol=1e-5)


# ------------------------------------------------------------------ 4, 9: client errors are 4xx / INVALID_ARGUMENT

def test_client_errors_over_rest_are_4xx_without_internals(server):
    url = f"{server.rest_url}/v1/models/classify:predict"
    status, body = post_json(url, b'{"instances": ["\\ud800"]}')
    assert status == 400 and "lone surrogate" in body["error"]
    status, body = post_json(url, b'{"instances": ' + b"[" * 900 + b'"x"' + b"]" * 900 + b"}")
    assert status == 400 and "nested deeper" in body["error"]
    status, body = post_json(f"{server.rest_url}/v1/models/classify:classify",
                         json.dumps({"examples": [{"\ud800": "x"}]}).encode())
    assert status == 400
    garbage = {"signature_name": "classify", "instances": [{"b64": base64.b64encode(b"\xff\xfegarbage").decode()}]}
    status, body = post_json(url, json.dumps(garbage).encode())
    assert status == 400 and "not a serialized tf.train.Example" in body["error"]
    for status_body in (body,):
        assert "Error" not in status_body["error"] and "/" not in status_body["error"].split("'")[0]


def test_content_length_is_enforced_both_ways(server):
    port = server.rest_port
    path = b"POST /v1/models/classify:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    started = time.monotonic()
    answer = _raw_http(port, path + b"Content-Length: 10000000000\r\n\r\n{\"instances\"")
    assert _status(answer) == 413 and b"--max_message_bytes" in answer
    assert time.monotonic() - started < 3.0  # answered from the header, not after the 10 s body timeout or 10 GB
    body = b'{"instances": ["a fine film"]}'
    runs = sum(server.metrics.batch_size_counts().values())
    answer = _raw_http(port, path + b"Content-Length: %d\r\n\r\n" % (len(body) + 20) + body, half_close=True)
    # aiohttp takes a half-close as the end of the connection: nothing can be answered, and nothing is run
    assert answer == b"" or _status(answer) == 400
    time.sleep(0.2)
    assert sum(server.metrics.batch_size_counts().values()) == runs
    answer = _raw_http(port, path + b"\r\n")
    assert _status(answer) == 411
    answer = _raw_http(port, path + b"Content-Length: %d\r\n\r\n" % (len(body) + 20) + body)  # stalls
    assert _status(answer) == 408
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    answer = _raw_http(port, path + b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    assert _status(answer) == 200 and b"predictions" in answer


def test_an_idle_or_slow_header_connection_is_closed(server):
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=10) as sock:
        sock.sendall(b"GET /v1/models/classify HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        started = time.monotonic()
        assert sock.recv(100) == b""  # closed by the server
        assert time.monotonic() - started < 6


def test_encoder_inputs_beyond_the_models_limits_fail_before_batching(stub):
    too_long = _ids([[101] * 600])  # the tiny model has 512 positions
    code, message = _rpc_error(lambda: stub.Predict(_predict("predict_ids", **too_long), timeout=TIMEOUT))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "600 positions" in message and "512" in message
    code, message = _rpc_error(lambda: stub.Predict(_predict("predict_ids", **_ids([[101, -5, 102]])), timeout=TIMEOUT))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "indices[0,1] = -5 is not in [0, 30522)" in message


def test_wrong_tensors_are_refused_from_their_declared_shape(stub):
    code, message = _rpc_error(lambda: stub.Predict(_predict("predict_ids", **_ids([[101, 7, 102]], np.int64)),
                                                    timeout=TIMEOUT))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "expects int32 but int64 is provided" in message
    negative = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=-3)]))
    code, message = _rpc_error(lambda: stub.Predict(_predict(text=negative), timeout=TIMEOUT))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "negative dimension" in message
    huge = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32, tensor_shape=tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=10_000_000)]), int_val=[1])
    assert len(huge.SerializeToString()) < 20
    code, message = _rpc_error(lambda: stub.Predict(_predict("predict_ids", token_ids=huge, segment_ids=huge,
                                                             padding_mask=huge), timeout=TIMEOUT))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "declares a batch of 10000000" in message
    big_2d = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32, tensor_shape=tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=10), tensor_shape_pb2.TensorShapeProto.Dim(size=10_000_000)]),
        int_val=[1])
    code, message = _rpc_error(lambda: stub.Predict(_predict("predict_ids", token_ids=big_2d, segment_ids=big_2d,
                                                             padding_mask=big_2d), timeout=TIMEOUT))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "more than the server's limit" in message


def test_an_expired_request_is_not_run(base):
    slow = BatchingParameters(max_batch_size=8, batch_timeout_micros=1_500_000)
    options = ServerOptions(grpc_port=0, rest_port=0, batching=slow, poll_seconds=0,
                            http=HttpLimits(request_timeout_seconds=0.3))
    with ModelServer(single_model_config("classify", base), options) as running:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(running.grpc_address))
        code, _ = _rpc_error(lambda: stub.Predict(_predict(text=np.array([b"late"], dtype=object)), timeout=0.3))
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
        status, body = post_json(f"{running.rest_url}/v1/models/classify:predict", b'{"instances": ["late"]}')
        assert status == 504 and "deadline passed" in body["error"]  # --rest_api_timeout_in_ms
        time.sleep(2.0)  # past the batch timeout: the batch would have run by now
        assert sum(running.metrics.batch_size_counts().values()) == 0
        statuses = {status for (api, _, status) in running.metrics.requests if api == "grpc.Predict"}
        assert "OK" not in statuses and statuses <= {"DEADLINE_EXCEEDED", "CANCELLED"}
        assert {status for (api, _, status) in running.metrics.requests if api == "rest.POST"} == {"504"}


# ------------------------------------------------------------------------ 3: backlog and connection cap

def test_bursts_of_32_connections_are_all_answered(server):
    request = (b"GET /v1/models/classify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    resets, statuses = 0, []
    for _ in range(10):
        barrier = threading.Barrier(32)

        def one():
            barrier.wait()
            return _raw_http(server.rest_port, request)

        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            futures = [pool.submit(one) for _ in range(32)]
            for future in futures:
                try:
                    statuses.append(_status(future.result()))
                except ConnectionResetError:
                    resets += 1
    assert resets == 0 and statuses == [200] * 320


def test_connections_beyond_the_cap_get_503(base):
    options = ServerOptions(grpc_port=0, rest_port=0, poll_seconds=0, http=HttpLimits(max_connections=2))
    with ModelServer(single_model_config("classify", base), options) as capped:
        held = [socket.create_connection(("127.0.0.1", capped.rest_port)) for _ in range(2)]
        time.sleep(0.2)
        answer = _raw_http(capped.rest_port, b"GET /v1/models/classify HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _status(answer) == 503 and b"too many open connections" in answer
        for sock in held:
            sock.close()
        time.sleep(0.2)
        assert _status(_raw_http(capped.rest_port, b"GET /v1/models/classify HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n")) == 200


# ------------------------------------------------------------------------ 5: versions

def test_a_half_copied_version_waits_and_a_failed_load_is_retried(tmp_path, base):
    served = tmp_path / "classify"
    shutil.copytree(os.path.join(base, "1"), served / "1")
    options = ServerOptions(grpc_port=0, rest_port=None, poll_seconds=0,
                            retry=LoadRetryPolicy(max_num_load_retries=3, load_retry_interval_seconds=0.3))
    with ModelServer(single_model_config("classify", str(served)), options) as running:
        # version 2 caught mid-copy: the graph is there, its variables are not yet
        os.makedirs(served / "2")
        shutil.copy(os.path.join(base, "1", "saved_model.pb"), served / "2")
        running.manager.poll()
        assert [s.version for s in running.manager.status("classify")] == [1]  # not loaded, not failed
        # version 3 with a truncated graph: it fails, then loads once its files are complete
        shutil.copytree(os.path.join(base, "1"), served / "3")
        with open(served / "3" / "saved_model.pb", "r+b") as f:
            f.truncate(100)
        running.manager.poll()
        state = {s.version: s for s in running.manager.status("classify")}[3]
        assert state.error.startswith("version 3 failed to load") and str(tmp_path) not in state.error
        shutil.copy(os.path.join(base, "1", "saved_model.pb"), served / "3")
        time.sleep(0.4)
        running.manager.poll()
        states = {s.version: s.state for s in running.manager.status("classify")}
        assert states[3] == 30 and not {s.version: s for s in running.manager.status("classify")}[3].error
        shutil.rmtree(served / "2")
        running.manager.poll()
        assert 2 not in {s.version for s in running.manager.status("classify")}  # gone: forgotten
        client = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(running.grpc_address))
        response = client.Predict(_predict(text=np.array([b"ok"], dtype=object)), timeout=TIMEOUT)
        assert response.model_spec.version.value == 3


# ------------------------------------------------------------------------ 7, 8: ports, TLS, reload

def test_a_busy_grpc_port_is_one_clear_error_before_any_model_loads(server, tmp_path, caplog):
    missing = single_model_config("classify", str(tmp_path / "nothing-here"))
    port = int(server.grpc_address.rsplit(":", 1)[1])
    with pytest.raises(OSError, match=f"cannot bind gRPC to 127.0.0.1:{port}"):
        ModelServer(missing, ServerOptions(grpc_port=port, rest_port=None, poll_seconds=0))
    assert "loaded model" not in caplog.text


def test_reload_config_is_refused_unless_allowed(base):
    for allowed in (False, True):
        options = ServerOptions(grpc_port=0, rest_port=None, poll_seconds=0, allow_reload_config=allowed)
        with ModelServer(single_model_config("classify", base), options) as running:
            stub = model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(running.grpc_address))
            request = model_management_pb2.ReloadConfigRequest()
            request.config.CopyFrom(single_model_config("other", base))
            if not allowed:
                code, message = _rpc_error(lambda: stub.HandleReloadConfigRequest(request, timeout=TIMEOUT))
                assert code == grpc.StatusCode.PERMISSION_DENIED and "--allow_reload_config" in message
                assert running.manager.model_names() == ["classify"]
            else:
                stub.HandleReloadConfigRequest(request, timeout=TIMEOUT)
                assert running.manager.model_names() == ["other"]


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    client_cert = ca.issue_cert("client@example.org")
    config = SSLConfig(server_key=server_cert.private_key_pem.bytes().decode(),
                       server_cert="".join(b.bytes().decode() for b in server_cert.cert_chain_pems),
                       custom_ca=ca.cert_pem.bytes().decode(), client_verify=True)
    return ca, client_cert, config


def test_mutual_tls_on_both_apis(base, tls):
    ca, client_cert, config = tls
    options = ServerOptions(grpc_port=0, rest_port=0, poll_seconds=0, ssl=config)
    with ModelServer(single_model_config("classify", base), options) as running:
        ca_pem = ca.cert_pem.bytes()
        key = client_cert.private_key_pem.bytes()
        chain = b"".join(b.bytes() for b in client_cert.cert_chain_pems)
        secure = grpc.secure_channel(running.grpc_address, grpc.ssl_channel_credentials(ca_pem, key, chain))
        response = prediction_service_pb2_grpc.PredictionServiceStub(secure).Predict(
            _predict(text=np.array([b"ok"], dtype=object)), timeout=TIMEOUT)
        assert tf.make_ndarray(response.outputs["probabilities"]).shape == (1, 3)
        no_client_cert = grpc.secure_channel(running.grpc_address, grpc.ssl_channel_credentials(ca_pem))
        code, _ = _rpc_error(lambda: prediction_service_pb2_grpc.PredictionServiceStub(no_client_cert).Predict(
            _predict(text=np.array([b"ok"], dtype=object)), timeout=10))
        assert code == grpc.StatusCode.UNAVAILABLE
        plain = grpc.insecure_channel(running.grpc_address)
        assert _rpc_error(lambda: prediction_service_pb2_grpc.PredictionServiceStub(plain).Predict(
            _predict(text=np.array([b"ok"], dtype=object)), timeout=10))[0] == grpc.StatusCode.UNAVAILABLE

        assert running.rest_url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cadata=ca_pem.decode())
        client_cert.configure_cert(context)
        with urllib.request.urlopen(f"{running.rest_url}/v1/models/classify", context=context, timeout=10) as page:
            assert json.loads(page.read())["model_version_status"][0]["state"] == "AVAILABLE"
        # the package's own clients, with the same credentials, on both APIs
        credentials = grpc.ssl_channel_credentials(ca_pem, key, chain)
        by_grpc = GrpcClient(running.grpc_address, "classify", credentials=credentials).classify(["A fine film."])
        by_rest = RestClient(running.rest_url, "classify", ssl_context=context).classify(["A fine film."])
        assert by_grpc[0].label == by_rest[0].label and abs(by_grpc[0].score - by_rest[0].score) < 1e-6
        anonymous = ssl.create_default_context(cadata=ca_pem.decode())
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionResetError)):
            urllib.request.urlopen(f"{running.rest_url}/v1/models/classify", context=anonymous, timeout=10).read()


def test_large_bodies_wait_for_each_other_within_the_byte_budget():
    """Concurrent bodies never hold more than the budget together: the second 10-of-16 waits for the first."""
    import asyncio

    from bert_keras.serving.http_server import _ByteBudget

    async def scenario():
        budget = _ByteBudget(16)
        assert await budget.reserve(10) == 10
        second = asyncio.ensure_future(budget.reserve(10))
        small = await asyncio.wait_for(budget.reserve(6), 1)  # still fits beside the first
        await asyncio.sleep(0.05)
        assert not second.done() and budget.used == 16
        await budget.release(10)
        await budget.release(small)
        assert await asyncio.wait_for(second, 1) == 10 and budget.used == 10
        await budget.release(10)
        assert await asyncio.wait_for(budget.reserve(99), 1) == 16  # a body over the budget takes all of it

    asyncio.run(scenario())
