"""Fill-mask: probabilities equal transformers' BertForMaskedLM on the same checkpoint; sensible tokens from the
real MiniLM weights once their missing masked-LM head is trained on real reviews."""

import numpy as np
import pytest
import torch

from bert_keras.assets.corpora import review_documents, write_pretraining_corpus
from bert_keras.config import BertConfig
from bert_keras.tasks.fill_mask import FillMask

TEXTS = ["The capital of France is [MASK].", "I [MASK] this [MASK] a lot!"]


@pytest.fixture(scope="module")
def random_pretraining_checkpoint(tmp_path_factory, minilm_vocab):
    """A tiny random BertPretrainer (real MiniLM vocab) written as an HF BertForPreTraining checkpoint."""
    import keras

    from bert_keras.checkpoints import save_hf_checkpoint
    from bert_keras.checkpoints.pretraining_heads import hf_head_tensors
    from bert_keras.modeling import BertEncoder
    from bert_keras.modeling.pretrainer import BertPretrainer

    keras.utils.set_random_seed(3)
    encoder = BertEncoder(BertConfig.named("tiny", vocab_size=30522))
    pretrainer = BertPretrainer(encoder)
    for variable in pretrainer.weights:  # non-zero head biases and LayerNorms, so every tensor matters
        if "output_bias" in variable.path or "layer_norm" in variable.path:
            variable.assign(variable.numpy() + np.random.default_rng(0).normal(0, 0.5, variable.shape))
    directory = tmp_path_factory.mktemp("mlm_checkpoint")
    save_hf_checkpoint(encoder, directory, vocab_path=minilm_vocab, lowercase=True,
                       head_tensors=hf_head_tensors(pretrainer))
    return directory


def test_probabilities_equal_bert_for_masked_lm(random_pretraining_checkpoint, minilm_dir):
    import transformers

    fill = FillMask.from_checkpoint(str(random_pretraining_checkpoint))
    ours = fill(TEXTS, top_k=5)
    reference = transformers.BertForMaskedLM.from_pretrained(random_pretraining_checkpoint).eval()
    tokenizer = transformers.BertTokenizerFast(tokenizer_file=f"{minilm_dir}/tokenizer.json")
    for text, masks in zip(TEXTS, ours):
        encoded = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            logits = reference(**encoded).logits[0].double()
        positions = (encoded["input_ids"][0] == tokenizer.mask_token_id).nonzero()[:, 0]
        assert len(masks) == len(positions)
        for candidates, position in zip(masks, positions):
            probabilities = torch.softmax(logits[position], -1).numpy()
            expected = np.argsort(-probabilities, kind="stable")[:5]
            assert [c.token_id for c in candidates] == expected.tolist()
            np.testing.assert_allclose([c.score for c in candidates], probabilities[expected], atol=1e-5)
            assert candidates[0].token == tokenizer.convert_ids_to_tokens(int(expected[0]))


def test_filled_sequence_reads_back(random_pretraining_checkpoint):
    fill = FillMask.from_checkpoint(str(random_pretraining_checkpoint))
    candidate = fill("the capital of france is [MASK].", top_k=1)[0][0][0]
    assert candidate.sequence.startswith("the capital of france is ")
    assert "[MASK]" not in candidate.sequence


def test_errors(random_pretraining_checkpoint, minilm_dir):
    fill = FillMask.from_checkpoint(str(random_pretraining_checkpoint))
    with pytest.raises(ValueError, match=r"no \[MASK\] token in 'no mask here'"):
        fill(["no mask here"])
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        fill(TEXTS, top_k=0)
    with pytest.raises(ValueError, match=r"the checkpoint has no masked-LM head"):
        FillMask.from_checkpoint(minilm_dir)  # sentence-transformers checkpoints ship the encoder only


# The real all-MiniLM-L6-v2 package holds the encoder and pooler only (no cls.predictions.* tensors), so its
# masked-LM head is trained first: a short `bert-keras pretrain --init-checkpoint MiniLM` on real reviews.
SENSIBLE = [("This is one of the best [MASK] I have ever seen.", {"movie", "film", "movies", "films"}),
            ("It was the worst movie I have ever [MASK].", {"seen", "see", "watched"}),
            ("The film is based on a true [MASK].", {"story"})]


@pytest.fixture(scope="module")
def minilm_with_mlm_head(tmp_path_factory, minilm_dir, minilm_vocab):
    from bert_keras.training.pretraining import build_pretraining
    from bert_keras.training.pretraining_config import PretrainingConfig

    root = tmp_path_factory.mktemp("minilm_mlm")
    corpus = write_pretraining_corpus(str(root / "corpus.txt"), review_documents(limit=4000))
    run = build_pretraining(PretrainingConfig(
        vocab=minilm_vocab, inputs=[corpus], init_checkpoint=minilm_dir, output_dir=str(root / "run"),
        max_seq_length=64, max_predictions_per_seq=10, batch_size=32, train_steps=300, steps_per_epoch=300,
        warmup_steps=30, learning_rate=1e-4, verbose=0))
    run.model.fit(run.dataset, **run.fit_kwargs)
    return run.export_encoder()


@pytest.mark.parametrize("text, expected", SENSIBLE)
def test_real_minilm_fills_unambiguous_sentences(minilm_with_mlm_head, text, expected):
    fill = FillMask.from_checkpoint(minilm_with_mlm_head)
    top = [c.token for c in fill(text, top_k=5)[0][0]]
    assert expected & set(top), f"{text}: top-5 {top}"
