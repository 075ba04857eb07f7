"""BatchScheduler: TF Serving's request batching (BatchingParameters semantics) in front of Servable.run.

Requests for the same servable, signature and output set whose inputs have the same non-batch shapes (or any
shapes, with pad_variable_length_inputs) join an open batch. A batch closes when it holds max_batch_size examples
or batch_timeout_micros after its first request; num_batch_threads workers run closed batches, concatenated along
dimension 0 (padded up to the next allowed batch size), and split the outputs back. At most max_enqueued_batches
batches wait per queue: beyond that a request is refused with UNAVAILABLE at once, so the queue cannot grow
without bound under overload.

Batch isolation: when a batched run fails, the batch is split in halves and each half re-run, down to single
requests, so only the requests that fail on their own get an error (each with its own message) and every valid
neighbour gets its answer. A batch with k bad requests among n costs at most about 2k·log2(n) extra runs.
Requests whose deadline has passed, or whose caller has gone, are dropped before their batch runs.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
from typing import Callable

import grpc
import numpy as np

from bert_keras.serving.config import BatchingParameters
from bert_keras.serving.errors import ServingError, expired, invalid
from bert_keras.serving.servable import Servable, Signature

log = logging.getLogger("bert_keras.serving")
DEFAULT_STOP_SECONDS = 30.0


class _Task:
    def __init__(self, inputs: dict[str, np.ndarray], size: int, deadline: float | None = None,
                 is_active: Callable[[], bool] | None = None):
        self.inputs, self.size, self.deadline, self.is_active = inputs, size, deadline, is_active
        self.future: concurrent.futures.Future = concurrent.futures.Future()

    def expired(self) -> ServingError | None:
        """Why this request must not run any more (deadline passed, caller gone), or None."""
        return expired(self.deadline, self.is_active)


class _Batch:
    def __init__(self, key, servable, signature, output_filter, timeout_s: float):
        self.key, self.servable, self.signature, self.output_filter = key, servable, signature, output_filter
        self.tasks: list[_Task] = []
        self.size = 0
        self.deadline = time.monotonic() + timeout_s
        self.closed = False


def _pad_to(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Pad the non-batch dimensions up to `shape` with the tensor's first element (TF Serving's rule)."""
    if array.shape[1:] == shape:
        return array
    fill = array.reshape(-1)[0] if array.size else (b"" if array.dtype == object else 0)
    out = np.full((array.shape[0],) + shape, fill, dtype=array.dtype)
    out[tuple(slice(0, d) for d in array.shape)] = array
    return out


