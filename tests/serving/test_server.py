"""The bundled TF Serving API server, started on 127.0.0.1 by the tests: stock tensorflow-serving-api stubs and
plain HTTP get what the SavedModels give in process, under 16 concurrent clients, through a hot swap and
against bad input."""

import base64
import concurrent.futures
import json
import os
import shutil
import statistics
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from http_json import post_json
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tiny_models import LABELS, tiny_task_dir

from bert_keras.serving import BatchingParameters, GrpcClient, ModelServer, RestClient, ServerOptions, ServingError
from bert_keras.serving.config import single_model_config

TASKS = {"classify": ("classify", {}), "ner": ("ner", {}),
         "qa": ("qa", dict(max_seq_length=64, max_query_length=16, doc_stride=16)), "embed": ("classify", {})}
TEXTS = ["A wonderful, moving film.", "Dull and far too long.", "Paris in the spring", ""]
QUESTIONS = (["who directed it?", "where?"], ["It was directed by Jean Renoir in 1937.", "Somewhere in Paris."])
TIMEOUT = 60


def _reviews(count):
    from bert_keras.assets.corpora import movie_reviews

    return [t[:400] for t, _ in movie_reviews(count)]


@pytest.fixture(scope="module")
def exports(tmp_path_factory, minilm_vocab):
    """{name: version-1 directory} under one base path, for every task (embed: a classifier's encoder)."""
    from bert_keras.export import export_saved_model

    root = tmp_path_factory.mktemp("serving")
    paths = {}
    for name, (task, fields) in TASKS.items():
        model_dir = tiny_task_dir(str(root / "models"), minilm_vocab, task, **fields)
        paths[name] = export_saved_model(model_dir, str(root / "base"), name,
                                         task="embed" if name == "embed" else None).path
    return paths


@pytest.fixture(scope="module")
def in_process(exports):
    models = {name: tf.saved_model.load(path) for name, path in exports.items()}

    def run(name, signature="serving_default", **inputs):
        function = models[name].signatures[signature]
        return {k: v.numpy() for k, v in function(**{k: tf.constant(v) for k, v in inputs.items()}).items()}

    return run


def _config(exports):
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    for name, path in exports.items():
        model = config.model_config_list.config.add()
        model.name, model.base_path = name, os.path.dirname(path)
    return config


BATCHING = BatchingParameters(max_batch_size=16, batch_timeout_micros=20_000, num_batch_threads=2)


@pytest.fixture(scope="module")
def server(exports):
    with ModelServer(_config(exports), ServerOptions(grpc_port=0, rest_port=0, batching=BATCHING,
                                                     poll_seconds=0)) as running:
        yield running


