"""In-graph text processing: BERT normalisation, WordPiece tokenization, packing."""

from bert_keras.text.packer import BertPacker
from bert_keras.text.preprocessor import BertPreprocessor
from bert_keras.text.tokenizer import BertTokenizer
from bert_keras.text.vocab import load_vocab

__all__ = ["BertPacker", "BertPreprocessor", "BertTokenizer", "load_vocab"]
