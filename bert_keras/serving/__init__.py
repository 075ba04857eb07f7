"""Serving: a server that speaks TF Serving's gRPC and REST APIs over exported SavedModels, and clients."""

from bert_keras.serving.client import Answer, Classification, GrpcClient, RestClient, TaggedWord
from bert_keras.serving.config import BatchingParameters, read_model_server_config, single_model_config
from bert_keras.serving.errors import ServingError
from bert_keras.serving.server import ModelServer, ServerOptions

__all__ = ["Answer", "BatchingParameters", "Classification", "GrpcClient", "ModelServer", "RestClient",
           "ServerOptions", "ServingError", "TaggedWord", "read_model_server_config", "single_model_config"]
