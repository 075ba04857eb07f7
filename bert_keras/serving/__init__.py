"""Serving: a server that speaks TF Serving's gRPC and REST APIs over exported SavedModels, and clients."""

from bert_keras.serving.client import Answer, Classification, Entity, GrpcClient, RestClient, TaggedText, TaggedWord
from bert_keras.serving.config import BatchingParameters, read_model_server_config, single_model_config
from bert_keras.serving.errors import ServingError
from bert_keras.serving.server import ModelServer, ServerOptions

__all__ = ["Answer", "BatchingParameters", "Classification", "Entity", "GrpcClient", "ModelServer", "RestClient",
           "ServerOptions", "ServingError", "TaggedText", "TaggedWord", "read_model_server_config",
           "single_model_config"]
