"""Fill-mask on a real pretrained masked-LM head: AntiBERTy (antibody sequences, antiberty==0.1.3) equals
transformers' BertForMaskedLM on the same files: same input ids, same top-5 token ids, probabilities within 1e-5.

The checkpoint is installed by `bash scripts/fetch_assets.sh` (asset "antiberty"). AntiBERTy writes a sequence as
one upper-case amino-acid letter per token, space separated; its vocab has 5 specials + the 20 amino acids.
"""

import os

import numpy as np
import pytest
import torch

TOP_K = 5
PROBABILITY_TOLERANCE = 1e-5

# Variable domains of therapeutic antibodies (heavy VH / light VL), written from the public sequences (INN lists,
# DrugBank). The comparison with transformers holds whatever the residues; only the sanity test below relies on
# them being antibody-like.
SEQUENCES = {
    "trastuzumab VH": ("EVQLVESGGGLVQPGGSLRLSCAASGFNIKDTYIHWVRQAPGKGLEWVARIYPTNGYTRY"
                       "ADSVKGRFTISADTSKNTAYLQMNSLRAEDTAVYYCSRWGGDGFYAMDYWGQGTLVTVSS"),
    "trastuzumab VL": ("DIQMTQSPSSLSASVGDRVTITCRASQDVNTAVAWYQQKPGKAPKLLIYSASFLYSGVPS"
                       "RFSGSRSGTDFTLTISSLQPEDFATYYCQQHYTTPPTFGQGTKVEIK"),
    "adalimumab VH": ("EVQLVESGGGLVQPGRSLRLSCAASGFTFDDYAMHWVRQAPGKGLEWVSAITWNSGHIDY"
                      "ADSVEGRFTISRDNAKNSLYLQMNSLRAEDTAVYYCAKVSYLSTASSLDYWGQGTLVTVSS"),
    "adalimumab VL": ("DIQMTQSPSSLSASVGDRVTITCRASQGIRNYLAWYQQKPGKAPKLLIYAASTLQSGVPS"
                      "RFSGSGSGTDFTLTISSLQPEDVATYYCQRYNRAPYTFGQGTKVEIK"),
    "pembrolizumab VH": ("QVQLVQSGVEVKKPGASVKVSCKASGYTFTNYYMYWVRQAPGQGLEWMGGINPSNGGTNF"
                         "NEKFKNRVTLTTDSSTTTAYMELKSLQFDDTAVYYCARRDYRFDMGFDYWGQGTTVTVSS"),
    "pembrolizumab VL": ("EIVLTQSPATLSLSPGERATLSCRASKGVSTSGYSYLHWYQQKPGQAPRLLIYLASYLES"
                         "GVPARFSGSGSGTDFTLTISSLEPEDFAVYYCQHSRDLPLTFGGGTKVEIK"),
    "rituximab VH": ("QVQLQQPGAELVKPGASVKMSCKASGYTFTSYNMHWVKQTPGRGLEWIGAIYPGNGDTSY"
                     "NQKFKGKATLTADKSSSTAYMQLSSLTSEDSAVYYCARSTYYGGDWYFNVWGAGTTVTVSA"),
    "rituximab VL": ("QIVLSQSPAILSASPGEKVTMTCRASSSVSYIHWFQQKPGSSPKPWIYATSNLASGVPVR"
                     "FSGSGSGTSYSLTISRVEAEDAATYYCQQWTSNPPTFGGGTKLEIK"),
}
# 0-based residues to replace by [MASK] (the residue there in a comment): conserved framework sites (the cysteines of
# the disulphide bond, the tryptophans of "WVRQ"/"WYQQ"/"WGQG"), CDR sites, adjacent masks, first and last residue.
MASKED = {
    "trastuzumab VH": [21, 35, 98],       # C, W (WVRQ), W (CDR-H3)
    "trastuzumab VL": [3],                # M
    "adalimumab VH": [5, 50],             # E, I (CDR-H2)
    "adalimumab VL": [22, 34, 93],        # C, W (WYQQ), A (CDR-L3)
    "pembrolizumab VH": [0],              # Q (first residue, next to [CLS])
    "pembrolizumab VL": [10, 11],         # L, S (adjacent)
    "rituximab VH": [95, 110, 120],       # C, W (WGAG), A (last residue, next to [SEP])
    "rituximab VL": [40, 70, 100],        # S, S, T
}


