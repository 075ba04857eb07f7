"""The serve benchmark: throughput through `bert-keras serve` with batching, 16 concurrent gRPC clients sending
one text per request, as a ratio of the same SavedModel's in-process batched throughput in the same run.

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
QUICK_ARGS = {"quick": True, "num_texts": 64}


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the server binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_benchmark(model: str | None = None, num_texts: int = 1024, max_batch_size: int = 32,
                    batch_timeout_micros: int = 5000, num_batch_threads: int = 1, quick: bool = False) -> dict:
    """Export `model`, measure in-process batched throughput, then serve it and measure through the server."""
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
               "clients": CLIENTS,
               "max_batch_size": max_batch_size, "batch_timeout_micros": batch_timeout_micros,
               "num_batch_threads": num_batch_threads}

    # In process: the same SavedModel through the same session path, full batches back to back.
    servable = Servable("reviews", export.version, export.path)
    signature = servable.signature("serving_default")
    batches = [np.array([t.encode() for t in texts[i:i + max_batch_size]], dtype=object)
               for i in range(0, len(texts), max_batch_size)]
    servable.run(signature, {"text": batches[0]})
    start = time.perf_counter()
    for batch in batches:
        servable.run(signature, {"text": batch})
    results["in_process_texts_per_s"] = len(texts) / (time.perf_counter() - start)
    servable.retire()

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
        latencies: list[float] = []

        def one_client(index: int) -> None:
            for text in texts[index::CLIENTS]:
                begin = time.perf_counter()
                clients[index].predict({"text": [text]})
                latencies.append(time.perf_counter() - begin)

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(one_client, range(CLIENTS)))
        elapsed = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(60)
        log.close()
    latencies.sort()
    results["server_texts_per_s"] = len(texts) / elapsed
    results["ratio_server_vs_in_process"] = results["server_texts_per_s"] / results["in_process_texts_per_s"]
    results["latency_p50_ms"] = 1000 * latencies[len(latencies) // 2]
    results["latency_p99_ms"] = 1000 * latencies[max(0, int(0.99 * len(latencies)) - 1)]
    return results
