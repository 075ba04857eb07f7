"""BertConfig: published sizes, both JSON formats against their real readers/writers, and validation errors."""

import json

import pytest

from bert_keras.config import BertConfig

# Google's bert_config.json of uncased_L-12_H-768_A-12 (BERT-Base), verbatim from the release.
GOOGLE_BERT_BASE_JSON = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "type_vocab_size": 2,
    "vocab_size": 30522,
}


# Turc et al. 2019 (BERT miniatures) and Devlin et al. 2019: (layers, hidden, heads, intermediate).
@pytest.mark.parametrize("size, layers, hidden, heads, intermediate", [
    ("tiny", 2, 128, 2, 512),
    ("mini", 4, 256, 4, 1024),
    ("small", 4, 512, 8, 2048),
    ("medium", 8, 512, 8, 2048),
    ("base", 12, 768, 12, 3072),
    ("large", 24, 1024, 16, 4096),
])
def test_named_sizes_match_the_published_shapes(size, layers, hidden, heads, intermediate):
    config = BertConfig.named(size)
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
            config.intermediate_size) == (layers, hidden, heads, intermediate)
    assert config.head_size == 64


def test_named_size_accepts_overrides_and_rejects_unknown_names():
    assert BertConfig.named("tiny", vocab_size=100).vocab_size == 100
    with pytest.raises(ValueError, match="huge"):
        BertConfig.named("huge")


def test_hf_config_json_is_read_by_transformers(tmp_path):
    import transformers

    ours = BertConfig.named("mini", vocab_size=1234, hidden_act="gelu", max_position_embeddings=128,
                            type_vocab_size=3, layer_norm_eps=1e-7, hidden_dropout_prob=0.2)
    ours.save_hf_json(tmp_path / "config.json")

    theirs = transformers.BertConfig.from_pretrained(tmp_path)
    for field, value in ours.to_dict().items():
        assert getattr(theirs, field) == value, field
    assert BertConfig.from_json_file(tmp_path / "config.json") == ours


def test_tanh_gelu_is_written_under_a_name_transformers_knows(tmp_path):
    from transformers.activations import ACT2FN

    BertConfig.named("tiny", hidden_act="gelu_approximate").save_hf_json(tmp_path / "config.json")
    written = json.loads((tmp_path / "config.json").read_text())["hidden_act"]
    assert written in ACT2FN
    assert BertConfig.from_json_file(tmp_path / "config.json").activation == "gelu_approximate"


def test_real_transformers_config_json_is_read(tmp_path):
    import transformers

    transformers.BertConfig(vocab_size=500, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                            intermediate_size=100).save_pretrained(tmp_path)
    config = BertConfig.from_json_file(tmp_path / "config.json")
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
            config.intermediate_size, config.hidden_act) == (500, 64, 3, 4, 100, "gelu")


def test_google_bert_config_json_is_read_with_googles_tanh_gelu(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(GOOGLE_BERT_BASE_JSON))

    config = BertConfig.from_json_file(path)
    assert config == BertConfig.named("base", hidden_act="gelu_approximate")
    assert BertConfig.from_json_file(path, exact_gelu=True).hidden_act == "gelu"


def test_google_bert_config_json_round_trip(tmp_path):
    original = BertConfig.named("base", hidden_act="gelu_approximate")
    original.save_google_json(tmp_path / "bert_config.json")

    assert json.loads((tmp_path / "bert_config.json").read_text()) == GOOGLE_BERT_BASE_JSON
    assert BertConfig.from_json_file(tmp_path / "bert_config.json") == original


def test_exact_gelu_cannot_be_written_as_google_json(tmp_path):
    with pytest.raises(ValueError, match="exact"):
        BertConfig.named("tiny").save_google_json(tmp_path / "bert_config.json")


@pytest.mark.parametrize("fields, named_field", [
    (dict(hidden_size=100, num_attention_heads=3), "num_attention_heads"),
    (dict(hidden_act="gelu_magic"), "hidden_act"),
    (dict(hidden_size=-768), "hidden_size"),
    (dict(num_hidden_layers=0), "num_hidden_layers"),
    (dict(vocab_size=-1), "vocab_size"),
    (dict(intermediate_size=2.5), "intermediate_size"),
    (dict(hidden_dropout_prob=1.5), "hidden_dropout_prob"),
    (dict(layer_norm_eps=0.0), "layer_norm_eps"),
    (dict(pad_token_id=30522), "pad_token_id"),
])
def test_invalid_values_raise_value_error_naming_the_field(fields, named_field):
    with pytest.raises(ValueError, match=named_field):
        BertConfig(**fields)


def test_invalid_value_in_a_file_names_the_file_and_field(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(dict(GOOGLE_BERT_BASE_JSON, model_type="bert", num_attention_heads=5)))
    with pytest.raises(ValueError, match=r"config\.json.*num_attention_heads"):
        BertConfig.from_json_file(path)


@pytest.mark.parametrize("text, message", [
    ('{"hidden_size": 768,', "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ("7", "JSON object"),
    ('{"hidden_size": 768}', "missing required"),
])
def test_bad_json_files_raise_value_error(tmp_path, text, message):
    path = tmp_path / "bert_config.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        BertConfig.from_json_file(path)


def test_hf_config_of_another_model_type_is_rejected():
    with pytest.raises(ValueError, match="model_type"):
        BertConfig.from_hf_dict(dict(GOOGLE_BERT_BASE_JSON, model_type="roberta"))


def test_dict_round_trip_rejects_unknown_fields():
    config = BertConfig.named("tiny")
    assert BertConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="hiden_size"):
        BertConfig.from_dict(dict(config.to_dict(), hiden_size=3))
