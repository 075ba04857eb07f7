"""ModelServer: TF Serving's gRPC (PredictionService, ModelService) and REST APIs over exported SavedModels.

For machines where tensorflow_model_server cannot be installed (no binary in the package registries, no Docker):
the same API, the same model layout and configuration files, so a client cannot tell which it talks to.
Binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import ssl
import tempfile
import threading
import time

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from bert_keras.serving.batching import BatchScheduler
from bert_keras.serving.config import BatchingParameters, SSLConfig
from bert_keras.serving.grpc_service import ModelService, PredictionService
from bert_keras.serving.http_server import HttpLimits, RestServer, listening_socket
from bert_keras.serving.inference import InferenceService
from bert_keras.serving.metrics import ServerMetrics
from bert_keras.serving.model_manager import LoadRetryPolicy, ModelManager
from bert_keras.serving.rest_api import RestApi

log = logging.getLogger("bert_keras.serving")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_GRPC_PORT, DEFAULT_REST_PORT = 8500, 8501
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_GRACE_SECONDS = 10.0


@dataclasses.dataclass
class ServerOptions:
    """Where and how to serve.

    Attributes:
        host: interface to bind (127.0.0.1: this machine only).
        grpc_port, rest_port: 0 picks a free port (see `ModelServer.grpc_port`); rest_port None: no REST.
        batching: BatchingParameters, or None for no batching.
        poll_seconds: how often model base paths are scanned for new versions.
        max_message_bytes: largest gRPC message and REST body accepted (and gRPC message sent); also the most
            bytes a request's tensors may declare.
        grpc_threads: concurrent gRPC requests.
        retry: how failed version loads are retried (TF Serving's flags and defaults).
        ssl: an `SSLConfig` for TLS (and mutual TLS) on both APIs, or None for plain connections.
        allow_reload_config: accept ModelService.HandleReloadConfigRequest (off: any client could repoint models).
        http: the REST server's connection and timeout limits (`HttpLimits`; its max_body_bytes is replaced by
            max_message_bytes).
    """

    host: str = DEFAULT_HOST
    grpc_port: int = DEFAULT_GRPC_PORT
    rest_port: int | None = DEFAULT_REST_PORT
    batching: BatchingParameters | None = None
    poll_seconds: float = 1.0
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    grpc_threads: int = 32
    retry: LoadRetryPolicy = dataclasses.field(default_factory=LoadRetryPolicy)
    ssl: SSLConfig | None = None
    allow_reload_config: bool = False
    http: HttpLimits = dataclasses.field(default_factory=HttpLimits)


def rest_ssl_context(config: SSLConfig) -> ssl.SSLContext:
    """A TLS server context from PEM text (the key and certificate pass through a private temporary directory,
    removed at once: Python's ssl module loads a certificate chain only from files)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="bert-keras-tls-") as directory:  # mode 0700
        cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
        for path, text in ((cert, config.server_cert), (key, config.server_key)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as f:
                f.write(text)
        context.load_cert_chain(cert, key)
    if config.custom_ca:
        context.load_verify_locations(cadata=config.custom_ca)
    context.verify_mode = ssl.CERT_REQUIRED if config.client_verify else ssl.CERT_NONE
    return context


def grpc_credentials(config: SSLConfig) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials([(config.server_key.encode(), config.server_cert.encode())],
                                       root_certificates=config.custom_ca.encode() or None,
                                       require_client_auth=config.client_verify)


class ModelServer:
    """Serve the models of a ModelServerConfig; `start()`, then `stop()` drains in-flight requests.

    Both ports are bound before any model loads, so a port in use is one clear error, not a wait.

    Args:
        config: a tensorflow_serving ModelServerConfig.
        options: `ServerOptions`.
    """

    def __init__(self, config: model_server_config_pb2.ModelServerConfig, options: ServerOptions | None = None):
        self.options = options or ServerOptions()
        self.metrics = ServerMetrics()
        self.manager = None
        self.batcher = None
        self._rest = None
        self._rest_socket = None
        self.drained = True  # False after a stop() that had to cut requests off
        self._stopped = threading.Event()  # stop() has begun
        self._done = threading.Event()  # stop() has finished
        self._bind()
        try:
            self.manager = ModelManager(config, self.options.poll_seconds, self.options.retry)
            batching = self.options.batching
            self.batcher = BatchScheduler(batching, self.metrics.record_batch) if batching else None
            self.service = InferenceService(self.manager, self.batcher)
            self._add_services()
        except BaseException:  # a bad config: release the ports, models and threads before reporting it
            self._release(0.0)
            raise

    def _bind(self) -> None:
        limit = self.options.max_message_bytes
        self._grpc = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=self.options.grpc_threads, thread_name_prefix="grpc"),
            options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit),
                     ("grpc.so_reuseport", 0)])
        address = f"{self.options.host}:{self.options.grpc_port}"
        try:
            if self.options.ssl is not None:
                self.grpc_port = self._grpc.add_secure_port(address, grpc_credentials(self.options.ssl))
            else:
                self.grpc_port = self._grpc.add_insecure_port(address)
        except RuntimeError:  # grpc raises "Failed to bind to address" for a port in use
            self.grpc_port = 0
        if self.grpc_port == 0:
            self._grpc.stop(None)
            raise OSError(f"cannot bind gRPC to {address}: the port is in use or the address is not this machine's")
        self.rest_port = None
        self._http_limits = dataclasses.replace(self.options.http, max_body_bytes=limit)
        if self.options.rest_port is not None:
            try:
                self._rest_socket = listening_socket(self.options.host, self.options.rest_port,
                                                     self._http_limits.backlog)
            except OSError:
                self._grpc.stop(None)
                raise
            self.rest_port = self._rest_socket.getsockname()[1]

    def _add_services(self) -> None:
        limit = self.options.max_message_bytes
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionService(self.service, self.metrics, limit), self._grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            ModelService(self.manager, self.metrics, self.options.allow_reload_config), self._grpc)
        if self._rest_socket is not None:
            ssl_context = rest_ssl_context(self.options.ssl) if self.options.ssl is not None else None
            self._rest = RestServer(RestApi(self.service, self.manager, self.metrics, limit), self.metrics,
                                    self._rest_socket, self._http_limits, ssl_context)

    def _release(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if self.batcher is not None:
            self.batcher.stop(max(0.0, deadline - time.monotonic()))
        if self.manager is not None:
            self.manager.stop(max(0.0, deadline - time.monotonic()))
        if self._rest is None and self._rest_socket is not None:
            self._rest_socket.close()

    @property
    def grpc_address(self) -> str:
        return f"{self.options.host}:{self.grpc_port}"

    @property
    def rest_url(self) -> str | None:
        scheme = "https" if self.options.ssl is not None else "http"
        return None if self.rest_port is None else f"{scheme}://{self.options.host}:{self.rest_port}"

    def start(self) -> "ModelServer":
        self._grpc.start()
        if self._rest is not None:
            self._rest.start()
        log.info("serving %s: gRPC %s, REST %s", self.manager.model_names(), self.grpc_address, self.rest_url)
        return self

    def stop(self, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> bool:
        """Stop accepting on both APIs at once, let in-flight requests finish, unload the models: all within
        `grace_seconds`, whatever the clients do. True if every request finished in time."""
        if self._stopped.is_set():
            self._done.wait()
            return True
        self._stopped.set()
        deadline = time.monotonic() + grace_seconds
        if self._rest is not None:
            self._rest.stop_accepting()
        grpc_stopped = self._grpc.stop(grace_seconds)  # refuses new RPCs now; cancels the rest at the deadline
        drained = True
        if self._rest is not None:
            drained = self._rest.stop(max(0.0, deadline - time.monotonic()))
        drained = grpc_stopped.wait(max(0.0, deadline - time.monotonic())) and drained
        self._release(max(0.0, deadline - time.monotonic()))
        log.info("server stopped%s", "" if drained else " (requests still running at the deadline were cut off)")
        self.drained = drained
        self._done.set()
        return drained

    def wait(self) -> None:
        """Block until `stop()` (e.g. from a signal handler) has finished."""
        self._done.wait()

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
