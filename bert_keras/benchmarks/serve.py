"""The serve benchmark: throughput through `bert-keras serve` with batching, 16 concurrent gRPC clients sending
one text per request, as a ratio of the same SavedModel's in-process batched throughput in the same run (median of
interleaved rounds), with the request latency's p50 and p99.

    python scripts/benchmark.py serve [--quick] [--model DIR]

The default model is the main job's classifier (runs/reviews/model, from scripts/main_job.sh); without it, the
bundled MiniLM under an untrained head, which costs the same per text.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

from bert_keras.benchmarks.fixtures import DEFAULT_MODEL, minilm_classifier, sample_reviews, tiny_classifier
from bert_keras.export import export_saved_model
from bert_keras.serving import GrpcClient
from bert_keras.serving.servable import Servable

CLIENTS = 16
START_TIMEOUT_SECONDS = 300
QUICK_ARGS = {"quick": True, "num_texts": 64, "rounds": 1}
ROUNDS = 3


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the server binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _in_process_pass(servable: Servable, batches: list[np.ndarray]) -> float:
    """Seconds to run every full batch back to back through the server's own session path."""
    signature = servable.signature("serving_default")
    start = time.perf_counter()
    for batch in batches:
        servable.run(signature, {"text": batch})
    return time.perf_counter() - start


def _server_pass(clients: list[GrpcClient], texts: list[str], latencies: list[float]) -> float:
    """Seconds for CLIENTS concurrent clients to get every text answered, one text per request."""

    def one_client(index: int) -> None:
        for text in texts[index::CLIENTS]:
            begin = time.perf_counter()
            clients[index].predict({"text": [text]})
            latencies.append(time.perf_counter() - begin)

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one_client, range(CLIENTS)))
    return time.perf_counter() - start


def serve_benchmark(model: str | None = None, num_texts: int = 1024, max_batch_size: int = 32,
                    batch_timeout_micros: int = 5000, num_batch_threads: int = 1, rounds: int = ROUNDS,
                    quick: bool = False) -> dict:
    """Export `model`, then alternate in-process batched passes and passes through the server, `rounds` times.

    Alternating, and taking the median of the per-round ratios, keeps this machine's drift (its speed moves by
    10-20% over minutes) out of the ratio: each server pass is compared with the in-process pass just before it.
    """
    work = tempfile.mkdtemp(prefix="serve-benchmark-")
    if quick:
        model = tiny_classifier(work)
    elif model is None:
        # The main job's classifier when it exists, else the same MiniLM computation under an untrained head.
        model = DEFAULT_MODEL if os.path.isfile(os.path.join(DEFAULT_MODEL, "task.json")) else minilm_classifier(work)
    if not os.path.isfile(os.path.join(model, "task.json")):
        raise FileNotFoundError(f"{model}: not a fine-tuned model directory (no task.json)")
    export = export_saved_model(model, os.path.join(work, "base"), "reviews")
    texts = sample_reviews(num_texts, seed=0)
    results = {"model": os.path.abspath(model), "server_log": os.path.join(work, "server.log"), "texts": len(texts),
               "clients": CLIENTS, "rounds": rounds,
               "max_batch_size": max_batch_size, "batch_timeout_micros": batch_timeout_micros,
               "num_batch_threads": num_batch_threads}

    # In process: the same SavedModel through the same session path, full batches back to back.
    servable = Servable("reviews", export.version, export.path)
    batches = [np.array([t.encode() for t in texts[i:i + max_batch_size]], dtype=object)
               for i in range(0, len(texts), max_batch_size)]
    _in_process_pass(servable, batches[:1])  # warm-up

    batching = os.path.join(work, "batching.config")
    with open(batching, "w") as f:
        f.write(f"max_batch_size {{ value: {max_batch_size} }}\n"
                f"batch_timeout_micros {{ value: {batch_timeout_micros} }}\n"
                f"num_batch_threads {{ value: {num_batch_threads} }}\nmax_enqueued_batches {{ value: 1000 }}\n")
    port = _free_port()
    log = open(os.path.join(work, "server.log"), "w")  # the server logs every request: never an unread pipe
    server = subprocess.Popen(
        [sys.executable, "-m", "bert_keras.cli", "serve", "--model_base_path", os.path.dirname(export.path),
         "--model_name", "reviews", "--port", str(port), "--rest_api_port", "0",
         "--batching_parameters_file", batching], stdout=log, stderr=subprocess.STDOUT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    in_process, served, latencies = [], [], []
    try:
        clients = [GrpcClient(f"127.0.0.1:{port}", "reviews", retries=20) for _ in range(CLIENTS)]
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                if any(s["state"] == "AVAILABLE" for s in clients[0].status()):
                    break
            except Exception:  # not up yet
                time.sleep(0.5)
        for client in clients:
            client.predict({"text": [texts[0]]})  # warm-up: channels connected
        for _ in range(rounds):
            in_process.append(len(texts) / _in_process_pass(servable, batches))
            served.append(len(texts) / _server_pass(clients, texts, latencies))
    finally:
        server.terminate()
        server.wait(60)
        log.close()
        servable.retire()
    latencies.sort()
    ratios = sorted(s / i for s, i in zip(served, in_process))
    results["in_process_texts_per_s"] = float(np.median(in_process))
    results["server_texts_per_s"] = float(np.median(served))
    results["ratio_per_round"] = [round(r, 4) for r in ratios]
    results["ratio_server_vs_in_process"] = float(np.median(ratios))
    results["latency_p50_ms"] = 1000 * latencies[len(latencies) // 2]
    results["latency_p99_ms"] = 1000 * latencies[max(0, int(0.99 * len(latencies)) - 1)]
    return results
