"""Fill-mask: the top-k vocabulary tokens for every [MASK] in a text, from a masked-LM model."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np


@dataclasses.dataclass
class MaskFill:
    """One candidate for one [MASK]: the token, its id, its softmax probability and the text with it filled in."""

    token: str
    token_id: int
    score: float
    sequence: str


class FillMask:
    """Top-k predictions for [MASK] tokens written in texts.

    Args:
        model: a `BertMaskedLM` (its masked-LM head trained: from a pretraining checkpoint or BertForMaskedLM).
        tokenizer: the model's `BertTokenizer` (keeps "[MASK]" in the text as one token).
        max_seq_length: longest packed sequence; text beyond it is cut (a [MASK] cut off raises an error).

    Example:
        >>> fill = FillMask.from_checkpoint("runs/pretrain/encoder")
        >>> fill("The capital of France is [MASK].", top_k=3)[0][0].token
    """

    def __init__(self, model, tokenizer, max_seq_length: int = 128):
        from bert_keras.text import BertPreprocessor

        if tokenizer.mask_id is None:
            raise ValueError("the tokenizer's vocab has no [MASK] token")
        self.model, self.tokenizer = model, tokenizer
        self.preprocessor = BertPreprocessor(tokenizer, sequence_length=max_seq_length, padding="longest")

    @classmethod
    def from_checkpoint(cls, directory: str, max_seq_length: int = 128) -> "FillMask":
        """Load a checkpoint that has a masked-LM head (HF BertForMaskedLM / BertForPreTraining, Google's cls/
        variables, `bert-keras pretrain` output); an encoder-only checkpoint raises a clear error."""
        from bert_keras.checkpoints import load_checkpoint
        from bert_keras.checkpoints.pretraining_heads import assign_pretraining_heads
        from bert_keras.modeling.masked_lm import BertMaskedLM
        from bert_keras.text import BertTokenizer

        loaded = load_checkpoint(directory)
        if not loaded.vocab_path:
            raise ValueError(f"{directory}: no vocab.txt")
        model = BertMaskedLM(loaded.encoder)
        heads = assign_pretraining_heads(model, loaded.head_tensors, directory)
        if "masked_lm" not in heads:
            raise ValueError(f"{directory}: the checkpoint has no masked-LM head (cls.predictions.* / "
                             "cls/predictions/*), so it cannot fill masks; encoder-only checkpoints such as "
                             "sentence-transformers models need the head trained first (see docs/FINETUNING.md)")
        return cls(model, BertTokenizer(loaded.vocab_path, lowercase=loaded.tokenizer_lowercase), max_seq_length)

    def __call__(self, texts: str | Sequence[str], top_k: int = 5) -> list[list[list[MaskFill]]]:
        """For each text, for each [MASK] in it (left to right), the `top_k` candidates, most likely first."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            return []
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        features = {k: np.asarray(v) for k, v in self.preprocessor(np.array(texts, dtype=object)).items()}
        ids = features["token_ids"]
        masked = [np.flatnonzero(row == self.tokenizer.mask_id) for row in ids]
        for text, positions in zip(texts, masked):
            if not len(positions):
                raise ValueError(f"no [MASK] token in {text!r} (within the first {ids.shape[1]} tokens)")
        width = max(len(p) for p in masked)
        positions = np.zeros((len(texts), width), np.int32)
        for row, p in enumerate(masked):
            positions[row, :len(p)] = p
        logits = np.asarray(self.model.predict_on_batch({**features, "mask_positions": positions}), np.float64)
        probabilities = np.exp(logits - logits.max(-1, keepdims=True))
        probabilities /= probabilities.sum(-1, keepdims=True)
        vocabulary = self.tokenizer.vocabulary
        out = []
        for row, p in enumerate(masked):
            fills = []
            for slot, position in enumerate(p):
                best = np.argsort(-probabilities[row, slot], kind="stable")[:top_k]
                candidates = []
                for token_id in best:
                    filled = ids[row].copy()
                    filled[position] = token_id
                    sequence = self.tokenizer.detokenize(filled[None, features["padding_mask"][row] > 0])
                    candidates.append(MaskFill(vocabulary[token_id], int(token_id),
                                               float(probabilities[row, slot, token_id]),
                                               sequence.numpy()[0].decode("utf-8")))
                fills.append(candidates)
            out.append(fills)
        return out
