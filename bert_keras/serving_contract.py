"""The names an export promises and the server and the clients rely on: one contract both sides import.

`bert_keras.export` writes SavedModels whose signature keys, method names, input names and output keys are the
ones below; `bert_keras.serving` (the bundled server and the gRPC/REST clients) reads them back by the same
names, and so do the users' own clients of TF Serving. Changing a name here changes the API of every export
(and breaks clients of the exports already deployed). Standard library only, so the server and the clients can
import it without TensorFlow or Keras; TF Serving's own names are spelled as in
`tf.saved_model.signature_constants`.
"""

from __future__ import annotations

import dataclasses

# The MetaGraph tag TF Serving loads (tf.saved_model.SERVING).
SERVE_TAG = "serve"

# Signature keys of a SavedModel export. Every export has the first two; `tokenize` where the model input is one
# packed text (pair): classify and embed; `classify` for classify exports (TF Serving's Classify RPC).
DEFAULT_SIGNATURE = "serving_default"  # raw strings -> readable task outputs
IDS_SIGNATURE = "predict_ids"  # ENCODER_INPUTS -> the task's logits (or vectors)
TOKENIZE_SIGNATURE = "tokenize"  # raw strings -> ENCODER_INPUTS
CLASSIFY_SIGNATURE = "classify"  # serialized tf.Examples -> classes, scores

# TF Serving's method names of a SignatureDef: Predict runs any signature; Classify / Regress only one of theirs.
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"

# String inputs `[batch]` of the default and tokenize signatures: one text [and its pair] (classify, ner, embed),
# or a question and its context (qa).
TEXT, TEXT_PAIR = "text", "text_pair"
QUESTION, CONTEXT = "question", "context"

# The encoder's inputs, int32 `[batch, length]` each: the predict_ids inputs and the tokenize outputs.
TOKEN_IDS, SEGMENT_IDS, PADDING_MASK = "token_ids", "segment_ids", "padding_mask"
ENCODER_INPUTS = (TOKEN_IDS, SEGMENT_IDS, PADDING_MASK)

# TF Serving's names in a Classify / Regress signature: the serialized tf.Examples in, classes and scores (or
# the regression values) out.
CLASSIFY_INPUTS = "inputs"
CLASSIFY_OUTPUT_CLASSES, CLASSIFY_OUTPUT_SCORES = "classes", "scores"
REGRESS_INPUTS, REGRESS_OUTPUTS = "inputs", "outputs"
# The tf.Example features a classify export's `classify` signature parses: one bytes value each.
EXAMPLE_TEXT_FEATURE, EXAMPLE_TEXT_PAIR_FEATURE = TEXT, TEXT_PAIR


# Output keys of each task's default (and predict_ids) signature.

@dataclasses.dataclass(frozen=True)
class ClassifyOutputs:
    """A classify export's serving_default and predict_ids outputs (`bert_keras.modeling.classifier`)."""

    probabilities: str = "probabilities"
    label_ids: str = "label_ids"
    labels: str = "labels"
    logits: str = "logits"


@dataclasses.dataclass(frozen=True)
class NerOutputs:
    """An ner export's serving_default outputs: per word, then per entity (decoded in the graph by the model's tag
    scheme); predict_ids gives the per-token `logits` only."""

    words: str = "words"
    labels: str = "labels"
    label_ids: str = "label_ids"
    scores: str = "scores"
    start: str = "start"
    end: str = "end"
    logits: str = "logits"
    num_words: str = "num_words"
    entity_types: str = "entity_types"
    entity_texts: str = "entity_texts"
    entity_start: str = "entity_start"
    entity_end: str = "entity_end"
    entity_scores: str = "entity_scores"
    num_entities: str = "num_entities"


@dataclasses.dataclass(frozen=True)
class QaOutputs:
    """A qa export's serving_default outputs (the answer span), and predict_ids' `start_logits`, `end_logits`."""

    answer: str = "answer"
    start: str = "start"
    end: str = "end"
    score: str = "score"
    has_answer: str = "has_answer"
    start_logits: str = "start_logits"
    end_logits: str = "end_logits"


@dataclasses.dataclass(frozen=True)
class EmbedOutputs:
    """An embed export's serving_default and predict_ids outputs, float32 `[batch, hidden]`."""

    pooled_output: str = "pooled_output"
    mean_pooled: str = "mean_pooled"


CLASSIFY_OUTPUTS = ClassifyOutputs()
NER_OUTPUTS = NerOutputs()
QA_OUTPUTS = QaOutputs()
EMBED_OUTPUTS = EmbedOutputs()


# The OpenVINO export layout (bert_keras.export.openvino), which the server recognises by its manifest: the id
# part as OpenVINO IR in the version directory, the text part as a SavedModel in TEXT_MODEL, whose signatures
# `S__pre` / `S__post` surround the model for each public signature S that runs it. The post signature's inputs
# are S's inputs plus each model output NAME fed as MODEL_OUTPUT_PREFIX + NAME.
OPENVINO_MANIFEST = "openvino_signatures.json"
OPENVINO_MODEL, OPENVINO_WEIGHTS = "model.xml", "model.bin"
OPENVINO_TEXT_MODEL = "text"
OPENVINO_PRE, OPENVINO_POST = "__pre", "__post"
OPENVINO_MODEL_OUTPUT_PREFIX = "model_"
# How the server runs the IR: OpenVINO's INFERENCE_PRECISION_HINT, or "auto": bf16 where the CPU has native bf16.
OPENVINO_PRECISIONS = {"float32": "f32", "bfloat16": "bf16", "auto": None}
