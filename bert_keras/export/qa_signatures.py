"""Serving signatures of a fine-tuned question answerer: (question, context) strings -> the answer span.

The span search is `bert_keras.modeling.answer_spans.answer_text_outputs`, the same function
`BertQuestionAnswerer.answer` runs.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from bert_keras.export.signatures import Endpoint, TaskSignatures, text_spec
from bert_keras.modeling.answer_spans import END, START, answer_text_outputs
from bert_keras.serving_contract import CONTEXT, QA_OUTPUTS, QUESTION


class QuestionAnsweringSignatures(TaskSignatures):
    """`serving_default`: question, context `[batch]` -> `answer` (string), `start`/`end` (character offsets in
    the context decoded with errors="replace"; -1 when there is no answer), `score` (start + end logit; for no
    answer, the null score) and `has_answer`. `predict_ids`: encoder inputs -> `start_logits`, `end_logits`.

    Args:
        model: a `BertQuestionAnswerer` with its preprocessor.
    """

    def __init__(self, model: keras.Model):
        tokenizer = model.preprocessor.tokenizer
        super().__init__(model, tokenizer, model.sequence_length)
        self.settings = model.settings

    def ids_outputs(self, inputs: dict[str, tf.Tensor], outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {QA_OUTPUTS.start_logits: outputs[START], QA_OUTPUTS.end_logits: outputs[END]}

    def text_endpoint(self) -> Endpoint:
        model, tokenizer, settings = self.model, self.tokenizer, self.settings

        def serve(question, context):
            return answer_text_outputs(model, tokenizer, settings, question, context)

        return serve, self.text_specs()

    def text_specs(self) -> list[tf.TensorSpec]:
        return [text_spec(QUESTION), text_spec(CONTEXT)]
