"""ServingError: a failed request with the gRPC status code TF Serving would return, and its HTTP equivalent.

It is a `BertKerasError`, so the `bert-keras` command reports a refused request (or an unreachable server) as one
line, like any other error the user can fix.
"""

from __future__ import annotations

import time
from typing import Callable

import grpc

from bert_keras.errors import BertKerasError

# TF Serving's REST layer maps the gRPC codes to these HTTP statuses.
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 400, grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.INTERNAL: 500, grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401, grpc.StatusCode.UNKNOWN: 500, grpc.StatusCode.CANCELLED: 499,
}


class ServingError(BertKerasError):
    """A request that cannot be served: `code` (grpc.StatusCode) and a message naming the problem."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code, self.message = code, message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


def expired(deadline: float | None, is_active: Callable[[], bool] | None) -> ServingError | None:
    """Why a request must not run any more: its caller has gone (CANCELLED) or its deadline, in
    time.monotonic() seconds, has passed (DEADLINE_EXCEEDED); None if it may still run."""
    if is_active is not None and not is_active():
        return ServingError(grpc.StatusCode.CANCELLED, "the request was cancelled before it ran")
    if deadline is not None and time.monotonic() >= deadline:
        return ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "the request's deadline passed before it ran; it was "
                            "not run")
    return None


def invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)