def masked_text(sequence: str, positions: list[int]) -> str:
    """AntiBERTy's input format: one residue per token, space separated, [MASK] at the given residues."""
    residues = list(sequence)
    for position in positions:
        residues[position] = "[MASK]"
    return " ".join(residues)


# The conserved framework sites among them: the disulphide cysteines and the framework tryptophans.
CONSERVED = {("trastuzumab VH", 21), ("trastuzumab VH", 35), ("adalimumab VL", 22), ("adalimumab VL", 34),
             ("rituximab VH", 95), ("rituximab VH", 110)}

TEXTS = [masked_text(SEQUENCES[name], MASKED[name]) for name in SEQUENCES]


@pytest.fixture(scope="module")
def antiberty_dir() -> str:
    from bert_keras.assets import asset_path

    try:
        return asset_path("antiberty")
    except FileNotFoundError as error:
        pytest.skip(str(error))  # names the command: bash scripts/fetch_assets.sh


@pytest.fixture(scope="module")
def reference(antiberty_dir):
    """transformers' BertForMaskedLM and BertTokenizer (cased) on the same directory."""
    import transformers
    from transformers.models.bert.tokenization_bert import load_vocab

    model, info = transformers.BertForMaskedLM.from_pretrained(antiberty_dir, output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"], info  # nothing left at random init
    model.eval()
    # BertTokenizer(vocab_file=...) silently falls back to a 5-token vocab in transformers 5 (docs STACK.md).
    tokenizer = transformers.BertTokenizer(vocab=dict(load_vocab(os.path.join(antiberty_dir, "vocab.txt"))),
                                           do_lower_case=False)
    assert tokenizer.vocab_size == 25
    return model, tokenizer


@pytest.fixture(scope="module")
def fill(antiberty_dir):
    """Our masked LM on the real checkpoint, through the public API (its head loaded from cls.predictions.*)."""
    import bert_keras

    model = bert_keras.BertMaskedLM.from_preset(antiberty_dir)
    assert model.has_pretrained_head
    return model


@pytest.fixture(scope="module")
def ours(fill):
    """Our top-k per text: (ids per text, probabilities per text), each an array [masks in the text, TOP_K]."""
    result = fill.fill_mask(TEXTS, top_k=TOP_K)
    ids = [np.array([[c.token_id for c in candidates] for candidates in masks]) for masks in result]
    probabilities = [np.array([[c.score for c in candidates] for candidates in masks]) for masks in result]
    return ids, probabilities


def reference_probabilities(reference, texts: list[str]) -> list[np.ndarray]:
    """transformers' softmax over the vocabulary at each [MASK], per text: arrays [masks in the text, vocab]."""
    model, tokenizer = reference
    encoded = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**encoded).logits.double()
    probabilities = torch.softmax(logits, -1).numpy()
    mask_rows = encoded["input_ids"].numpy() == tokenizer.mask_token_id
    return [probabilities[row][mask_rows[row]] for row in range(len(texts))]


def assert_top_k_matches_reference(reference, texts: list[str], ids_per_text, probabilities_per_text,
                                   top_k: int = TOP_K) -> dict[str, float]:
    """Our top-k (`ids_per_text[i]`, `probabilities_per_text[i]`: [masks in text i, top_k], most likely first)
    against transformers on the same texts: the same ids in the same order, probabilities within tolerance.

    Returns the figures: number of masks compared and the largest probability difference.
    """
    expected = reference_probabilities(reference, texts)
    assert len(ids_per_text) == len(probabilities_per_text) == len(expected) == len(texts)
    max_diff, masks = 0.0, 0
    for text, ids, probabilities, full in zip(texts, ids_per_text, probabilities_per_text, expected):
        ids, probabilities = np.asarray(ids), np.asarray(probabilities, np.float64)
        assert ids.shape == probabilities.shape == (full.shape[0], top_k), text
        best = np.argsort(-full, axis=-1, kind="stable")[:, :top_k]
        np.testing.assert_array_equal(ids, best, err_msg=text)
        np.testing.assert_allclose(probabilities, np.take_along_axis(full, best, -1), rtol=0,
                                   atol=PROBABILITY_TOLERANCE, err_msg=text)
        max_diff = max(max_diff, float(np.abs(probabilities - np.take_along_axis(full, best, -1)).max()))
        masks += full.shape[0]
    return {"masks": masks, "texts": len(texts), "max_probability_diff": max_diff}


