"""Evaluation metrics on predictions: classification, entity-level (NER) and SQuAD EM/F1."""

from bert_keras.metrics.classification import classification_metrics, multi_label_metrics
from bert_keras.metrics.entities import entity_metrics, entity_spans, span_decoder
from bert_keras.metrics.squad import squad_exact_match, squad_f1, squad_metrics

__all__ = ["classification_metrics", "entity_metrics", "entity_spans", "multi_label_metrics", "span_decoder",
           "squad_exact_match", "squad_f1", "squad_metrics"]
