"""Extractive question answering: SQuAD v1.1/v2.0 JSON -> BertQuestionAnswerer -> answer texts."""

from __future__ import annotations

from typing import Any

import keras

from bert_keras.data import squad
from bert_keras.data.squad_answers import squad_predictions
from bert_keras.errors import InvalidInputError
from bert_keras.metrics import squad_metrics
from bert_keras.modeling.encoder import BertEncoder
from bert_keras.modeling.question_answerer import BertQuestionAnswerer
from bert_keras.tasks.base import Task, predict_batches, shuffled_split
from bert_keras.text import BertPreprocessor


class SquadData:
    """Questions of one file (with the file's SQuAD version) and, once computed, their windowed features."""

    def __init__(self, path: str, examples, version: str):
        self.path, self.examples, self.version, self._features = path, examples, version, None

    def features(self, task: "QuestionAnsweringTask") -> squad.SquadFeatures:
        if self._features is None:
            spec = task.spec
            self._features = squad.squad_features(self.examples, task.tokenizer, spec.max_seq_length,
                                                  spec.doc_stride, spec.max_query_length)
        return self._features


class QuestionAnsweringTask(Task):
    """Span extraction (task name "qa"). Metrics: SQuAD's official exact match and F1 (percent; HasAns / NoAns
    splits for 2.0). Main metric: f1."""

    name = "qa"
    main_metric = "f1"

    def read(self, path: str, labelled: bool = True) -> SquadData:
        examples, version = squad.read_squad(path, require_answers=labelled)
        return SquadData(path, examples, version)

    def split(self, data: SquadData, held_out_fraction: float, seed: int):
        # Split by context, so no held-out question shares a paragraph with a training question.
        contexts = list(dict.fromkeys(e.context for e in data.examples))
        train, _ = shuffled_split(len(contexts), held_out_fraction, seed)
        train_contexts = {contexts[i] for i in train}
        pick = lambda keep: SquadData(data.path, [e for e in data.examples  # noqa: E731
                                                  if (e.context in train_contexts) == keep], data.version)
        return pick(True), pick(False)

    def size(self, data: SquadData) -> int:
        return len(data.features(self))

    def build_model(self, encoder: BertEncoder):
        spec = self.spec
        preprocessor = BertPreprocessor(self.tokenizer, sequence_length=spec.max_seq_length, padding="longest")
        return BertQuestionAnswerer(encoder, preprocessor=preprocessor, doc_stride=spec.doc_stride,
                                    max_query_length=spec.max_query_length, max_answer_length=spec.max_answer_length,
                                    version_2=spec.version_2, null_score_diff_threshold=spec.null_score_diff_threshold)

    def dataset(self, data: SquadData, batch_size: int, training: bool = False, seed: int = 0, options=None,
                class_weights=None, pad_to_multiple_of: int = 1):
        if class_weights is not None:
            raise InvalidInputError("class weights apply to classification only")
        return squad.squad_dataset(data.features(self), batch_size, with_labels=True, shuffle=training, seed=seed,
                                   options=options, pad_to_multiple_of=pad_to_multiple_of,
                                   max_width=self.spec.max_seq_length)

    def answers(self, model: keras.Model, data: SquadData, batch_size: int = 32):
        features = data.features(self)
        batches = predict_batches(model, squad.squad_dataset(features, batch_size, with_labels=False))
        starts = [row for b in batches for row in b["start"]]
        ends = [row for b in batches for row in b["end"]]
        spec = self.spec
        return squad_predictions(data.examples, features, starts, ends, self.tokenizer,
                                 max_answer_length=spec.max_answer_length,
                                 version_2=spec.version_2 or data.version == "2.0",
                                 null_score_diff_threshold=spec.null_score_diff_threshold)

    def evaluate(self, model: keras.Model, data: SquadData, batch_size: int = 32) -> dict[str, Any]:
        predictions = self.answers(model, data, batch_size)
        return squad_metrics({q: p.text for q, p in predictions.items()},
                             {e.qid: e.answers for e in data.examples})

    def predict(self, model: keras.Model, data: SquadData, batch_size: int = 32) -> list[dict[str, Any]]:
        predictions = self.answers(model, data, batch_size)
        out = []
        for example in data.examples:
            p = predictions[example.qid]
            best = p.nbest[0] if p.text and p.nbest else None
            out.append({"id": example.qid, "answer": p.text,
                        "start": best.start_char if best else None, "end": best.end_char if best else None,
                        "score": float(best.score) if best else None,
                        "probability": float(best.probability) if best else None,
                        "null_score": None if p.null_score is None else float(p.null_score)})
        return out


