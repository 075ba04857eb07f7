"""In-graph text processing: BERT normalisation, WordPiece tokenization, packing, masking; vocab learning from
raw-text corpora (`corpus`)."""

from bert_keras.text.packer import BertPacker
from bert_keras.text.preprocessor import BertPreprocessor
from bert_keras.text.tokenizer import BertTokenizer
from bert_keras.text.vocab import load_vocab
from bert_keras.text.vocab_learning import learn_wordpiece_vocab, write_vocab_file

__all__ = ["BertPacker", "BertPreprocessor", "BertTokenizer", "learn_wordpiece_vocab", "load_vocab",
           "write_vocab_file"]