class BatchScheduler:
    """Batches `Servable.run` calls.

    Args:
        parameters: the `BatchingParameters`.
        on_batch: optional callback(batch_size, padded_size) for metrics.
    """

    def __init__(self, parameters: BatchingParameters, on_batch: Callable[[int, int], None] | None = None):
        self.parameters = parameters
        self._on_batch = on_batch
        self._lock = threading.Condition()
        self._open: dict = {}  # key -> the batch still accepting requests
        self._queues: dict = collections.defaultdict(collections.deque)  # key -> batches waiting (open one last)
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
                         for i in range(parameters.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    def _key(self, servable, signature, inputs, output_filter):
        shapes = tuple(sorted((k, v.dtype.str, () if self.parameters.pad_variable_length_inputs else v.shape[1:])
                              for k, v in inputs.items()))
        return id(servable), signature.name, tuple(output_filter or ()), shapes

    def submit(self, servable: Servable, signature: Signature, inputs: dict[str, np.ndarray],
               output_filter: list[str] | None = None, deadline: float | None = None,
               is_active: Callable[[], bool] | None = None) -> concurrent.futures.Future:
        """Queue checked inputs; the future gives this request's outputs (or raises ServingError).

        `deadline` (time.monotonic() seconds) and `is_active` (False once the caller has gone) let the scheduler
        drop a request that can no longer be answered instead of running it.
        """
        sizes = {v.shape[0] for v in inputs.values() if v.ndim}
        if not inputs or not sizes or any(v.ndim == 0 for v in inputs.values()):
            raise invalid("batching needs every input to have a batch dimension (rank >= 1)")
        size = sizes.pop()
        if size > self.parameters.max_batch_size:
            raise invalid(f"Task size {size} is larger than maximum input batch size "
                          f"{self.parameters.max_batch_size}")
        task = _Task(inputs, size, deadline, is_active)
        if size == 0:  # nothing to batch: run it alone
            task.future.set_result(servable.run(signature, inputs, output_filter))
            return task.future
        key = self._key(servable, signature, inputs, output_filter)
        with self._lock:
            if self._stopping:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "the server is shutting down")
            batch = self._open.get(key)
            if batch is None or batch.size + size > self.parameters.max_batch_size:
                if batch is not None:
                    batch.closed = True
                if len(self._queues[key]) >= self.parameters.max_enqueued_batches:
                    raise ServingError(grpc.StatusCode.UNAVAILABLE,
                                       f"The batch scheduling queue to which this task was submitted is full "
                                       f"({self.parameters.max_enqueued_batches} batches waiting)")
                batch = _Batch(key, servable, signature, output_filter,
                               self.parameters.batch_timeout_micros / 1e6)
                self._open[key] = batch
                self._queues[key].append(batch)
            batch.tasks.append(task)
            batch.size += size
            if batch.size == self.parameters.max_batch_size:
                batch.closed = True
                self._open.pop(key, None)
            self._lock.notify_all()
        return task.future

    def _next_batch(self) -> _Batch | None:
        """The oldest batch that is full or past its deadline (waits for one); None when stopping."""
        with self._lock:
            while True:
                now = time.monotonic()
                ready, wake = None, None
                for key, queue in self._queues.items():
                    if not queue:
                        continue
                    head = queue[0]
                    if head.closed or head.deadline <= now or self._stopping:
                        if ready is None or head.deadline < ready.deadline:
                            ready = head
                    else:
                        wake = head.deadline if wake is None else min(wake, head.deadline)
                if ready is not None:
                    self._queues[ready.key].popleft()
                    if self._open.get(ready.key) is ready:
                        del self._open[ready.key]
                    ready.closed = True
                    return ready
                if self._stopping:
                    return None
                self._lock.wait(None if wake is None else max(0.0, wake - now))

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            live = []
            for task in batch.tasks:
                reason = task.expired()
                if reason is None:
                    live.append(task)
                else:
                    task.future.set_exception(reason)
            if live:
                self._run_isolated(batch, live)

    def _run_isolated(self, batch: _Batch, tasks: list[_Task]) -> None:
        """Run `tasks` as one batch; if that fails, re-run each half, so only failing requests get the error."""
        try:
            self._run(batch, tasks)
            return
        except ServingError as error:
            failure = error
        except Exception:  # a bug: report it to the callers, keep serving, keep the detail in the log
            log.exception("batched run of model %s failed", batch.servable.name)
            failure = ServingError(grpc.StatusCode.INTERNAL, f"model {batch.servable.name} failed to run the "
                                   "batch; the server log has the details")
        if len(tasks) == 1:
            tasks[0].future.set_exception(failure)
            return
        middle = len(tasks) // 2
        self._run_isolated(batch, tasks[:middle])
        self._run_isolated(batch, tasks[middle:])

    def _run(self, batch: _Batch, tasks: list[_Task]) -> None:
        keys = list(tasks[0].inputs)
        size = sum(t.size for t in tasks)
        merged = {}
        for key in keys:
            parts = [t.inputs[key] for t in tasks]
            if self.parameters.pad_variable_length_inputs:
                shape = tuple(max(p.shape[d] for p in parts) for d in range(1, parts[0].ndim))
                parts = [_pad_to(p, shape) for p in parts]
            merged[key] = np.concatenate(parts)
        padded = size
        allowed = [s for s in self.parameters.allowed_batch_sizes if s >= size]
        if allowed and allowed[0] > size:  # repeat the first example up to an allowed size
            padded = allowed[0]
            merged = {k: np.concatenate([v, np.repeat(v[:1], padded - size, axis=0)]) for k, v in merged.items()}
        if self._on_batch is not None:
            self._on_batch(size, padded)
        outputs = batch.servable.run(batch.signature, merged, batch.output_filter)
        pieces = []
        start = 0
        for task in tasks:
            piece = {}
            for name, value in outputs.items():
                if value.ndim == 0 or value.shape[0] != padded:
                    raise ServingError(grpc.StatusCode.INTERNAL,
                                       f"output {name!r} has no batch dimension of {padded}: cannot split a batch; "
                                       "turn batching off for this model")
                piece[name] = value[start:start + task.size]
            pieces.append(piece)
            start += task.size
        for task, piece in zip(tasks, pieces):  # only once every output split: a failure fails none half-way
            task.future.set_result(piece)

    def stop(self, timeout: float = DEFAULT_STOP_SECONDS) -> bool:
        """Run what is queued, then stop the workers; True if they finished within `timeout` seconds."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)
