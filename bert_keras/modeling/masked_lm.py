"""BertMaskedLM: the encoder with BERT's masked-LM head alone (fill-mask; MLM-only training)."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bert_keras.checkpoints.pretraining_heads import assign_pretraining_heads
from bert_keras.errors import InvalidInputError
from bert_keras.modeling import task_inputs
from bert_keras.modeling.encoder import BertEncoder
from bert_keras.modeling.heads import MaskedLMHead
from bert_keras.modeling.losses import global_weighted_mean
from bert_keras.modeling.task_model import BertTaskModel, deserialize_preprocessor, encoder_inputs
from bert_keras.text import BertPreprocessor
from bert_keras.text.masking import MaskedLMMasker


@dataclasses.dataclass
class MaskFill:
    """One candidate for one [MASK]: the token, its id, its softmax probability and the text with it filled in."""

    token: str
    token_id: int
    score: float
    sequence: str


@keras.saving.register_keras_serializable(package="bert_keras")
class BertMaskedLM(BertTaskModel):
    """Encoder -> `MaskedLMHead` (output weights tied to the token embedding).

    Inputs: the encoder's `token_ids`, `segment_ids`, `padding_mask` and int32 `mask_positions`
    `[batch, predictions]`. Output: float32 vocab logits `[batch, predictions, vocab]`. Default loss:
    cross-entropy against the original ids `[batch, predictions]`, averaged over the targets whose
    `sample_weight` is non-zero in the global batch. The pooler, which the head does not use, is frozen.

    With a preprocessor, `fit` / `evaluate` take raw strings and mask them in the tf.data pipeline (fresh masks
    every epoch: BERT's 15%, 80/10/10); `fill_mask` gives the top-k tokens for every [MASK] written in a text.

    Args:
        encoder: a `BertEncoder`.
        preprocessor: the `BertPreprocessor` for raw strings (its vocab needs [MASK]).
        mask_rate: share of maskable tokens predicted when training on raw strings.
        max_predictions: the most targets per sequence when training on raw strings.

    Examples:
    ```python
    # AntiBERTy: a real BERT with its masked-LM head, over amino acids (one letter per token)
    masked_lm = bert_keras.BertMaskedLM.from_preset(bert_keras.assets.asset_path("antiberty"))
    masked_lm.fill_mask("E V Q L V E S G G G L V Q P G G S L R L S [MASK] A A S", top_k=3)[0][0][0].token  # "C"
    ```
    """

    def __init__(self, encoder: BertEncoder, preprocessor: BertPreprocessor | None = None, mask_rate: float = 0.15,
                 max_predictions: int = 20, **kwargs):
        config = encoder.config
        encoder.pooler.trainable = False  # the head reads the sequence output: the pooler gets no gradient
        inputs = encoder_inputs()
        inputs["mask_positions"] = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
        sequence = encoder({k: v for k, v in inputs.items() if k != "mask_positions"})["sequence_output"]
        head = MaskedLMHead(
            config.vocab_size, activation=config.hidden_act, layer_norm_eps=config.layer_norm_eps,
            initializer_range=config.initializer_range, token_embedding=encoder.token_embedding,
            name="masked_lm_head")
        logits = head(sequence, inputs["mask_positions"])
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder, self.masked_lm_head = encoder, head
        self.preprocessor = deserialize_preprocessor(preprocessor)
        self.mask_rate, self.max_predictions = mask_rate, max_predictions
        self.masker = None if self.preprocessor is None else MaskedLMMasker(
            self.preprocessor.tokenizer.vocabulary, mask_rate=mask_rate, max_predictions=max_predictions)

    def task_loss(self, y, y_pred, sample_weight):
        per_target = keras.losses.sparse_categorical_crossentropy(y, y_pred, from_logits=True)
        return global_weighted_mean(per_target, sample_weight)

    def default_metrics(self):
        return None, [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def task_config(self) -> dict[str, Any]:
        return {"mask_rate": self.mask_rate, "max_predictions": self.max_predictions}

    def load_checkpoint_heads(self, head_tensors: dict, source: str) -> None:
        """The checkpoint's masked-LM head (HF `cls.predictions.*`, Google `cls/predictions/*`); without one the
        head starts from random weights (train it before filling masks)."""
        self.has_pretrained_head = load_masked_lm_head(self, head_tensors, source, required=False)

    # ----------------------------------------------------------------------------------------- raw input

    def preprocess_batch(self, x, y=None, sample_weight=None):
        """Raw strings -> masked encoder inputs, the original ids at the masked positions and their weights."""
        if isinstance(x, tuple):
            raise InvalidInputError("BertMaskedLM takes one text per example")
        if y is not None:
            raise InvalidInputError("BertMaskedLM makes its own targets from the text: do not pass y")
        masked = self.masker(self.preprocessor(x))
        features = {k: masked[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
        return features, masked["mask_ids"], masked["mask_weights"]

    # ----------------------------------------------------------------------------------------- outputs

    def fill_mask(self, texts, top_k: int = 5, batch_size: int = task_inputs.DEFAULT_BATCH_SIZE
                  ) -> list[list[list[MaskFill]]]:
        """For each text, for each [MASK] in it (left to right), the `top_k` candidates, most likely first.

        Text past the sequence length is cut; a text whose [MASK] is cut off (or that has none) raises an error.
        """
        self._require_preprocessor()
        texts = task_inputs.as_text_array(texts)
        if top_k < 1:
            raise InvalidInputError(f"top_k must be >= 1, got {top_k}")
        tokenizer = self.preprocessor.tokenizer
        if tokenizer.mask_id is None:
            raise InvalidInputError("the tokenizer's vocab has no [MASK] token")
        out = []
        for start in range(0, len(texts), batch_size):
            out.extend(self._fill_batch(texts[start:start + batch_size], top_k))
        return out

    def _fill_batch(self, texts: np.ndarray, top_k: int) -> list[list[list[MaskFill]]]:
        tokenizer = self.preprocessor.tokenizer
        features = {k: np.asarray(v) for k, v in self.preprocessor(tf.constant(texts)).items()}
        ids = features["token_ids"]
        masked = [np.flatnonzero(row == tokenizer.mask_id) for row in ids]
        for text, positions in zip(texts, masked):
            if not len(positions):
                raise InvalidInputError(f"no [MASK] token in {text!r} (within the first {ids.shape[1]} tokens)")
        positions = np.zeros((len(texts), max(len(p) for p in masked)), np.int32)
        for row, p in enumerate(masked):
            positions[row, :len(p)] = p
        logits = np.asarray(self.predict_on_batch({**features, "mask_positions": positions}), np.float64)
        probabilities = np.exp(logits - logits.max(-1, keepdims=True))
        probabilities /= probabilities.sum(-1, keepdims=True)
        vocabulary, out = tokenizer.vocabulary, []
        for row, p in enumerate(masked):
            fills = []
            for slot, position in enumerate(p):
                best = np.argsort(-probabilities[row, slot], kind="stable")[:top_k]
                filled = np.repeat(ids[row][None, features["padding_mask"][row] > 0], len(best), axis=0)
                filled[:, position] = best
                sequences = tokenizer.detokenize(filled).numpy()
                fills.append([MaskFill(vocabulary[t], int(t), float(probabilities[row, slot, t]), s.decode("utf-8"))
                              for t, s in zip(best, sequences)])
            out.append(fills)
        return out


def load_masked_lm_head(model: keras.Model, head_tensors: dict, source: str, required: bool) -> bool:
    """Load the masked-LM head of a checkpoint into `model`; without one: an error if `required`, else a warning."""
    if "masked_lm" in assign_pretraining_heads(model, head_tensors, source):
        return True
    message = (f"{source}: the checkpoint has no masked-LM head (cls.predictions.* / cls/predictions/*), so it "
               "cannot fill masks; encoder-only checkpoints such as sentence-transformers models need the head "
               "trained first (see docs/FINETUNING.md)")
    if required:
        raise InvalidInputError(message)
    warnings.warn(message + "; the head starts from random weights", stacklevel=3)
    return False
