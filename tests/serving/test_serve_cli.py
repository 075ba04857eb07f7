"""`bert-keras serve` as a process (ports on 127.0.0.1, a models.config and a batching.config like the ones in
deploy/), `bert-keras query` against it over both APIs, and a graceful stop on SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from tiny_models import LABELS, tiny_task_dir

START_TIMEOUT = 180


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


def test_sigterm_stops_the_server_cleanly(served):
    process = served[0]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert "server stopped" in process.stdout.read()
