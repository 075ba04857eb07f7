"""bert-keras: BERT for TensorFlow and Keras 3, from checkpoint to served model.

The front door is a task model built in one line from any checkpoint, taking raw strings::

    import bert_keras
    classifier = bert_keras.BertClassifier.from_preset("path/or/hub-name", labels=["neg", "pos"])
    classifier.compile(optimizer="adam")
    classifier.fit(texts, labels, epochs=2)
    classifier.predict_labels(["A wonderful film."])
    bert_keras.export.export_saved_model(classifier, "exports", "reviews")

Importing the package registers every Keras class it defines, so `keras.models.load_model("model.keras")`
works in a fresh process after `import bert_keras`. Task models: `BertClassifier`, `BertTokenClassifier`,
`BertQuestionAnswerer`, `BertMaskedLM`, `BertPretrainer`, `BertTextEmbedder`; building blocks: `BertEncoder`,
`BertConfig`, `BertTokenizer`, `BertPreprocessor`, `BertPacker`; weights: `load_checkpoint`; production:
`bert_keras.export` (SavedModel for TF Serving, TFLite).
"""

from importlib.metadata import PackageNotFoundError, version as _version

from bert_keras import assets, export
from bert_keras.checkpoints import load_checkpoint
from bert_keras.config import BertConfig
from bert_keras.modeling import (
    BertClassifier,
    BertEncoder,
    BertMaskedLM,
    BertPretrainer,
    BertQuestionAnswerer,
    BertTextEmbedder,
    BertTokenClassifier,
    BertTransformerLayer,
)
from bert_keras.modeling.masked_lm import MaskFill
from bert_keras.text import BertPacker, BertPreprocessor, BertTokenizer
from bert_keras.text.masking import MaskedLMMasker

try:
    __version__ = _version("bert-keras")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["BertClassifier", "BertConfig", "BertEncoder", "BertMaskedLM", "BertPacker", "BertPreprocessor",
           "BertPretrainer", "BertQuestionAnswerer", "BertTextEmbedder", "BertTokenClassifier", "BertTokenizer",
           "BertTransformerLayer", "MaskFill", "MaskedLMMasker", "__version__", "assets", "export",
           "load_checkpoint"]
