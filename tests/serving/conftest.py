"""Fixtures shared by the server tests: each module defines its own `server`; `stub` talks to it over gRPC."""

import grpc
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc


@pytest.fixture(scope="module")
def stub(server):
    channel = grpc.insecure_channel(server.grpc_address)
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()
