"""Test helpers for the reference side: tiny random transformers (PyTorch) BERTs, checkpoints written by hand
(HF by transformers itself, Google's TF1 layout by explicit name mapping), input batches and output comparisons.

Nothing here uses bert_keras, so every checkpoint these helpers write is an independent reference.
"""

import json
import os

import numpy as np

# A tiny BERT in transformers' config keys. max_position_embeddings > the longest test batch.
TINY_HF_CONFIG = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=24, type_vocab_size=2)
# Weight scale of the random models. Larger than BERT's 0.02 initializer so the feed-forward activations span
# the range where the erf and tanh GELUs differ, and every bias and LayerNorm parameter is non-trivial: a
# swapped, untransposed or dropped tensor then changes the outputs.
WEIGHT_STDDEV = 0.2


def random_hf_bert(hidden_act="gelu", seed=0, model_class=None):
    """A tiny transformers BERT (BertModel unless `model_class` is given) in eval mode, every weight random."""
    import torch
    import transformers

    model_class = model_class or transformers.BertModel
    config = transformers.BertConfig(hidden_act=hidden_act, **TINY_HF_CONFIG)
    torch.manual_seed(seed)
    model = model_class(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn_like(parameter) * WEIGHT_STDDEV
            parameter.copy_(1.0 + noise / 2 if name.endswith("LayerNorm.weight") else noise)
    return model


def with_activation(model, hidden_act):
    """A copy of `model` (same weights) whose config names another activation."""
    import copy

    import transformers

    config = copy.deepcopy(model.config)
    config.hidden_act = hidden_act
    other = transformers.BertModel(config).eval()
    other.load_state_dict(model.state_dict())
    return other


def random_batch(vocab_size, lengths, seed=0, width=None):
    """Random token ids padded to `width` (default: the longest of `lengths`), segment 1 on each row's latter half.

    The ids of a row depend only on `seed` and the lengths, not on `width`.
    """
    rng = np.random.default_rng(seed)
    width = width or max(lengths)
    token_ids = np.zeros((len(lengths), width), np.int32)
    segment_ids = np.zeros_like(token_ids)
    padding_mask = np.zeros_like(token_ids)
    for row, length in enumerate(lengths):
        token_ids[row, :length] = rng.integers(1, vocab_size, length)
        segment_ids[row, length // 2:length] = 1
        padding_mask[row, :length] = 1
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}


def torch_outputs(model, batch):
    """(sequence_output, pooled_output) of a transformers BertModel as numpy, eval mode, no grad."""
    import torch

    with torch.no_grad():
        out = model(input_ids=torch.tensor(batch["token_ids"], dtype=torch.long),
                    token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long),
                    attention_mask=torch.tensor(batch["padding_mask"], dtype=torch.long))
    return out.last_hidden_state.numpy(), out.pooler_output.numpy()


def keras_outputs(encoder, batch, training=False):
    """(sequence_output, pooled_output) of a BertEncoder as numpy (inference mode unless `training`)."""
    out = encoder(batch, training=training)
    return np.asarray(out["sequence_output"]), np.asarray(out["pooled_output"])


def max_diffs(ours, reference, padding_mask):
    """Max abs differences (sequence at real tokens, pooled) between two (sequence, pooled) pairs."""
    real = padding_mask.astype(bool)
    return (float(np.abs(ours[0] - reference[0])[real].max()), float(np.abs(ours[1] - reference[1]).max()))


# ---- Google's original TF1 checkpoint layout, written by hand from a transformers state_dict ----

# transformers sub-module path -> Google TF1 variable path, inside bert/encoder/layer_N/.
_GOOGLE_LAYER_PARTS = {
    "attention.self.query": "attention/self/query",
    "attention.self.key": "attention/self/key",
    "attention.self.value": "attention/self/value",
    "attention.output.dense": "attention/output/dense",
    "attention.output.LayerNorm": "attention/output/LayerNorm",
    "intermediate.dense": "intermediate/dense",
    "output.dense": "output/dense",
    "output.LayerNorm": "output/LayerNorm",
}
_GOOGLE_TOP = {
    "embeddings.word_embeddings.weight": "bert/embeddings/word_embeddings",
    "embeddings.position_embeddings.weight": "bert/embeddings/position_embeddings",
    "embeddings.token_type_embeddings.weight": "bert/embeddings/token_type_embeddings",
    "embeddings.LayerNorm.weight": "bert/embeddings/LayerNorm/gamma",
    "embeddings.LayerNorm.bias": "bert/embeddings/LayerNorm/beta",
    "pooler.dense.weight": "bert/pooler/dense/kernel",
    "pooler.dense.bias": "bert/pooler/dense/bias",
}


