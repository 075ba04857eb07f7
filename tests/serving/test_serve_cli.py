"""`bert-keras serve` as a process (ports on 127.0.0.1, a models.config and a batching.config like the ones in
deploy/), `bert-keras query` against it over both APIs, and a graceful stop on SIGTERM."""

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from tiny_models import LABELS, tiny_task_dir

START_TIMEOUT = 180
GRACE_SECONDS = 10  # the serve command's default --grace_seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory, minilm_vocab):
    from bert_keras.export import export_saved_model

    root = tmp_path_factory.mktemp("cli")
    model_dir = tiny_task_dir(str(root / "models"), minilm_vocab, "classify")
    export_saved_model(model_dir, str(root / "models_base"), "reviews")
    (root / "models.config").write_text('model_config_list { config { name: "reviews" '
                                        'base_path: "models_base/reviews" model_platform: "tensorflow" } }')
    (root / "batching.config").write_text("max_batch_size { value: 16 }\nbatch_timeout_micros { value: 5000 }\n"
                                          "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 64 }\n")
    grpc_port, rest_port = _free_port(), _free_port()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(
        [sys.executable, "-m", "bert_keras.cli", "serve", "--model_config_file", str(root / "models.config"),
         "--batching_parameters_file", str(root / "batching.config"), "--port", str(grpc_port),
         "--rest_api_port", str(rest_port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline, lines = time.monotonic() + START_TIMEOUT, []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("serving "):
            break
    else:
        process.kill()
    assert lines and lines[-1].startswith("serving "), "".join(lines)[-3000:]
    yield process, grpc_port, rest_port, lines[-1]
    if process.poll() is None:
        process.kill()


def test_serve_prints_its_loopback_addresses(served):
    _, grpc_port, rest_port, line = served
    assert f"gRPC 127.0.0.1:{grpc_port}" in line and f"REST http://127.0.0.1:{rest_port}" in line


def test_query_classifies_over_grpc_and_rest_and_reports_status(served, capsys):
    from bert_keras.cli import main

    _, grpc_port, rest_port, _ = served
    # the model may still be loading: the client's retries on UNAVAILABLE and NOT_FOUND-free status cover it
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if main(["query", "--model", "reviews", "--address", f"127.0.0.1:{grpc_port}", "--status"]) == 0 and \
                "AVAILABLE" in capsys.readouterr().out:
            break
        time.sleep(0.5)
    assert main(["query", "--model", "reviews", "--address", f"127.0.0.1:{grpc_port}", "--text", "A fine film."]) == 0
    grpc_line = capsys.readouterr().out
    assert main(["query", "--model", "reviews", "--api", "rest", "--address", f"http://127.0.0.1:{rest_port}",
                 "--text", "A fine film."]) == 0
    rest_line = capsys.readouterr().out
    assert grpc_line == rest_line and any(f'"label": "{name}"' in grpc_line for name in LABELS["classify"])
    assert main(["query", "--model", "nope", "--address", f"127.0.0.1:{grpc_port}", "--text", "x"]) == 2
    assert "Servable not found" in capsys.readouterr().err


def test_a_used_port_is_one_line_before_any_model_loads(served, tmp_path):
    _, grpc_port, _, _ = served
    (tmp_path / "1").mkdir()  # a version that would be loaded (and fail) if loading began
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-m", "bert_keras.cli", "serve", "--model_base_path", str(tmp_path),
                             "--port", str(grpc_port), "--rest_api_port", "0"], capture_output=True, text=True,
                            env=env, timeout=START_TIMEOUT)
    assert result.returncode == 2
    assert f"cannot bind gRPC to 127.0.0.1:{grpc_port}" in result.stderr and "Traceback" not in result.stderr
    assert "model default" not in result.stdout + result.stderr  # no load was attempted


def _keep_alive_client(port: int, stop: threading.Event, answers: list) -> None:
    """HTTP/1.1 keep-alive requests in a loop, reconnecting when the server closes; records (sent at, status)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        started = time.monotonic()
        try:
            connection.request("POST", "/v1/models/reviews:predict", body=b'{"instances": ["a fine film"]}',
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            answers.append((started, response.status))
        except (OSError, http.client.HTTPException):
            answers.append((started, None))
            connection.close()
            time.sleep(0.05)


def test_sigterm_stops_the_server_within_its_grace_period_whatever_clients_do(served):
    """Keep-alive REST clients and gRPC clients keep calling through SIGTERM: the server stops taking new work
    on both APIs at once and exits within --grace_seconds (10) + 1 s."""
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc

    process, grpc_port, rest_port, _ = served
    stop, answers = threading.Event(), []
    clients = [threading.Thread(target=_keep_alive_client, args=(rest_port, stop, answers), daemon=True)
               for _ in range(8)]
    for client in clients:
        client.start()
    deadline = time.monotonic() + 60
    while [status for _, status in answers[-16:]] != [200] * 16 and time.monotonic() < deadline:
        time.sleep(0.2)  # the model may still be loading, its first runs slow
    assert [status for _, status in answers[-16:]] == [200] * 16
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", rest_port), timeout=5).close()
    stub = model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(f"127.0.0.1:{grpc_port}"))
    with pytest.raises(grpc.RpcError):
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "reviews"
        stub.GetModelStatus(request, timeout=2)
    assert process.wait(timeout=GRACE_SECONDS + 1) == 0
    exited = time.monotonic()
    stop.set()
    assert exited - sent <= GRACE_SECONDS + 1
    late = [round(t - sent, 2) for t, status in answers if t > sent + 0.5 and status == 200]
    assert not late, late[:5]  # a request sent after the stop began is not served, keep-alive or not
    assert "server stopped" in process.stdout.read()
