"""TF Serving's configuration files, read with TF Serving's own schema and text format.

- models.config: a `ModelServerConfig` text proto (tensorflow_serving.config), `--model_config_file`.
- batching.config: a `BatchingParameters` text proto, `--batching_parameters_file`.
- ssl.config: an `SSLConfig` text proto, `--ssl_config_file` (server_key, server_cert: PEM text; custom_ca: PEM
  text of the CA that signs client certificates; client_verify: require one, i.e. mutual TLS).
The last two protos are not in the tensorflow-serving-api package, so they are declared here with TF Serving's
field names (session_bundle_config.proto, ssl_config.proto) and parsed by protobuf's text_format: a typo is an
error naming the line.
"""

from __future__ import annotations

import dataclasses
import os

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2
from tensorflow_serving.config import model_server_config_pb2

from bert_keras.errors import InputFileError, InvalidInputError

DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_ENQUEUED_BATCHES = 100
DEFAULT_NUM_BATCH_THREADS = 1

_WRAPPED = {"max_batch_size": "Int64Value", "batch_timeout_micros": "Int64Value",
            "max_enqueued_batches": "Int64Value", "num_batch_threads": "Int64Value", "thread_pool_name": "StringValue",
            "max_execution_batch_size": "Int64Value", "enable_large_batch_splitting": "BoolValue"}


def _ssl_config_class():
    """The SSLConfig message class (TF Serving's ssl_config.proto)."""
    pool = descriptor_pool.DescriptorPool()
    file = descriptor_pb2.FileDescriptorProto(name="bert_keras_ssl.proto", package="tensorflow.serving",
                                              syntax="proto3")
    message = file.message_type.add(name="SSLConfig")
    optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    for number, name in enumerate(("server_key", "server_cert", "custom_ca"), 1):
        message.field.add(name=name, number=number, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                          label=optional)
    message.field.add(name="client_verify", number=4, type=descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
                      label=optional)
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.SSLConfig"))


