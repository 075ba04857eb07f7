"""The OpenVINO export: real MiniLM within 1e-5 of transformers through the served layout, every task's
signatures equal to its SavedModel's, served by the bundled server over the TF Serving API, and refusals."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from export_helpers import review_texts
from tiny_models import tiny_task_dir

pytest.importorskip("openvino")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TASKS = {"classify": {}, "ner": {}, "qa": dict(max_seq_length=64, max_query_length=16, doc_stride=16)}


def _texts(count):
    return np.array([t[:600].encode() for t in review_texts(count)] + [b""], dtype=object)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, minilm_vocab):
    """{task: (OpenVINO servable, SavedModel servable)} of one tiny random model per task."""
    from bert_keras.export import export_openvino, export_saved_model
    from bert_keras.serving.servable_loader import open_servable

    root = tmp_path_factory.mktemp("openvino")
    pairs = {}
    for task, fields in TASKS.items():
        model_dir = tiny_task_dir(str(root / "models"), minilm_vocab, task, **fields)
        ov = export_openvino(model_dir, str(root / "ov"), task)
        saved = export_saved_model(model_dir, str(root / "sm"), task)
        pairs[task] = (open_servable(task, ov.version, ov.path), open_servable(task, saved.version, saved.path))
    return pairs


def _feed(task, signature, tf_servable):
    texts = _texts(6)
    if task == "qa" and signature == "serving_default":
        return {"question": texts[:4], "context": texts[3:7]}
    if signature == "classify":
        return {"inputs": np.array([tf.train.Example(features=tf.train.Features(feature={"text": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[t]))})).SerializeToString() for t in texts], dtype=object)}
    if signature == "predict_ids":
        rng = np.random.default_rng(0)
        ids = rng.integers(1, 30000, (3, 20)).astype(np.int32)
        mask = np.ones_like(ids)
        mask[1, 7:] = 0
        return {"token_ids": ids * mask, "segment_ids": np.zeros_like(ids), "padding_mask": mask}
    return {"text": texts}


@pytest.mark.parametrize("task", list(TASKS))
def test_every_signature_gives_the_saved_model_outputs(tiny, task):
    ov, saved = tiny[task]
    assert type(ov).__name__ == "OpenVinoServable" and set(ov.signatures) == set(saved.signatures)
    for name, signature in ov.signatures.items():
        theirs = saved.signature(name)
        assert (signature.method_name, set(signature.inputs), set(signature.outputs)) == (
            theirs.method_name, set(theirs.inputs), set(theirs.outputs)), name
        feed = _feed(task, name, saved)
        got = ov.run(signature, ov.check_inputs(signature, feed))
        expected = saved.run(theirs, saved.check_inputs(theirs, feed))
        for key, value in expected.items():
            if value.dtype.kind == "f":
                np.testing.assert_allclose(got[key], value, atol=1e-5, err_msg=f"{name} {key}")
            else:
                assert np.array_equal(got[key], value), f"{name} {key}"


def test_metadata_shows_the_public_signatures_and_ids_are_checked(tiny):
    ov, saved = tiny["classify"]
    assert set(ov.meta_graph.signature_def) == set(saved.signatures)
    assert ov.meta_graph.signature_def["classify"].method_name == "tensorflow/serving/classify"
    assert set(ov.meta_graph.signature_def["serving_default"].inputs) == {"text"}
    signature = ov.signature("predict_ids")
    bad = _feed("classify", "predict_ids", saved)
    bad["token_ids"][0, 3] = 30522
    with pytest.raises(Exception, match=r"indices\[0,3\] = 30522 is not in \[0, 30522\)"):
        ov.check_inputs(signature, bad)
    assert ov.signature("classify").examples is not None  # tf.Example inputs are checked before batching


def test_auto_precision_is_bfloat16_only_with_native_bf16():
    from bert_keras.serving.openvino_servable import inference_precision

    class Core:
        def __init__(self, capabilities):
            self.capabilities = capabilities

        def get_property(self, device, name):
            assert (device, name) == ("CPU", "OPTIMIZATION_CAPABILITIES")
            return self.capabilities

    assert inference_precision("auto", Core(["FP32", "INT8", "BIN"])) == "f32"
    assert inference_precision("auto", Core(["FP32", "BF16", "INT8"])) == "bf16"
    assert inference_precision("float32", Core(["BF16"])) == "f32"
    with pytest.raises(ValueError, match="inference_precision 'fp8' is unknown"):
        inference_precision("fp8", Core([]))


def test_the_server_serves_an_openvino_export_over_grpc_and_rest(tiny):
    from tensorflow_serving.config import model_server_config_pb2

    from bert_keras.serving import GrpcClient, ModelServer, RestClient, ServerOptions

    ov, saved = tiny["ner"]
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name, model.base_path = "ner", os.path.dirname(ov.path)
    texts = ["Paris in the spring", "Jean Renoir directed it."]
    expected = saved.run(saved.signature("serving_default"), {"text": np.array([t.encode() for t in texts],
                                                                                 dtype=object)})
    with ModelServer(config, ServerOptions(grpc_port=0, rest_port=0, poll_seconds=0)) as server:
        for client in (GrpcClient(server.grpc_address, "ner"), RestClient(server.rest_url, "ner")):
            tagged = client.tag(texts)
            assert [[w.word for w in row] for row in tagged] == [
                [w.decode() for w in row[:n]] for row, n in zip(expected["words"], expected["num_words"])]
            assert [[w.label for w in row] for row in tagged] == [
                [w.decode() for w in row[:n]] for row, n in zip(expected["labels"], expected["num_words"])]


def test_refusals_name_the_problem(tiny, tmp_path, minilm_vocab):
    from bert_keras.errors import InvalidInputError
    from bert_keras.export import export_openvino, load_export_source

    model_dir = tiny_task_dir(str(tmp_path / "models"), minilm_vocab, "classify")
    with pytest.raises(InvalidInputError, match="OpenVINO precision 'int4' is unknown"):
        export_openvino(model_dir, str(tmp_path / "ov"), "m", precision="int4")
    with pytest.raises(InvalidInputError, match="converts the float32 model"):
        export_openvino(load_export_source(model_dir, precision="bfloat16"), str(tmp_path / "ov"), "m")
    assert not os.path.exists(tmp_path / "ov" / "m" / "1")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-m", "bert_keras.cli", "export", "--model", model_dir, "--output",
                           str(tmp_path / "sm"), "--precision", "auto"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0 and "--precision auto is for openvino" in done.stderr


def test_real_minilm_through_the_openvino_layout_matches_transformers(tmp_path, minilm_dir):
    import torch
    import transformers
    from transformers.models.bert.tokenization_bert import load_vocab

    from bert_keras.export import export_openvino
    from bert_keras.serving.servable_loader import open_servable

    export = export_openvino(minilm_dir, str(tmp_path), "minilm", task="embed", max_seq_length=128)
    assert export.max_abs_diff <= 1e-5
    assert os.path.getsize(os.path.join(export.path, "model.bin")) > 80e6  # float32 weights, not float16
    servable = open_servable("minilm", export.version, export.path)
    texts = [t[:2000] for t in review_texts(16, skip=100)]
    got = servable.run(servable.signature("serving_default"),
                       {"text": np.array([t.encode() for t in texts], dtype=object)})
    tokenizer = transformers.BertTokenizerFast(vocab=dict(load_vocab(os.path.join(minilm_dir, "vocab.txt"))),
                                               do_lower_case=True)
    model = transformers.BertModel.from_pretrained(minilm_dir).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.inference_mode():
        outputs = model(**batch)
    mask = batch["attention_mask"].numpy()[..., None]
    mean = (outputs.last_hidden_state.numpy() * mask).sum(1) / mask.sum(1)
    assert np.abs(got["pooled_output"] - outputs.pooler_output.numpy()).max() <= 1e-5
    assert np.abs(got["mean_pooled"] - mean).max() <= 1e-5
