"""Clients for TF Serving's APIs (ours or the real tensorflow_model_server): gRPC and REST, one small API.

    client = GrpcClient("127.0.0.1:8500", "reviews")      # or RestClient("http://127.0.0.1:8501", "reviews")
    client.classify(["A wonderful film."])[0].label       # the Classify API (tf.Example with a "text" feature)
    client.predict({"text": ["A wonderful film."]})       # any signature: {output: numpy array}

Every call has a deadline (`timeout` seconds) and is retried on UNAVAILABLE (gRPC) / 503 (REST) with exponential
backoff, `retries` times; other errors raise `ServingError` with the server's status code and message.
"""

from __future__ import annotations

import abc
import base64
import dataclasses
import json
import ssl
import time
import urllib.error
import urllib.request
from typing import Any, Sequence

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from bert_keras.errors import InvalidInputError
from bert_keras.serving.errors import HTTP_STATUS, ServingError
from bert_keras.serving_contract import (
    CLASSIFY_SIGNATURE,
    CONTEXT,
    EMBED_OUTPUTS,
    EXAMPLE_TEXT_FEATURE,
    EXAMPLE_TEXT_PAIR_FEATURE,
    NER_OUTPUTS,
    QA_OUTPUTS,
    QUESTION,
    TEXT,
)

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_RETRIES = 3
BACKOFF_SECONDS = 0.1
_CODE_OF_HTTP = {status: code for code, status in HTTP_STATUS.items()}
_CODE_OF_HTTP.update({400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND,
                      413: grpc.StatusCode.RESOURCE_EXHAUSTED, 500: grpc.StatusCode.INTERNAL})


@dataclasses.dataclass
class Classification:
    """A text's best label, its score, and every label's score."""

    label: str
    score: float
    scores: dict[str, float]


@dataclasses.dataclass
class TaggedWord:
    word: str
    label: str
    score: float
    start: int
    end: int


@dataclasses.dataclass
class Entity:
    type: str
    text: str
    start: int
    end: int
    score: float


@dataclasses.dataclass
class TaggedText:
    """One text's words and the entities the export decoded from their tags (by the model's tag scheme)."""

    words: list[TaggedWord]
    entities: list[Entity]


@dataclasses.dataclass
class Answer:
    text: str
    start: int
    end: int
    score: float
    has_answer: bool


def _example(text: str, pair: str | None) -> example_pb2.Example:
    """A tf.train.Example with the "text" (and "text_pair") bytes features the classify signature parses."""
    example = example_pb2.Example()
    example.features.feature[EXAMPLE_TEXT_FEATURE].bytes_list.value.append(text.encode("utf-8"))
    if pair is not None:
        example.features.feature[EXAMPLE_TEXT_PAIR_FEATURE].bytes_list.value.append(pair.encode("utf-8"))
    return example


def _classifications(rows: list[list[tuple[str, float]]]) -> list[Classification]:
    out = []
    for row in rows:
        scores = {label: float(score) for label, score in row}
        best = max(scores, key=scores.get)
        out.append(Classification(best, scores[best], scores))
    return out


