"""BertQuestionAnswerer: extractive QA, scoring every token as the answer's start and end."""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from bert_keras.checkpoints.task_spec import (
    DEFAULT_DOC_STRIDE,
    DEFAULT_MAX_ANSWER_LENGTH,
    DEFAULT_MAX_QUERY_LENGTH,
    default_window_settings,
)
from bert_keras.data.squad import squad_dataset, squad_example, squad_features
from bert_keras.errors import InvalidInputError
from bert_keras.modeling import task_inputs
from bert_keras.modeling.answer_spans import END, START, AnswerSettings, answer_text_outputs
from bert_keras.modeling.compiled_calls import cached_function, text_spec
from bert_keras.modeling.encoder import BertEncoder
from bert_keras.modeling.heads import SpanHead
from bert_keras.modeling.losses import global_weighted_mean
from bert_keras.modeling.task_model import BertTaskModel, deserialize_preprocessor, encoder_inputs, load_matching_head
from bert_keras.text import BertPreprocessor


@keras.saving.register_keras_serializable(package="bert_keras")
class BertQuestionAnswerer(BertTaskModel):
    """Encoder -> `SpanHead`, as BERT's run_squad.

    Inputs: the encoder's `token_ids`, `segment_ids` (question 0, context 1), `padding_mask`. Outputs:
    `{"start": logits, "end": logits}`, float32 `[batch, length]`, padding at -1e9. Default loss: the mean of
    the start and end cross-entropies against int positions `y = {"start": [batch], "end": [batch]}`
    (position 0, [CLS], marks "no answer in this window"), averaged over the global batch. The encoder's
    pooler, which this head does not use, is set non-trainable.

    With a preprocessor, `fit` / `evaluate` take `x=(questions, contexts)` and `y` as one answer per question
    (`{"text": ..., "answer_start": character offset}`, or None for no answer): long contexts become windows
    `doc_stride` pieces apart, as in run_squad. `answer(questions, contexts)` returns the answer text, score and
    character span.

    Args:
        encoder: a `BertEncoder`.
        preprocessor: the `BertPreprocessor` whose tokenizer and sequence length the model uses.
        doc_stride: pieces between the starts of a long context's windows (default: 128, at most the window).
        max_query_length: question pieces kept (default: 64, at most about half the sequence length).
        max_answer_length: the longest answer in pieces.
        version_2: SQuAD 2.0 rules: answer "no answer" when the null score beats the best span by more than
            `null_score_diff_threshold`.
        null_score_diff_threshold: see `version_2`.

    Examples:
    ```python
    reader = bert_keras.BertQuestionAnswerer.from_preset(bert_keras.assets.asset_path("minilm"),
                                                         sequence_length=128)
    reader.answer("Where do I live?", "My name is Wolfgang and I live in Berlin.")[0]["answer"]
    ```
    """

    TASK_NAME = "qa"  # in task.json
    SETTINGS = ("doc_stride", "max_query_length", "max_answer_length", "version_2", "null_score_diff_threshold")

    def __init__(self, encoder: BertEncoder, preprocessor: BertPreprocessor | None = None,
                 doc_stride: int | None = None, max_query_length: int | None = None,
                 max_answer_length: int = DEFAULT_MAX_ANSWER_LENGTH, version_2: bool = False,
                 null_score_diff_threshold: float = 0.0, **kwargs):
        encoder.pooler.trainable = False  # this head does not use the pooled output: nothing to train there
        inputs = encoder_inputs()
        sequence = encoder(inputs)["sequence_output"]
        start, end = SpanHead(encoder.config.initializer_range, name="span_head")(sequence, inputs["padding_mask"])
        outputs = {START: keras.layers.Activation("linear", dtype="float32", name=START)(start),
                   END: keras.layers.Activation("linear", dtype="float32", name=END)(end)}
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.encoder = encoder
        self.preprocessor = deserialize_preprocessor(preprocessor)
        length = self.preprocessor.packer.sequence_length if self.preprocessor is not None else None
        if length is not None:
            max_query_length, doc_stride = default_window_settings(length, max_query_length, doc_stride)
        max_query_length = DEFAULT_MAX_QUERY_LENGTH if max_query_length is None else max_query_length
        doc_stride = DEFAULT_DOC_STRIDE if doc_stride is None else doc_stride
        if doc_stride < 1 or max_answer_length < 1:
            raise InvalidInputError(f"doc_stride and max_answer_length must be >= 1, got {doc_stride}, "
                                    f"{max_answer_length}")
        self.doc_stride, self.max_query_length, self.max_answer_length = doc_stride, max_query_length, max_answer_length
        self.version_2, self.null_score_diff_threshold = version_2, null_score_diff_threshold

    @property
    def sequence_length(self) -> int:
        return self.preprocessor.packer.sequence_length

    @property
    def settings(self) -> AnswerSettings:
        return AnswerSettings(self.sequence_length, **self.answer_settings())

    def answer_settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.SETTINGS}

    def task_loss(self, y, y_pred, sample_weight):
        if not isinstance(y, dict) or START not in y or END not in y:
            raise InvalidInputError(f"BertQuestionAnswerer expects y = {{'{START}': positions, '{END}': positions}}, "
                                    f"got {type(y).__name__}")
        losses = [keras.losses.sparse_categorical_crossentropy(y[k], y_pred[k], from_logits=True)
                  for k in (START, END)]
        return global_weighted_mean((losses[0] + losses[1]) / 2.0)

    def default_metrics(self):
        accuracy = {k: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")] for k in (START, END)}
        return accuracy, None

    def task_config(self) -> dict[str, Any]:
        return self.answer_settings()

    def load_checkpoint_heads(self, head_tensors: dict, source: str) -> None:
        """An HF BertForQuestionAnswering head is loaded."""
        load_matching_head(self, head_tensors, source, "qa_outputs.weight")

    # ----------------------------------------------------------------------------------------- raw input

    def squad_examples(self, x, y=None) -> list:
        """`SquadExample`s of in-memory `(questions, contexts)` [and answers]; errors name the example."""
        if not (isinstance(x, tuple) and len(x) == 2):
            raise InvalidInputError("BertQuestionAnswerer takes x=(questions, contexts): two sequences of strings of "
                                    "the same length (or two strings)")
        questions, contexts = task_inputs.text_segments(x)
        if y is not None and len(y) != len(questions):
            raise InvalidInputError(f"got {len(questions)} questions but {len(y)} answers (y): they must match "
                                    "one to one")
        return [squad_example(str(row), question, context, [] if y is None else _answers(y[row], row), f"y[{row}]")
                for row, (question, context) in enumerate(zip(questions, contexts))]

    def as_dataset(self, x, y=None, sample_weight=None, batch_size: int | None = None, shuffle: bool = False):
        """(questions, contexts) [with answers] -> doc-stride windows as batches of encoder inputs [, positions]."""
        if isinstance(x, tf.data.Dataset) or task_inputs.is_tokenized(x):
            return super().as_dataset(x, y, sample_weight, batch_size, shuffle)
        if sample_weight is not None:
            raise InvalidInputError("BertQuestionAnswerer does not take sample_weight with raw questions")

        self._require_preprocessor()
        features = squad_features(self.squad_examples(x, y), self.preprocessor.tokenizer, self.sequence_length,
                                  self.doc_stride, self.max_query_length)
        dataset = squad_dataset(features, batch_size or task_inputs.DEFAULT_BATCH_SIZE, with_labels=y is not None,
                                shuffle=shuffle, max_width=self.sequence_length)
        return dataset if y is not None else dataset.map(lambda inputs: (inputs,))

    def predict(self, x, batch_size=None, verbose="auto", **kwargs):
        """Start and end logits per window (tokenized input or a dataset: Keras' predict). For answers to raw
        questions use `answer`."""
        if isinstance(x, tf.data.Dataset) or task_inputs.is_tokenized(x):
            return super().predict(x, batch_size=batch_size, verbose=verbose, **kwargs)
        raise InvalidInputError("BertQuestionAnswerer.predict takes tokenized windows; for raw (question, context) "
                                "strings call answer(questions, contexts)")

    # ----------------------------------------------------------------------------------------- outputs

    def _answer_function(self):
        tokenizer, settings = self.preprocessor.tokenizer, self.settings
        return cached_function(self, "answer", lambda: tf.function(
            lambda question, context: answer_text_outputs(self, tokenizer, settings, question, context),
            input_signature=[text_spec(), text_spec()]))

    def answer(self, questions, contexts, batch_size: int = task_inputs.DEFAULT_BATCH_SIZE) -> list[dict[str, Any]]:
        """For each (question, context): `answer` (text, "" for no answer), `start` / `end` (character offsets in
        the context, None for no answer), `score` (start + end logit; the null score for no answer) and
        `has_answer`, by the exported QA signature's rules (doc-stride windows, max-context, n-best spans)."""
        self._require_preprocessor()
        questions, contexts = task_inputs.text_segments((questions, contexts))
        function, results = self._answer_function(), []
        for i in range(0, len(questions), batch_size):
            out = {k: v.numpy() for k, v in function(tf.constant(questions[i:i + batch_size]),
                                                       tf.constant(contexts[i:i + batch_size])).items()}
            for row in range(len(out["answer"])):
                found = bool(out["has_answer"][row])
                results.append({"answer": out["answer"][row].decode("utf-8"), "has_answer": found,
                                "start": int(out["start"][row]) if found else None,
                                "end": int(out["end"][row]) if found else None, "score": float(out["score"][row])})
        return results


def _answers(answer, row: int) -> list[tuple[str, int]]:
    """(text, start) pairs of one answer given as a dict / (text, start) / None (no answer) / a list of those."""
    if answer is None:
        return []
    items: Sequence = answer if isinstance(answer, list) else [answer]
    out = []
    for item in items:
        if isinstance(item, dict):
            text, start = item.get("text"), item.get("answer_start")
        elif isinstance(item, tuple) and len(item) == 2:
            text, start = item
        else:
            raise InvalidInputError(f"y[{row}]: an answer is {{'text': str, 'answer_start': int}}, (text, start) or "
                                    f"None, got {item!r}")
        if not isinstance(text, str) or not isinstance(start, (int, np.integer)):
            raise InvalidInputError(f"y[{row}]: answer text must be a string and answer_start an int, got {item!r}")
        out.append((text, int(start)))
    return out
