"""Fill-mask from a checkpoint directory: `BertMaskedLM.fill_mask` with the masked-LM head required."""

from __future__ import annotations

from typing import Sequence

from bert_keras.checkpoints import load_checkpoint
from bert_keras.modeling.masked_lm import BertMaskedLM, MaskFill, load_masked_lm_head
from bert_keras.modeling.task_model import preprocessor_for

__all__ = ["FillMask", "MaskFill"]


class FillMask:
    """Top-k predictions for [MASK] tokens written in texts (what `bert-keras fill-mask` runs).

    Args:
        model: a `BertMaskedLM` with its preprocessor (its masked-LM head trained).

    Examples:
    ```python
    fill = FillMask.from_checkpoint("runs/pretrain/encoder")
    fill("The capital of France is [MASK].", top_k=3)[0][0][0].token
    ```
    """

    def __init__(self, model: BertMaskedLM):
        self.model = model

    @classmethod
    def from_checkpoint(cls, source: str, max_seq_length: int = 128) -> "FillMask":
        """Load a checkpoint that has a masked-LM head (HF BertForMaskedLM / BertForPreTraining, Google's cls/
        variables, `bert-keras pretrain` output); an encoder-only checkpoint raises a clear error."""
        loaded = load_checkpoint(source)
        preprocessor = preprocessor_for(loaded, source, max_seq_length, None)
        model = BertMaskedLM(loaded.encoder, preprocessor=preprocessor)
        load_masked_lm_head(model, loaded.head_tensors, source, required=True)
        return cls(model)

    def __call__(self, texts: str | Sequence[str], top_k: int = 5) -> list[list[list[MaskFill]]]:
        """For each text, for each [MASK] in it (left to right), the `top_k` candidates, most likely first."""
        if not isinstance(texts, str) and not len(texts):
            return []
        return self.model.fill_mask(texts, top_k=top_k)