def _batching_parameters_class():
    """The BatchingParameters message class (TF Serving's field names; numbers are irrelevant to text format)."""
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(name="bert_keras_batching.proto", package="tensorflow.serving",
                                              dependency=["google/protobuf/wrappers.proto"], syntax="proto3")
    message = file.message_type.add(name="BatchingParameters")
    number = 0
    for number, (name, kind) in enumerate(_WRAPPED.items(), 1):
        message.field.add(name=name, number=number, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                          type_name=f".google.protobuf.{kind}",
                          label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    message.field.add(name="allowed_batch_sizes", number=number + 1,
                      type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)
    message.field.add(name="pad_variable_length_inputs", number=number + 2,
                      type=descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


def _parse_error(source: str, error: text_format.ParseError) -> InputFileError:
    """`source:LINE:COLUMN : what` (protobuf's message starts with the line and column where it knows them)."""
    return InputFileError(f"{source}:{error}" if error.GetLine() is not None else f"{source}: {error}")


def _parse_text(text: str, source: str, message):
    """`message` filled from its text format; InputFileError naming `source`, line and column otherwise."""
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as error:
        raise _parse_error(source, error) from None
    return message


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's batching settings (the ones this server honours).

    Attributes:
        max_batch_size: most examples (summed over requests) in one model call.
        batch_timeout_micros: how long the first request of a batch waits for others.
        max_enqueued_batches: batches waiting per signature; beyond, requests get UNAVAILABLE.
        num_batch_threads: model calls in parallel.
        allowed_batch_sizes: if set, a batch is padded up to the next of these sizes (the last must equal
            max_batch_size), as TF Serving does, to bound the number of traced shapes.
        pad_variable_length_inputs: requests whose inputs differ in non-batch dimensions are padded to the
            largest, with each tensor's first element (TF Serving's rule), instead of being batched apart.
    """

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = DEFAULT_MAX_ENQUEUED_BATCHES
    num_batch_threads: int = DEFAULT_NUM_BATCH_THREADS
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False

    def __post_init__(self):
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"batching parameter {name} must be >= 1, got {getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise InvalidInputError(f"batch_timeout_micros must be >= 0, got {self.batch_timeout_micros}")
        sizes = list(self.allowed_batch_sizes)
        if sizes and (sizes != sorted(set(sizes)) or sizes[-1] != self.max_batch_size or sizes[0] < 1):
            raise InvalidInputError(f"allowed_batch_sizes {sizes} must increase and end with max_batch_size "
                                    f"{self.max_batch_size} (TF Serving's rule)")

    @classmethod
    def from_text(cls, text: str, source: str = "<batching parameters>") -> "BatchingParameters":
        message = _parse_text(text, source, _batching_parameters_class()())
        values = {}
        for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"):
            if message.HasField(name):
                values[name] = getattr(message, name).value
        values["allowed_batch_sizes"] = tuple(message.allowed_batch_sizes)
        values["pad_variable_length_inputs"] = message.pad_variable_length_inputs
        try:
            return cls(**values)
        except InvalidInputError as error:
            raise InputFileError(f"{source}: {error}") from None

    @classmethod
    def from_file(cls, path: str) -> "BatchingParameters":
        with open(path, encoding="utf-8") as f:
            return cls.from_text(f.read(), path)


@dataclasses.dataclass(frozen=True)
class SSLConfig:
    """TLS for both APIs, as TF Serving's --ssl_config_file gives it.

    Attributes:
        server_key: the server's private key, PEM text.
        server_cert: the server's certificate (chain), PEM text.
        custom_ca: PEM text of the CA certificates client certificates must chain to ("" for none).
        client_verify: require and verify a client certificate (mutual TLS); needs custom_ca.
    """

    server_key: str
    server_cert: str
    custom_ca: str = ""
    client_verify: bool = False

    def __post_init__(self):
        for name in ("server_key", "server_cert"):
            if "-----BEGIN" not in getattr(self, name):
                raise InvalidInputError(f"ssl config {name} must hold PEM text (-----BEGIN ...), got "
                                        f"{len(getattr(self, name))} characters without a PEM header")
        if self.client_verify and not self.custom_ca:
            raise InvalidInputError("ssl config client_verify: true needs custom_ca, the CA that signs client "
                                    "certificates")

    @classmethod
    def from_text(cls, text: str, source: str = "<ssl config>") -> "SSLConfig":
        message = _parse_text(text, source, _ssl_config_class()())
        try:
            return cls(message.server_key, message.server_cert, message.custom_ca, message.client_verify)
        except InvalidInputError as error:
            raise InputFileError(f"{source}: {error}") from None

    @classmethod
    def from_file(cls, path: str) -> "SSLConfig":
        with open(path, encoding="utf-8") as f:
            return cls.from_text(f.read(), path)


def read_model_server_config(path: str) -> model_server_config_pb2.ModelServerConfig:
    """A models.config file; relative base paths are taken relative to the file's directory."""
    with open(path, encoding="utf-8") as f:
        config = _parse_text(f.read(), path, model_server_config_pb2.ModelServerConfig())
    if not config.HasField("model_config_list") or not config.model_config_list.config:
        raise InputFileError(f"{path}: no model_config_list with at least one config {{ name, base_path }}")
    for model in config.model_config_list.config:
        if not model.name or not model.base_path:
            raise InputFileError(f"{path}: every model config needs name and base_path, got {model}")
        if not os.path.isabs(model.base_path):
            model.base_path = os.path.join(os.path.dirname(os.path.abspath(path)), model.base_path)
    return config


def single_model_config(name: str, base_path: str) -> model_server_config_pb2.ModelServerConfig:
    """The config `--model_name NAME --model_base_path DIR` stands for (latest version served)."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name, model.base_path, model.model_platform = name, os.path.abspath(base_path), "tensorflow"
    return config
