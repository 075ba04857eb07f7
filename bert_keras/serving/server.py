"""ModelServer: TF Serving's gRPC (PredictionService, ModelService) and REST APIs over exported SavedModels.

For machines where tensorflow_model_server cannot be installed (no binary in the package registries, no Docker):
the same API, the same model layout and configuration files, so a client cannot tell which it talks to.
Binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import http.server
import logging
import threading

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from bert_keras.serving.batching import BatchScheduler
from bert_keras.serving.config import BatchingParameters
from bert_keras.serving.grpc_service import ModelService, PredictionService
from bert_keras.serving.inference import InferenceService
from bert_keras.serving.metrics import ServerMetrics
from bert_keras.serving.model_manager import ModelManager
from bert_keras.serving.rest_api import RestApi, handler_class

log = logging.getLogger("bert_keras.serving")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_GRPC_PORT, DEFAULT_REST_PORT = 8500, 8501
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclasses.dataclass
class ServerOptions:
    """Where and how to serve.

    Attributes:
        host: interface to bind (127.0.0.1: this machine only).
        grpc_port, rest_port: 0 picks a free port (see `ModelServer.grpc_port`); rest_port None: no REST.
        batching: BatchingParameters, or None for no batching.
        poll_seconds: how often model base paths are scanned for new versions.
        max_message_bytes: largest gRPC message and REST body accepted (and gRPC message sent).
        grpc_threads: concurrent gRPC requests.
    """

    host: str = DEFAULT_HOST
    grpc_port: int = DEFAULT_GRPC_PORT
    rest_port: int | None = DEFAULT_REST_PORT
    batching: BatchingParameters | None = None
    poll_seconds: float = 1.0
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    grpc_threads: int = 32


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads: in-flight requests finish
    block_on_close = True


class ModelServer:
    """Serve the models of a ModelServerConfig; `start()`, then `stop()` drains in-flight requests.

    Args:
        config: a tensorflow_serving ModelServerConfig.
        options: `ServerOptions`.
    """

    def __init__(self, config: model_server_config_pb2.ModelServerConfig, options: ServerOptions | None = None):
        self.options = options or ServerOptions()
        self.metrics = ServerMetrics()
        self.manager = ModelManager(config, self.options.poll_seconds)
        batching = self.options.batching
        self.batcher = BatchScheduler(batching, self.metrics.record_batch) if batching else None
        self.service = InferenceService(self.manager, self.batcher)
        try:
            self._bind()
        except Exception:  # a busy port: release the models and threads before reporting it
            self._release()
            raise
        self._http_thread = None
        self._stopped = threading.Event()  # stop() has begun
        self._done = threading.Event()  # stop() has finished

    def _bind(self) -> None:
        limit = self.options.max_message_bytes
        self._grpc = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=self.options.grpc_threads, thread_name_prefix="grpc"),
            options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit),
                     ("grpc.so_reuseport", 0)])
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionService(self.service, self.metrics), self._grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(self.manager, self.metrics), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port(f"{self.options.host}:{self.options.grpc_port}")
        if self.grpc_port == 0:
            raise OSError(f"cannot bind gRPC to {self.options.host}:{self.options.grpc_port} (in use?)")
        self._http = None
        self.rest_port = None
        if self.options.rest_port is not None:
            api = RestApi(self.service, self.manager, self.metrics, limit)
            try:
                self._http = _HttpServer((self.options.host, self.options.rest_port), handler_class(api))
            except OSError as error:
                raise OSError(f"cannot bind REST to {self.options.host}:{self.options.rest_port}: "
                              f"{error.strerror}") from None
            self.rest_port = self._http.server_address[1]

    def _release(self) -> None:
        if self.batcher is not None:
            self.batcher.stop()
        self.manager.stop()

    @property
    def grpc_address(self) -> str:
        return f"{self.options.host}:{self.grpc_port}"

    @property
    def rest_url(self) -> str | None:
        return None if self.rest_port is None else f"http://{self.options.host}:{self.rest_port}"

    def start(self) -> "ModelServer":
        self._grpc.start()
        if self._http is not None:
            self._http_thread = threading.Thread(target=self._http.serve_forever, name="rest", daemon=True)
            self._http_thread.start()
        log.info("serving %s: gRPC %s, REST %s", self.manager.model_names(), self.grpc_address, self.rest_url)
        return self

    def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop accepting requests, let in-flight ones finish (up to `grace_seconds` for gRPC), unload models."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        stopped = self._grpc.stop(grace_seconds)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()  # joins handler threads
        stopped.wait(grace_seconds)
        self._release()
        log.info("server stopped")
        self._done.set()

    def wait(self) -> None:
        """Block until `stop()` (e.g. from a signal handler) has finished."""
        self._done.wait()

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
