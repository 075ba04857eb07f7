"""Keras models and layers: the BERT encoder and the task models built on it."""

from bert_keras.modeling.classifier import BertClassifier
from bert_keras.modeling.encoder import BertEncoder
from bert_keras.modeling.masked_lm import BertMaskedLM
from bert_keras.modeling.pretrainer import BertPretrainer
from bert_keras.modeling.question_answerer import BertQuestionAnswerer
from bert_keras.modeling.text_embedder import BertTextEmbedder
from bert_keras.modeling.token_classifier import BertTokenClassifier
from bert_keras.modeling.transformer_layer import BertTransformerLayer

__all__ = ["BertClassifier", "BertEncoder", "BertMaskedLM", "BertPretrainer", "BertQuestionAnswerer",
           "BertTextEmbedder", "BertTokenClassifier", "BertTransformerLayer"]