class ServingClient(abc.ABC):
    """What both clients offer. `model`: the model name; `version` / `version_label`: pin one (default latest)."""

    def __init__(self, model: str, version: int | None = None, version_label: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS, retries: int = DEFAULT_RETRIES):
        self.model, self.version, self.version_label = model, version, version_label
        self.timeout, self.retries = timeout, retries

    def _retrying(self, call):
        for attempt in range(self.retries + 1):
            try:
                return call()
            except ServingError as error:
                if error.code != grpc.StatusCode.UNAVAILABLE or attempt == self.retries:
                    raise
                time.sleep(BACKOFF_SECONDS * 2 ** attempt)

    @abc.abstractmethod
    def predict(self, inputs: dict[str, Any], signature_name: str = "") -> dict[str, np.ndarray]:
        """Run a signature (default serving_default) on named inputs; {output: array}."""

    @abc.abstractmethod
    def _classify(self, examples: list, signature_name: str) -> list[list[tuple[str, float]]]:
        """The Classify API on tf.Examples."""

    @abc.abstractmethod
    def status(self) -> list[dict]:
        """[{"version", "state"}] of the model's versions."""

    def classify(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None,
                 signature_name: str = CLASSIFY_SIGNATURE) -> list[Classification]:
        """Labels of texts (or text pairs) through the Classify API (signature method tensorflow/serving/classify)."""
        pairs = list(text_pairs) if text_pairs is not None else [None] * len(texts)
        if len(pairs) != len(texts):
            raise InvalidInputError(f"{len(texts)} texts but {len(pairs)} text pairs")
        return _classifications(self._classify([_example(t, p) for t, p in zip(texts, pairs)], signature_name))

    def tag(self, texts: Sequence[str]) -> list[list[TaggedWord]]:
        """Words with labels and character offsets, from an NER export's default signature."""
        out = self.predict({TEXT: list(texts)})
        return [_tagged_words(out, row) for row in range(len(texts))]

    def tag_entities(self, texts: Sequence[str]) -> list[TaggedText]:
        """Words and entities (type, text, character offsets, score) from an NER export's default signature; the
        export decodes the entities itself, by its model's tag scheme."""
        out, ner = self.predict({TEXT: list(texts)}), NER_OUTPUTS
        if ner.num_entities not in out:
            raise InvalidInputError("this NER export returns no entities (it predates them): export the model again "
                                    "with `bert-keras export`")
        return [TaggedText(_tagged_words(out, row), [
            Entity(_text(out[ner.entity_types][row][i]), _text(out[ner.entity_texts][row][i]),
                   int(out[ner.entity_start][row][i]), int(out[ner.entity_end][row][i]),
                   float(out[ner.entity_scores][row][i])) for i in range(int(out[ner.num_entities][row]))])
            for row in range(len(texts))]

    def answer(self, questions: Sequence[str], contexts: Sequence[str]) -> list[Answer]:
        """Answer spans from a QA export's default signature."""
        out = self.predict({QUESTION: list(questions), CONTEXT: list(contexts)})
        answers, starts, ends = out[QA_OUTPUTS.answer], out[QA_OUTPUTS.start], out[QA_OUTPUTS.end]
        scores, has_answer = out[QA_OUTPUTS.score], out[QA_OUTPUTS.has_answer]
        return [Answer(_text(answers[i]), int(starts[i]), int(ends[i]), float(scores[i]), bool(has_answer[i]))
                for i in range(len(questions))]

    def embed(self, texts: Sequence[str], output: str = EMBED_OUTPUTS.mean_pooled) -> np.ndarray:
        """Sentence vectors from an embedding export."""
        return np.asarray(self.predict({TEXT: list(texts)})[output], np.float32)


def _tagged_words(out: dict, row: int) -> list[TaggedWord]:
    ner = NER_OUTPUTS
    return [TaggedWord(_text(out[ner.words][row][i]), _text(out[ner.labels][row][i]), float(out[ner.scores][row][i]),
                       int(out[ner.start][row][i]), int(out[ner.end][row][i]))
            for i in range(int(out[ner.num_words][row]))]


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class GrpcClient(ServingClient):
    """TF Serving's gRPC API (PredictionService / ModelService stubs of tensorflow-serving-api).

    Args:
        address: "host:port" (TF Serving's default gRPC port is 8500).
        max_message_bytes: largest message sent or received.
        credentials: `grpc.ssl_channel_credentials(ca, key, chain)` for a server started with --ssl_config_file
            (key and chain: the client certificate mutual TLS asks for); None for a plain channel.
    """

    def __init__(self, address: str, model: str, max_message_bytes: int = 64 * 1024 * 1024,
                 credentials: grpc.ChannelCredentials | None = None, **kwargs: Any):
        super().__init__(model, **kwargs)
        self.address = address
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes)]
        self.channel = grpc.secure_channel(address, credentials, options=options) if credentials is not None \
            else grpc.insecure_channel(address, options=options)
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def _spec(self, spec, signature_name: str = "") -> None:
        spec.name = self.model
        if self.version is not None:
            spec.version.value = self.version
        elif self.version_label:
            spec.version_label = self.version_label
        if signature_name:
            spec.signature_name = signature_name

    def _call(self, method, request):
        def once():
            try:
                return method(request, timeout=self.timeout)
            except grpc.RpcError as error:
                raise ServingError(error.code(), error.details() or "") from None

        return self._retrying(once)

    def predict(self, inputs: dict[str, Any], signature_name: str = "") -> dict[str, np.ndarray]:
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, signature_name)
        for key, value in inputs.items():
            array = np.asarray(value, dtype=object) if _is_text(value) else np.asarray(value)
            if array.dtype == object:
                array = np.vectorize(lambda v: v.encode("utf-8") if isinstance(v, str) else v, otypes=[object])(
                    array) if array.size else array
            request.inputs[key].CopyFrom(tf.make_tensor_proto(array, dtype=tf.string if array.dtype == object
                                                              else None))
        response = self._call(self.prediction.Predict, request)
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def _classify(self, examples, signature_name):
        request = classification_pb2.ClassificationRequest()
        self._spec(request.model_spec, signature_name)
        request.input.example_list.examples.extend(examples)
        response = self._call(self.prediction.Classify, request)
        return [[(c.label, c.score) for c in row.classes] for row in response.result.classifications]

    def status(self) -> list[dict]:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = self.model
        response = self._call(self.models.GetModelStatus, request)
        names = get_model_status_pb2.ModelVersionStatus.State
        return [{"version": s.version, "state": names.Name(s.state)} for s in response.model_version_status]

    def close(self) -> None:
        self.channel.close()