def _predict_request(model, signature="", **inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if signature:
        request.model_spec.signature_name = signature
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request


def _post(url, body, raw=None):
    return post_json(url, raw if raw is not None else json.dumps(body).encode(), TIMEOUT)


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _assert_same(got: dict, expected: dict, atol=1e-6):
    assert set(got) == set(expected)
    for key, value in expected.items():
        if value.dtype == object:
            assert np.asarray(got[key]).tolist() == value.tolist(), key
        else:
            np.testing.assert_allclose(got[key], value, atol=atol, err_msg=key)


def _task_inputs(name):
    if name == "qa":
        return {"question": QUESTIONS[0], "context": QUESTIONS[1]}
    return {"text": TEXTS}


@pytest.mark.parametrize("name", list(TASKS))
def test_stock_grpc_stub_gets_the_in_process_outputs(stub, in_process, name):
    inputs = _task_inputs(name)
    response = stub.Predict(_predict_request(name, **inputs), timeout=TIMEOUT)
    assert response.model_spec.version.value == 1 and response.model_spec.signature_name == "serving_default"
    _assert_same({k: tf.make_ndarray(v) for k, v in response.outputs.items()}, in_process(name, **inputs))


@pytest.mark.parametrize("name", list(TASKS))
def test_plain_http_rows_and_columns_get_the_in_process_outputs(server, in_process, name):
    inputs = _task_inputs(name)
    expected = in_process(name, **inputs)
    url = f"{server.rest_url}/v1/models/{name}:predict"
    status, columns = _post(url, {"inputs": inputs})
    assert status == 200
    rows = [dict(zip(inputs, values)) for values in zip(*inputs.values())]
    status, by_row = _post(url, {"instances": rows, "signature_name": "serving_default"})
    assert status == 200 and len(by_row["predictions"]) == len(rows)
    for key, value in expected.items():
        got = np.array(columns["outputs"][key], dtype=object if value.dtype == object else None)
        row_got = np.array([p[key] for p in by_row["predictions"]], dtype=got.dtype)
        for candidate in (got, row_got):
            if value.dtype == object:
                assert candidate.tolist() == [v.decode() for v in value.reshape(-1)] or \
                    candidate.tolist() == np.vectorize(bytes.decode, otypes=[object])(value).tolist(), key
            else:
                np.testing.assert_allclose(candidate.astype(value.dtype), value, atol=1e-6, err_msg=key)


def test_classify_rpc_and_rest_classify(stub, server, in_process):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "classify", "classify"
    for text in TEXTS:
        request.input.example_list.examples.add().features.feature["text"].bytes_list.value.append(text.encode())
    response = stub.Classify(request, timeout=TIMEOUT)
    expected = in_process("classify", text=TEXTS)["probabilities"]
    got = [[c.score for c in row.classes] for row in response.result.classifications]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert [c.label for c in response.result.classifications[0].classes] == LABELS["classify"]
    status, body = _post(f"{server.rest_url}/v1/models/classify:classify",
                         {"signature_name": "classify", "examples": [{"text": t} for t in TEXTS]})
    assert status == 200
    np.testing.assert_allclose([[score for _, score in row] for row in body["results"]], expected, atol=1e-6)
    multi = inference_pb2.MultiInferenceRequest()
    task = multi.tasks.add(method_name="tensorflow/serving/classify")
    task.model_spec.name, task.model_spec.signature_name = "classify", "classify"
    multi.input.CopyFrom(request.input)
    result = stub.MultiInference(multi, timeout=TIMEOUT).results[0]
    assert result.model_spec.version.value == 1
    np.testing.assert_allclose([[c.score for c in row.classes] for row in result.classification_result.classifications],
                               expected, atol=1e-6)
    client_results = GrpcClient(server.grpc_address, "classify").classify(TEXTS)
    assert [r.label for r in client_results] == [LABELS["classify"][i] for i in expected.argmax(-1)]
    assert [r.label for r in RestClient(server.rest_url, "classify").classify(TEXTS)] == \
        [r.label for r in client_results]


def test_metadata_and_status_over_both_apis(server, stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "ner"
    request.metadata_field.append("signature_def")
    response = stub.GetModelMetadata(request, timeout=TIMEOUT)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    assert set(signature_map.signature_def["serving_default"].inputs) == {"text"}
    assert response.model_spec.version.value == 1
    status, body = _get(f"{server.rest_url}/v1/models/ner/metadata")
    assert status == 200 and "serving_default" in json.loads(body)["metadata"]["signature_def"]["signature_def"]
    models = model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(server.grpc_address))
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "qa"
    states = models.GetModelStatus(status_request, timeout=TIMEOUT).model_version_status
    assert [(s.version, s.state) for s in states] == [(1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]
    status, body = _get(f"{server.rest_url}/v1/models/qa/versions/1")
    assert status == 200 and json.loads(body)["model_version_status"][0]["state"] == "AVAILABLE"


def test_sixteen_concurrent_clients_all_answered_correctly_with_batching(server, in_process):
    texts = _reviews(48)
    expected = {t: p for t, p in zip(texts, in_process("classify", text=texts)["probabilities"])}
    clients = [GrpcClient(server.grpc_address, "classify") if i % 2 else RestClient(server.rest_url, "classify")
               for i in range(16)]
    before = server.metrics.batch_size_counts()
    latencies, errors = [], []

    def client_loop(index):
        for n in range(12):
            text = texts[(index * 12 + n) % len(texts)]
            start = time.perf_counter()
            try:
                out = clients[index].predict({"text": [text]})
                np.testing.assert_allclose(out["probabilities"][0], expected[text], atol=1e-5)
            except Exception as error:  # collected: every failure is reported, not just the first
                errors.append(repr(error))
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(client_loop, range(16)))
    elapsed = time.perf_counter() - start
    after = server.metrics.batch_size_counts()
    batched = {size: after[size] - before.get(size, 0) for size in after if size != "1"}
    latencies.sort()
    print(f"\n192 requests from 16 clients: {192 / elapsed:.1f} req/s, "
          f"p50 {1000 * statistics.median(latencies):.1f} ms, "
          f"p99 {1000 * latencies[int(0.99 * len(latencies)) - 1]:.1f} ms, batches by size bucket {batched}")
    assert errors == []
    assert sum(batched.values()) > 0  # requests were really batched together


def _code(call):
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), caught.value.details()