def test_checkpoint_is_the_documented_one(antiberty_dir):
    """The extracted files are AntiBERTy_md_smooth as DATA.md describes it (sizes, shapes, parameter count)."""
    from bert_keras.config import BertConfig
    from bert_keras.text.vocab import load_vocab

    assert sorted(os.listdir(antiberty_dir)) == ["config.json", "pytorch_model.bin", "tokenizer_config.json",
                                                 "vocab.txt"]
    assert os.path.getsize(os.path.join(antiberty_dir, "pytorch_model.bin")) == 104_174_334
    config = BertConfig.from_json_file(os.path.join(antiberty_dir, "config.json"))
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.intermediate_size,
            config.vocab_size, config.hidden_act) == (8, 512, 8, 2048, 25, "gelu")
    vocab = load_vocab(os.path.join(antiberty_dir, "vocab.txt"))
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert vocab[5:] == sorted("ACDEFGHIKLMNPQRSTVWY")  # the 20 amino acids, upper case
    state = torch.load(os.path.join(antiberty_dir, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    parameters = sum(v.numel() for k, v in state.items()
                     if k not in ("bert.embeddings.position_ids", "cls.predictions.decoder.weight"))
    assert round(parameters / 1e6, 1) == 26.0
    # Our loader takes the decoder as tied to the word embeddings: true of this file.
    assert torch.equal(state["cls.predictions.decoder.weight"], state["bert.embeddings.word_embeddings.weight"])


def test_loader_reads_encoder_masked_lm_head_and_keeps_extra_heads(antiberty_dir):
    from bert_keras.checkpoints import load_checkpoint

    loaded = load_checkpoint(antiberty_dir)
    assert loaded.config.num_hidden_layers == 8 and loaded.config.vocab_size == 25
    assert loaded.lowercase is False and loaded.tokenizer_lowercase is False  # from tokenizer_config.json
    heads = set(loaded.head_tensors)
    assert {"cls.predictions.bias", "cls.predictions.transform.dense.weight",
            "cls.predictions.transform.dense.bias", "cls.predictions.transform.LayerNorm.weight",
            "cls.predictions.transform.LayerNorm.bias", "cls.predictions.decoder.weight"} <= heads
    # AntiBERTy's own heads (species / chain / graft classifiers) are kept aside, and break nothing.
    assert {"cls.species.weight", "cls.chain.weight", "cls.graft.weight"} <= heads
    assert loaded.head_tensors["cls.species.weight"].shape == (6, 512)


def test_input_ids_equal_transformers_tokenizer(fill, reference):
    _, tokenizer = reference
    assert fill.preprocessor.tokenizer.lowercase is False
    features = fill.preprocessor(np.array(TEXTS, dtype=object))
    ours = np.asarray(features["token_ids"])
    padding = np.asarray(features["padding_mask"])
    expected = tokenizer(TEXTS, padding=True, return_tensors="np")
    np.testing.assert_array_equal(ours, expected["input_ids"])
    np.testing.assert_array_equal(padding, expected["attention_mask"])
    unk = tokenizer.convert_tokens_to_ids("[UNK]")
    assert not (ours == unk).any()  # every residue is in the vocab: cased, one letter a token
    assert ((ours == fill.preprocessor.tokenizer.mask_id).sum(-1) == [len(MASKED[name]) for name in SEQUENCES]).all()


def test_fill_mask_equals_bert_for_masked_lm(ours, reference):
    figures = assert_top_k_matches_reference(reference, TEXTS, *ours)
    assert figures["masks"] == sum(len(p) for p in MASKED.values())
    print(f"\nAntiBERTy fill-mask vs transformers: {figures}")


def test_model_recovers_masked_residues(fill, ours):
    """A real head, not noise: the masked residue is in the top-5 for most masks (17 of 18 measured: only the
    CDR-H3 tryptophan, the least predictable site, is missed), and top-1 with probability > 0.9 at the conserved
    framework cysteines and tryptophans (measured 0.966-0.991)."""
    ids, probabilities = ours
    vocabulary = fill.preprocessor.tokenizer.vocabulary
    in_top5, total = 0, 0
    for name, text_ids, text_probabilities in zip(SEQUENCES, ids, probabilities):
        for position, row, row_probabilities in zip(MASKED[name], text_ids, text_probabilities):
            original, predicted = SEQUENCES[name][position], [vocabulary[i] for i in row]
            in_top5 += original in predicted
            total += 1
            if (name, position) in CONSERVED:
                assert predicted[0] == original and row_probabilities[0] > 0.9, (name, position, predicted)
    assert in_top5 >= 0.8 * total, (in_top5, total)
