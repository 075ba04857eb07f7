"""bfloat16 SavedModel exports: the matrix products really run in bfloat16, outputs stay float32 and close to the
float32 export on real text (real MiniLM weights), TF Serving's session loader runs them, TFLite refuses them."""

import os

import numpy as np
import pytest
import tensorflow as tf
from export_helpers import review_texts
from tiny_models import tiny_task_dir

REVIEWS = review_texts(48)


@pytest.fixture(scope="module")
def exports(tmp_path_factory, minilm_dir):
    """{precision: export} of the real all-MiniLM-L6-v2 as sentence vectors."""
    from bert_keras.export import export_saved_model

    base = str(tmp_path_factory.mktemp("serving"))
    return {precision: export_saved_model(minilm_dir, base, f"minilm-{precision}", task="embed",
                                          precision=precision) for precision in ("float32", "bfloat16")}


def _matmul_dtypes(export_path: str) -> set[str]:
    """The T attribute of every matrix product in the SavedModel's graph and function library."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(export_path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    graph = proto.meta_graphs[0].graph_def
    nodes = list(graph.node) + [n for function in graph.library.function for n in function.node_def]
    return {tf.dtypes.as_dtype(n.attr["T"].type).name for n in nodes if n.op in ("MatMul", "BatchMatMulV2")}


def test_bfloat16_export_computes_in_bfloat16_and_answers_in_float32(exports):
    assert _matmul_dtypes(exports["float32"].path) == {"float32"}
    assert "bfloat16" in _matmul_dtypes(exports["bfloat16"].path)
    assert exports["bfloat16"].card["precision"] == "bfloat16" and exports["float32"].card["precision"] == "float32"
    outputs = {p: tf.saved_model.load(e.path).signatures["serving_default"](text=tf.constant(REVIEWS))
               for p, e in exports.items()}
    for name in ("pooled_output", "mean_pooled"):
        assert outputs["bfloat16"][name].dtype == tf.float32
        full, half = outputs["float32"][name].numpy(), outputs["bfloat16"][name].numpy()
        cosine = (full * half).sum(-1) / np.linalg.norm(full, axis=-1) / np.linalg.norm(half, axis=-1)
        assert cosine.min() > 0.995, (name, cosine.min())  # measured 0.9994 / 0.9997 on these reviews
        assert np.abs(full - half).max() > 1e-4  # really a different computation


def test_tf_serving_session_loader_runs_the_bfloat16_export(exports):
    from bert_keras.serving.servable import Servable

    servable = Servable("minilm", 1, exports["bfloat16"].path)
    try:
        out = servable.run(servable.signature("serving_default"), {"text": np.array([REVIEWS[0].encode()], object)})
    finally:
        servable.retire()
    assert out["mean_pooled"].dtype == np.float32 and out["mean_pooled"].shape == (1, 384)


def test_bfloat16_classifier_keeps_float32_logits_and_decisions(tmp_path, minilm_vocab):
    from bert_keras.export import export_saved_model

    model_dir = tiny_task_dir(str(tmp_path / "models"), minilm_vocab, "classify")
    out = {}
    for precision in ("float32", "bfloat16"):
        export = export_saved_model(model_dir, str(tmp_path / "serving"), precision, precision=precision)
        out[precision] = tf.saved_model.load(export.path).signatures["serving_default"](text=tf.constant(REVIEWS))
    assert out["bfloat16"]["logits"].dtype == tf.float32 and out["bfloat16"]["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(out["bfloat16"]["logits"], out["float32"]["logits"], atol=0.02)


def test_tflite_refuses_a_bfloat16_source(minilm_dir, tmp_path):
    from bert_keras.export import export_tflite, load_export_source

    source = load_export_source(minilm_dir, task="embed", precision="bfloat16")
    with pytest.raises(ValueError, match="SavedModels only"):
        export_tflite(source, str(tmp_path / "tflite"))
    with pytest.raises(ValueError, match="precision 'float16' is unknown"):
        load_export_source(minilm_dir, task="embed", precision="float16")