def test_bad_requests_get_clear_statuses_and_the_server_keeps_answering(server, stub):
    text = np.array([b"fine"], dtype=object)
    code, message = _code(lambda: stub.Predict(_predict_request("nope", text=text), timeout=TIMEOUT))
    assert code == grpc.StatusCode.NOT_FOUND and "nope" in message
    request = _predict_request("classify", text=text)
    request.model_spec.version.value = 9
    code, message = _code(lambda: stub.Predict(request, timeout=TIMEOUT))
    assert code == grpc.StatusCode.NOT_FOUND and "available versions [1]" in message
    request = _predict_request("classify", text=text)
    request.model_spec.version_label = "stable"
    assert _code(lambda: stub.Predict(request, timeout=TIMEOUT))[0] == grpc.StatusCode.NOT_FOUND
    code, message = _code(lambda: stub.Predict(_predict_request("classify", "nosig", text=text), timeout=TIMEOUT))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "nosig" in message and "serving_default" in message
    code, message = _code(lambda: stub.Predict(_predict_request("classify", text=np.array([1.5])), timeout=TIMEOUT))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "expects string but float64 is provided" in message
    code, message = _code(lambda: stub.Predict(_predict_request("classify", text=np.array([[b"a"]], dtype=object)),
                                               timeout=TIMEOUT))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "expects shape [-1], the request declares [1, 1]" in message
    code, message = _code(lambda: stub.Predict(_predict_request("classify", words=text), timeout=TIMEOUT))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "missing ['text']" in message
    empty = stub.Predict(_predict_request("classify", text=np.array([], dtype=object)), timeout=TIMEOUT)
    assert tf.make_ndarray(empty.outputs["probabilities"]).shape == (0, 3)
    invalid_utf8 = stub.Predict(_predict_request("classify", text=np.array([b"caf\xe9 \xff"], dtype=object)),
                                timeout=TIMEOUT)
    assert tf.make_ndarray(invalid_utf8.outputs["probabilities"]).shape == (1, 3)
    huge = "word " * (2 * 1024 * 1024)  # 10 MB: accepted under the 64 MB default limit, truncated by the model
    response = stub.Predict(_predict_request("classify", text=np.array([huge.encode()], dtype=object)),
                            timeout=TIMEOUT)
    assert tf.make_ndarray(response.outputs["probabilities"]).shape == (1, 3)
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "classify"
    regress.input.example_list.examples.add()
    assert _code(lambda: stub.Regress(regress, timeout=TIMEOUT))[0] == grpc.StatusCode.UNIMPLEMENTED
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "ner"
    classify.input.example_list.examples.add()
    assert _code(lambda: stub.Classify(classify, timeout=TIMEOUT))[0] == grpc.StatusCode.UNIMPLEMENTED
    classify.model_spec.name = "classify"  # serving_default is a predict signature: name "classify" instead
    code, message = _code(lambda: stub.Classify(classify, timeout=TIMEOUT))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "['classify']" in message

    url = f"{server.rest_url}/v1/models/classify:predict"
    assert _post(url, None, raw=b'{"instances": ["a",')[0] == 400
    status, body = _post(url, None, raw=b'{"instances": ["\xff"]}')
    assert status == 400 and "UTF-8" in body["error"]
    status, body = _post(url, {"instances": [{"b64": base64.b64encode(b"caf\xe9").decode()}]})
    assert status == 200 and len(body["predictions"]) == 1
    assert _post(url, {"instances": ["a"], "inputs": ["b"]})[0] == 400
    assert _post(url, {"instances": []}) == (200, {"predictions": []})  # an empty batch is answered, empty
    assert _post(f"{server.rest_url}/v1/models/nope:predict", {"instances": ["a"]})[0] == 404
    assert _post(f"{server.rest_url}/v1/models/classify:explain", {"instances": ["a"]})[0] == 400
    assert _get(f"{server.rest_url}/v1/nothing")[0] == 404
    status, body = _post(url, {"instances": [huge]})
    assert status == 200
    # still serving everyone else
    assert len(GrpcClient(server.grpc_address, "classify").classify(["ok"])) == 1
    assert _get(f"{server.rest_url}/monitoring/prometheus/metrics")[0] == 200