def google_variables(state_dict):
    """Google TF1 name -> numpy array for a transformers BertModel state_dict (Dense kernels as [in, out])."""
    variables = {}
    for name, tensor in state_dict.items():
        array = tensor.numpy()
        if name in _GOOGLE_TOP:
            google = _GOOGLE_TOP[name]
        elif name.startswith("encoder.layer."):
            index, rest = name[len("encoder.layer."):].split(".", 1)
            module, param = rest.rsplit(".", 1)
            if module.endswith("LayerNorm"):
                leaf = {"weight": "gamma", "bias": "beta"}[param]
            else:
                leaf = {"weight": "kernel", "bias": "bias"}[param]
            google = f"bert/encoder/layer_{index}/{_GOOGLE_LAYER_PARTS[module]}/{leaf}"
        else:
            continue  # buffers such as embeddings.position_ids
        variables[google] = array.T.copy() if google.endswith("/kernel") else array
    return variables


def write_tf1_checkpoint(variables, prefix):
    """Save name -> array as TF1 variables with tf.compat.v1.train.Saver (the names are kept verbatim)."""
    import tensorflow as tf

    with tf.Graph().as_default():
        tf_variables = {name: tf.compat.v1.Variable(array, name=name.replace("/", "_"))
                        for name, array in variables.items()}
        saver = tf.compat.v1.train.Saver(var_list=tf_variables, write_version=tf.compat.v1.train.SaverDef.V2)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, prefix, write_meta_graph=False)


def write_google_checkpoint(model, directory, extra_variables=None):
    """A Google BERT directory (bert_config.json, bert_model.ckpt.*, vocab.txt) holding `model`'s weights.

    The extras a released pretraining checkpoint carries are added: global_step, the MLM/NSP head and Adam
    slots; `extra_variables` adds more.
    """
    config = model.config
    variables = google_variables(model.state_dict())
    rng = np.random.default_rng(1)
    variables["global_step"] = np.array(1000, np.int64)
    variables["cls/predictions/output_bias"] = rng.normal(size=config.vocab_size).astype(np.float32)
    variables["cls/seq_relationship/output_weights"] = rng.normal(size=(2, config.hidden_size)).astype(np.float32)
    for name in ("bert/embeddings/word_embeddings", "bert/pooler/dense/kernel"):
        variables[name + "/adam_m"] = np.zeros_like(variables[name])
        variables[name + "/adam_v"] = np.zeros_like(variables[name])
    variables.update(extra_variables or {})
    os.makedirs(directory, exist_ok=True)
    write_tf1_checkpoint(variables, os.path.join(directory, "bert_model.ckpt"))
    google_config = {
        "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "hidden_size": config.hidden_size, "initializer_range": 0.02,
        "intermediate_size": config.intermediate_size, "max_position_embeddings": config.max_position_embeddings,
        "num_attention_heads": config.num_attention_heads, "num_hidden_layers": config.num_hidden_layers,
        "type_vocab_size": config.type_vocab_size, "vocab_size": config.vocab_size,
    }
    with open(os.path.join(directory, "bert_config.json"), "w") as f:
        json.dump(google_config, f, indent=2)
    write_vocab(os.path.join(directory, "vocab.txt"), config.vocab_size)
    return directory


def write_hf_checkpoint(model, directory):
    """`model` saved by transformers itself (config.json, model.safetensors) with a synthetic vocab.txt beside it."""
    model.save_pretrained(directory)
    write_vocab(os.path.join(directory, "vocab.txt"), model.config.vocab_size)
    return directory


def write_vocab(path, size):
    """A vocab.txt with BERT's special tokens and `size` lines in all."""
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(special + [f"word{i}" for i in range(size - len(special))]) + "\n")


def hf_reference_tokenizer(vocab_path: str, lowercase: bool = True):
    """transformers' BertTokenizer built the safe way (vocab dict; vocab_file= silently gives 5 tokens)."""
    from transformers import BertTokenizer
    from transformers.models.bert.tokenization_bert import load_vocab

    return BertTokenizer(vocab=dict(load_vocab(vocab_path)), do_lower_case=lowercase)


def hf_task_checkpoint(root, model_class, vocab, **config):
    """A tiny random transformers `model_class` (vocab 30522) saved with save_pretrained beside `vocab`: (its
    directory, the model in eval mode)."""
    import shutil

    import torch
    import transformers

    torch.manual_seed(0)
    hf_config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=64, max_position_embeddings=64, **config)
    model = model_class(hf_config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "LayerNorm" not in name:
                parameter.copy_(torch.randn_like(parameter) * 0.2)
    directory = str(root / model_class.__name__)
    model.save_pretrained(directory, safe_serialization=True)
    shutil.copyfile(vocab, os.path.join(directory, "vocab.txt"))
    return directory, model
