"""RestServer: TF Serving's REST API (`RestApi`) on aiohttp, an asynchronous HTTP server, in its own thread.

Why aiohttp and not http.server: a real listen backlog, keep-alive and header timeouts, a streaming body reader and
graceful shutdown come with it. What it does not have is added here, each a few lines:

- a connection cap: connections beyond `max_connections` get 503 and are closed, never queued without bound;
- Content-Length enforced both ways: a POST without one (and not chunked) gets 411; one declaring more than
  `max_body_bytes` gets 413 at once, before any body is read; a body shorter than it declares gets 400 and is not
  run; a chunked body is counted as it streams and cut at the limit;
- a body timeout (408) and a byte budget: the bodies being read or run never hold more than `inflight_body_bytes`
  together, so a few huge requests wait for each other instead of multiplying the server's memory;
- model calls run in a thread pool, so the event loop keeps accepting and timing connections meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import dataclasses
import json
import logging
import socket
import ssl
import threading
import time

import aiohttp
from aiohttp import http_exceptions, web

from bert_keras.serving.errors import ServingError
from bert_keras.serving.inference import CallOptions
from bert_keras.serving.metrics import ServerMetrics
from bert_keras.serving.rest_api import METRICS_PATH, RestApi

log = logging.getLogger("bert_keras.serving")
DEFAULT_BACKLOG = 1024
DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_IDLE_TIMEOUT_SECONDS = 10.0
DEFAULT_BODY_TIMEOUT_SECONDS = 10.0
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0  # TF Serving's --rest_api_timeout_in_ms default
DEFAULT_REST_THREADS = 32
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
READ_CHUNK_BYTES = 1 << 20
# After a request this large, free heap pages go back to the system: glibc keeps them otherwise, and a few huge
# bodies would leave the server holding gigabytes it no longer uses.
TRIM_AFTER_BODY_BYTES = 8 * 1024 * 1024
_REFUSAL = json.dumps({"error": "the server has too many open connections; retry later"}).encode()


@dataclasses.dataclass(frozen=True)
class HttpLimits:
    """What one client may cost the REST server.

    Attributes:
        max_body_bytes: largest request body (413 beyond, before reading it).
        max_connections: open connections at once (503 beyond).
        backlog: the listen queue of connections not yet accepted.
        idle_timeout_seconds: an idle keep-alive connection, or one whose request headers are not complete by
            then, is closed.
        body_timeout_seconds: the whole body must arrive within this (408 otherwise).
        inflight_body_bytes: request bytes read or running at once (None: max_body_bytes, one maximal body).
        threads: model calls running at once.
        request_timeout_seconds: a request not yet run this long after its body arrived is not run any more
            (504), nor one whose client has disconnected (TF Serving's --rest_api_timeout_in_ms).
    """

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    backlog: int = DEFAULT_BACKLOG
    idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS
    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS
    inflight_body_bytes: int | None = None
    threads: int = DEFAULT_REST_THREADS
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS


def _release_free_memory() -> None:
    """glibc's malloc_trim(0), where there is one (a no-op elsewhere)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _HttpError(Exception):
    """An HTTP-level refusal (411, 413, 408, 400): status, message, and whether the connection must close."""

    def __init__(self, status: int, message: str, close: bool = False):
        super().__init__(message)
        self.status, self.message, self.close = status, message, close


class _ByteBudget:
    """At most `total` bytes reserved at once; a reservation waits (bounded by the caller) for others to end."""

    def __init__(self, total: int):
        self.total, self.used = total, 0
        self._changed = asyncio.Condition()

    async def reserve(self, size: int) -> int:
        size = min(size, self.total)
        async with self._changed:
            await self._changed.wait_for(lambda: self.used + size <= self.total)
            self.used += size
        return size

    async def release(self, size: int) -> None:
        async with self._changed:
            self.used -= size
            self._changed.notify_all()


class _Refuse(asyncio.Protocol):
    """A connection over the cap: answer 503 and close."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_REFUSAL), _REFUSAL))
        transport.close()


def _model_of(path: str) -> str:
    return path.split("/")[3].split(":")[0] if path.startswith("/v1/models/") and path.count("/") >= 3 else "-"


class RestServer:
    """Serve `api` on an already bound, listening socket until `stop()`.

    Args:
        api: the `RestApi` (request logic shared with nothing else: it is synchronous, run in threads).
        metrics: `ServerMetrics` for the request counts and latencies.
        sock: a bound TCP socket (bound by the caller, so a busy port is reported before any model loads).
        limits: `HttpLimits`.
        ssl_context: TLS server context, or None for plain HTTP.
    """

    def __init__(self, api: RestApi, metrics: ServerMetrics, sock: socket.socket, limits: HttpLimits,
                 ssl_context: ssl.SSLContext | None = None):
        self.api, self.metrics, self.limits = api, metrics, limits
        self._sock, self._ssl = sock, ssl_context
        self._pool = concurrent.futures.ThreadPoolExecutor(limits.threads, thread_name_prefix="rest")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="rest-loop", daemon=True)
        self._listener: asyncio.AbstractServer | None = None
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result()

    async def _start(self) -> None:
        self._budget = _ByteBudget(self.limits.inflight_body_bytes or self.limits.max_body_bytes)
        app = web.Application(client_max_size=self.limits.max_body_bytes)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, keepalive_timeout=self.limits.idle_timeout_seconds,
                                     handle_signals=False)
        await self._runner.setup()
        self._listener = await self._loop.create_server(self._connection, sock=self._sock, ssl=self._ssl,
                                                        backlog=self.limits.backlog)

    def _connection(self) -> asyncio.BaseProtocol:
        server = self._runner.server
        if len(server.connections) >= self.limits.max_connections:
            return _Refuse()
        return server()

    def stop_accepting(self) -> None:
        """Close the listening socket (new connections are refused) without touching open ones."""
        if self._listener is not None:
            self._loop.call_soon_threadsafe(self._listener.close)

    def stop(self, grace_seconds: float) -> bool:
        """Stop accepting, let in-flight requests finish, close keep-alive connections; all within
        `grace_seconds`. True if every request finished in time."""
        future = asyncio.run_coroutine_threadsafe(self._stop(grace_seconds), self._loop)
        try:
            drained = future.result(grace_seconds + 0.5)
        except (concurrent.futures.TimeoutError, asyncio.CancelledError):
            drained = False
        try:
            asyncio.run_coroutine_threadsafe(self._cancel_tasks(), self._loop).result(0.5)
        except (concurrent.futures.TimeoutError, asyncio.CancelledError):
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=1.0)
        self._pool.shutdown(wait=False, cancel_futures=True)
        return drained

    async def _stop(self, grace_seconds: float) -> bool:
        if self._listener is not None:
            self._listener.close()
        server = self._runner.server
        connections = list(server.connections)
        half = grace_seconds / 2  # aiohttp waits up to this for each handler, then again after cancelling it
        try:
            await asyncio.wait_for(asyncio.gather(*(c.shutdown(half) for c in connections)), grace_seconds)
            drained = True
        except asyncio.TimeoutError:
            drained = False
        for connection in list(server.connections):
            connection.force_close()
        await self._runner.cleanup()
        return drained

    async def _cancel_tasks(self) -> None:
        """Cancel what is left on the loop (handlers of connections cut off at the deadline) and let it unwind."""
        tasks = [t for t in asyncio.all_tasks(self._loop) if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=0.4) if tasks else None

    # ------------------------------------------------------------------ requests

    async def _in_thread(self, function, *args):
        return await self._loop.run_in_executor(self._pool, function, *args)

    def _post(self, path: str, body: bytes, options: CallOptions) -> tuple[int, bytes]:
        try:
            status, payload = self.api.post(path, body, options)
            return status, json.dumps(payload).encode("utf-8")
        finally:
            if len(body) >= TRIM_AFTER_BODY_BYTES:
                _release_free_memory()

    async def _read_body(self, request: web.BaseRequest) -> bytes:
        limit = self.limits.max_body_bytes
        length = request.content_length
        if length is None and not request.headers.get("Transfer-Encoding", "").lower().endswith("chunked"):
            raise _HttpError(411, "a POST needs a Content-Length header (or chunked transfer encoding)")
        if length is not None and length > limit:
            raise _HttpError(413, f"request body of {length} bytes exceeds the limit of {limit} bytes (the server's "
                                  "--max_message_bytes)", close=True)
        try:
            async with asyncio.timeout(self.limits.body_timeout_seconds):
                if length is not None:
                    return await request.content.readexactly(length)
                data = bytearray()
                while chunk := await request.content.read(READ_CHUNK_BYTES):
                    data += chunk
                    if len(data) > limit:
                        raise _HttpError(413, f"the chunked request body exceeds the limit of {limit} bytes (the "
                                              "server's --max_message_bytes)", close=True)
                return bytes(data)
        except TimeoutError:
            raise _HttpError(408, f"the request body did not arrive within {self.limits.body_timeout_seconds:g} s",
                             close=True) from None
        except asyncio.IncompleteReadError as error:
            raise _HttpError(400, f"the request body ended after {len(error.partial)} of the {length} bytes its "
                                  "Content-Length declares; it was not run", close=True) from None
        except (aiohttp.ClientPayloadError, http_exceptions.HttpProcessingError, ConnectionError) as error:
            raise _HttpError(400, f"the request body could not be read: {getattr(error, 'message', error)}",
                             close=True) from None

    async def _answer_post(self, request: web.BaseRequest) -> tuple[int, bytes]:
        # Waiting for other large bodies to finish counts against the request's timeout, as queueing for a batch does.
        reserved = await asyncio.wait_for(self._budget.reserve(request.content_length or self.limits.max_body_bytes),
                                          self.limits.request_timeout_seconds)
        try:
            body = await self._read_body(request)
            transport = request.transport
            options = CallOptions(deadline=time.monotonic() + self.limits.request_timeout_seconds,
                                  is_active=lambda: transport is not None and not transport.is_closing())
            return await self._in_thread(self._post, request.path, body, options)
        finally:
            await self._budget.release(reserved)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        start = time.perf_counter()
        method, path = request.method, request.path
        status = 200
        try:
            if method == "GET" and path == METRICS_PATH:
                return web.Response(body=self.metrics.prometheus().encode(),
                                    headers={"Content-Type": "text/plain; version=0.0.4"})
            if method == "GET":
                status, payload = await self._in_thread(self.api.get, path)
                return web.json_response(payload, status=status)
            if method != "POST":
                status = 405
                return web.json_response({"error": f"method {method} is not served; use GET or POST"}, status=405)
            try:
                status, data = await self._answer_post(request)
            except asyncio.TimeoutError:
                raise _HttpError(503, "the server is busy reading other large request bodies; retry later",
                                 close=True) from None
            return web.Response(body=data, status=status, content_type="application/json")
        except _HttpError as error:
            status = error.status
            response = web.json_response({"error": error.message}, status=error.status)
            if error.close:
                response.force_close()
            return response
        except ServingError as error:
            status = error.http_status
            return web.json_response({"error": error.message}, status=status)
        except Exception:  # a bug answers 500 without internals and the server keeps going; the log has the detail
            status = 500
            log.exception("REST %s %s failed", method, path)
            return web.json_response({"error": "the server failed to handle the request; its log has the details"},
                                     status=500)
        finally:
            latency = 1000 * (time.perf_counter() - start)
            self.metrics.record_request(f"rest.{method}", _model_of(path), str(status), latency)
            log.info("rest %s %s status=%s latency_ms=%.1f", method, path, status, latency)


def listening_socket(host: str, port: int, backlog: int = DEFAULT_BACKLOG) -> socket.socket:
    """A TCP socket bound to host:port and listening; OSError naming the address if it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT from a previous run; not sharing
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as error:
        sock.close()
        raise OSError(error.errno, f"cannot bind REST to {host}:{port}: {error.strerror}") from None
    sock.setblocking(False)
    return sock