def test_message_size_limits_are_enforced(exports):
    options = ServerOptions(grpc_port=0, rest_port=0, max_message_bytes=1024 * 1024, poll_seconds=0)
    big = np.array([b"x" * (2 * 1024 * 1024)], dtype=object)
    with ModelServer(single_model_config("classify", os.path.dirname(exports["classify"])), options) as small:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(
            small.grpc_address, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]))
        code, _ = _code(lambda: stub.Predict(_predict_request("classify", text=big), timeout=TIMEOUT))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        status, body = _post(f"{small.rest_url}/v1/models/classify:predict", {"instances": ["x" * 2 * 1024 * 1024]})
        assert status == 413 and "exceeds the limit" in body["error"]
        assert stub.Predict(_predict_request("classify", text=np.array([b"ok"], dtype=object)), timeout=TIMEOUT)


def test_the_server_binds_loopback_unless_told_otherwise(server):
    assert ServerOptions().host == "127.0.0.1"
    assert server.grpc_address.startswith("127.0.0.1:") and server.rest_url.startswith("http://127.0.0.1:")


def test_hot_swap_to_a_new_version_fails_no_request(tmp_path, minilm_vocab, exports):
    """Clients keep calling while version 2 is written: every request succeeds, and they move to version 2."""
    from bert_keras.export import export_saved_model

    base = tmp_path / "base"
    shutil.copytree(os.path.dirname(exports["classify"]), base / "classify")
    new_model = tiny_task_dir(str(tmp_path / "models"), minilm_vocab, "classify", seed=7)
    v2_expected = None
    options = ServerOptions(grpc_port=0, rest_port=None, poll_seconds=0.2, batching=BATCHING)
    with ModelServer(single_model_config("classify", str(base / "classify")), options) as swapping:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(swapping.grpc_address))
        seen, errors, stop = [], [], threading.Event()

        def client_loop():
            while not stop.is_set():
                try:
                    response = stub.Predict(_predict_request("classify", text=np.array([b"a fine film"], dtype=object)),
                                            timeout=TIMEOUT)
                    seen.append((response.model_spec.version.value,
                                 tf.make_ndarray(response.outputs["probabilities"])[0]))
                except grpc.RpcError as error:
                    errors.append(f"{error.code()}: {error.details()}")

        threads = [threading.Thread(target=client_loop) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        export = export_saved_model(new_model, str(base), "classify")
        assert export.version == 2
        v2_expected = tf.saved_model.load(export.path).signatures["serving_default"](
            text=tf.constant(["a fine film"]))["probabilities"].numpy()[0]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (seen and seen[-1][0] == 2 and
                                                   sum(v == 2 for v, _ in seen[-20:]) == 20):
            time.sleep(0.1)
        stop.set()
        for thread in threads:
            thread.join(30)
        states = swapping.manager.status("classify")
    assert errors == []
    versions = [v for v, _ in seen]
    assert versions[0] == 1 and versions[-1] == 2 and sorted(set(versions)) == [1, 2]
    first_v2 = versions.index(2)
    assert 1 not in versions[first_v2 + 40:]  # once switched, the old version stops answering
    np.testing.assert_allclose(seen[-1][1], v2_expected, atol=1e-5)
    assert [(s.version, s.state) for s in states] == [(1, 50), (2, 30)]  # v1 unloaded (END), v2 AVAILABLE


def test_shutdown_drains_in_flight_requests(exports):
    slow = BatchingParameters(max_batch_size=8, batch_timeout_micros=1_500_000)
    options = ServerOptions(grpc_port=0, rest_port=None, batching=slow, poll_seconds=0)
    server = ModelServer(single_model_config("classify", os.path.dirname(exports["classify"])), options).start()
    client = GrpcClient(server.grpc_address, "classify")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.classify, ["still answered"])
        time.sleep(0.3)  # the request waits in its batch (1.5 s timeout)
        server.stop(grace_seconds=10)
        assert pending.result(30)[0].label in LABELS["classify"]
    with pytest.raises(ServingError) as caught:
        GrpcClient(server.grpc_address, "classify", retries=0, timeout=5).classify(["after"])
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE


def test_a_busy_port_is_a_clear_error(server, exports):
    options = ServerOptions(grpc_port=0, rest_port=server.rest_port, poll_seconds=0)
    with pytest.raises(OSError, match=f"cannot bind REST to 127.0.0.1:{server.rest_port}"):
        ModelServer(single_model_config("classify", os.path.dirname(exports["classify"])), options)