def _is_text(value) -> bool:
    while isinstance(value, (list, tuple)) and value:
        value = value[0]
    return isinstance(value, (str, bytes))


class RestClient(ServingClient):
    """TF Serving's REST API (/v1/models/...) over the standard library's urllib.

    Args:
        url: "http://host:port" (TF Serving's default REST port is 8501), or "https://..." for TLS.
        ssl_context: the `ssl.SSLContext` for https (the server's CA, and a client certificate for mutual TLS).
    """

    def __init__(self, url: str, model: str, ssl_context: ssl.SSLContext | None = None, **kwargs: Any):
        super().__init__(model, **kwargs)
        self.url = url.rstrip("/")
        self.ssl_context = ssl_context

    def _model_url(self) -> str:
        url = f"{self.url}/v1/models/{self.model}"
        if self.version is not None:
            url += f"/versions/{self.version}"
        elif self.version_label:
            url += f"/labels/{self.version_label}"
        return url

    def _request(self, url: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode("utf-8")

        def once():
            request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout, context=self.ssl_context) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as error:
                try:
                    message = json.loads(error.read()).get("error", "")
                except ValueError:
                    message = str(error)
                raise ServingError(_CODE_OF_HTTP.get(error.code, grpc.StatusCode.UNKNOWN), message) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                code = grpc.StatusCode.DEADLINE_EXCEEDED if isinstance(getattr(error, "reason", error), TimeoutError) \
                    else grpc.StatusCode.UNAVAILABLE
                raise ServingError(code, f"{url}: {getattr(error, 'reason', error)}") from None

        return self._retrying(once)

    def predict(self, inputs: dict[str, Any], signature_name: str = "") -> dict[str, np.ndarray]:
        body: dict[str, Any] = {"inputs": {k: _json_input(v) for k, v in inputs.items()}}
        if signature_name:
            body["signature_name"] = signature_name
        outputs = self._request(f"{self._model_url()}:predict", body)["outputs"]
        if not isinstance(outputs, dict):
            outputs = {"output": outputs}
        return {k: _from_json(v) for k, v in outputs.items()}

    def _classify(self, examples, signature_name):
        rows = []
        for example in examples:
            features = {}
            for key, feature in example.features.feature.items():
                values = [{"b64": base64.b64encode(v).decode()} for v in feature.bytes_list.value]
                features[key] = values[0] if len(values) == 1 else values
            rows.append(features)
        body = {"examples": rows, "signature_name": signature_name} if signature_name else {"examples": rows}
        return [[(label, score) for label, score in row] for row in
                self._request(f"{self._model_url()}:classify", body)["results"]]

    def status(self) -> list[dict]:
        return [{"version": int(s["version"]), "state": s["state"]}
                for s in self._request(f"{self.url}/v1/models/{self.model}")["model_version_status"]]


def _json_input(value):
    array = np.asarray(value, dtype=object) if _is_text(value) else np.asarray(value)
    if array.dtype == object:
        def encode(v):
            raw = v.encode("utf-8") if isinstance(v, str) else v
            return {"b64": base64.b64encode(raw).decode("ascii")}

        return np.vectorize(encode, otypes=[object])(array).tolist() if array.size else []
    return array.tolist()


def _from_json(value) -> np.ndarray:
    def decode(v):
        if isinstance(v, dict) and "b64" in v:
            return base64.b64decode(v["b64"])
        if isinstance(v, list):
            return [decode(x) for x in v]
        return v.encode("utf-8") if isinstance(v, str) else v

    decoded = decode(value)
    probe = decoded
    while isinstance(probe, list) and probe:
        probe = probe[0]
    return np.array(decoded, dtype=object if isinstance(probe, bytes) else None)
