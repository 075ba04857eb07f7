"""Every benchmark runs in its --quick mode through scripts/benchmark.py or `bert-keras benchmark` and writes its
figures (speed figures are measured, not asserted; fidelity figures hold at any size and are asserted)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(args, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_tokenize_benchmark_quick_mode_writes_its_figures(tmp_path):
    out = tmp_path / "tokenize.json"
    result = _run(["scripts/benchmark.py", "tokenize", "--quick", "--json", str(out)])
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["num_texts"] == 64
    for key in ("reference_texts_per_s", "exact_texts_per_s", "tflite_texts_per_s", "exact_ratio"):
        assert figures[key] > 0


def test_train_benchmark_quick_mode_writes_its_figures(tmp_path):
    out = tmp_path / "train.json"
    result = _run(["scripts/benchmark.py", "train", "--quick", "--json", str(out)])
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["shape"] == "quick"
    for key in ("torch_examples_per_s", "keras_examples_per_s", "keras_xla_examples_per_s", "keras_ratio"):
        assert figures[key] > 0


def test_pretrain_quality_benchmark_quick_mode_writes_its_figures(tmp_path):
    out = tmp_path / "pretrain.json"
    result = _run(["scripts/benchmark.py", "pretrain", "--quick", "--json", str(out)])
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["train_steps"] == 4 and figures["held_out_targets"] > 0
    assert 0 < figures["unigram_baseline_accuracy"] < 1 and 0 <= figures["held_out_mlm_accuracy"] <= 1


def test_finetune_benchmark_quick_mode_runs_every_recipe(tmp_path):
    out = tmp_path / "finetune.json"
    result = _run(["scripts/benchmark.py", "finetune", "--quick", "--json", str(out)], timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    for key in ("classify_test_accuracy", "ner_test_f1", "qa_test_exact_match", "qa_test_baseline_first_word_f1"):
        assert 0 <= figures[key] <= 100
    assert "bert-keras finetune --task classify" in result.stdout


def test_export_benchmark_quick_mode_writes_its_figures(tmp_path):
    out = tmp_path / "export.json"
    result = _run(["scripts/benchmark.py", "export", "--quick", "--json", str(out)], timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["held_out_texts"] == 50
    for key in ("tflite_int8_argmax_agreement", "tflite_text_argmax_agreement"):
        assert 0 <= figures[key] <= 1
    assert figures["saved_model_max_abs_diff"] <= 1e-5  # fidelity, not speed: holds at any size


def test_serve_benchmark_quick_mode_writes_its_figures(tmp_path):
    out = tmp_path / "serve.json"
    result = _run(["scripts/benchmark.py", "serve", "--quick", "--json", str(out)], timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["texts"] == 64 and figures["clients"] == 16
    assert figures["server_texts_per_s"] > 0 and figures["latency_p99_ms"] >= figures["latency_p50_ms"]


def test_infer_benchmark_quick_mode_through_the_cli_matches_transformers(tmp_path):
    out = tmp_path / "infer.json"
    result = _run(["-m", "bert_keras.cli", "benchmark", "infer", "--quick", "--json", str(out)], timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    # Fidelity, not speed (holds at any size): the same checkpoint and texts give transformers' pooled vectors.
    assert figures["fixed_ours_max_abs_diff_vs_torch"] <= 1e-5
    assert figures["end_to_end_saved_model_max_abs_diff_vs_torch"] <= 1e-5
    assert figures["end_to_end_keras_eager_max_abs_diff_vs_torch"] <= 1e-5
    for key in ("matmul_peak_gflop_per_s", "fixed_ours_vs_torch", "fixed_ours_vs_keras_hub", "fixed_ours_peak_fraction",
                "batch1_saved_model_vs_torch", "batch4_saved_model_vs_keras_eager",
                "padding_sorted_ours_gain_vs_max_length"):
        assert figures[key] > 0, key
    # Sorting by length can only shrink padding: a larger share of the computed positions are real tokens.
    assert figures["padding_sorted_real_token_share"] >= figures["padding_longest_real_token_share"]
    assert figures["padding_longest_real_token_share"] >= figures["padding_max_length_real_token_share"]
    # The CPU anchors: every float32 engine computes transformers' pooled vectors (a broken export, e.g. one traced
    # on an all-ones mask or left in training mode, is off by > 1e-2); bfloat16 is close, not equal.
    for engine in ("ours", "onnxruntime", "openvino_f32", "openvino_f32_saved_model"):
        assert figures[f"anchor_{engine}_max_abs_diff_vs_torch"] <= 1e-4, engine
    for engine in ("ours_bfloat16", "openvino_bf16"):
        assert figures[f"anchor_{engine}_max_abs_diff_vs_torch"] <= 0.2, engine
    assert figures["text_saved_model_max_abs_diff_vs_onnxruntime"] <= 1e-4
    assert figures["anchor_onnxruntime_fused_SkipLayerNormalization"] > 0  # ORT's BERT fusions matched the graph
    for size in (1, 8, 32):
        for key in ("ours_vs_onnxruntime", "ours_vs_openvino_f32", "ours_vs_openvino_f32_saved_model",
                    "ours_bfloat16_vs_openvino_bf16"):
            assert figures[f"anchor_batch{size}_{key}"] > 0, (size, key)
    assert figures["text_batch1_saved_model_vs_onnxruntime"] > 0


def test_profile_benchmark_quick_mode_splits_the_op_time_into_classes(tmp_path):
    out = tmp_path / "profile.json"
    result = _run(["scripts/benchmark.py", "profile", "--quick", "--json", str(out)], timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    classes = figures["classes"].split(",")
    for size in (4, 1):
        for engine in ("ours", "openvino"):
            prefix = f"batch{size}_{engine}"
            shares = [figures[f"{prefix}_{label}_share"] for label in classes]
            assert abs(sum(shares) - 1) < 1e-6 and min(shares) >= 0, prefix
            assert figures[f"{prefix}_matmul_share"] > 0 and figures[f"{prefix}_wall_ms"] > 0, prefix
            assert figures[f"{prefix}_nodes"] > 0, prefix
        # Our graph runs one Softmax per layer (OpenVINO may fuse its softmax into a subgraph).
        assert figures[f"batch{size}_ours_softmax_count"] == 2 and figures[f"batch{size}_ours_softmax_share"] > 0
        assert figures[f"batch{size}_ours_layer_norm_share"] > 0
        # GELU runs as its own ops, or (oneDNN on AVX-512 hosts) inside each layer's intermediate matmul.
        assert (figures[f"batch{size}_ours_gelu_share"] > 0
                or figures[f"batch{size}_ours_gelu_fused_into_matmul_count"] == 2)


def test_pretraining_pays_benchmark_quick_mode_runs_every_stage(tmp_path):
    out = tmp_path / "pays.json"
    result = _run(["scripts/benchmark.py", "pretraining-pays", "--quick", "--work-dir", str(tmp_path / "work"),
                   "--json", str(out)], timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    for init in ("random", "pretrained"):
        assert 0 <= figures[f"{init}_msra_test_f1"] <= 1 and 0 <= figures[f"{init}_sentiment_test_accuracy"] <= 1
        assert 0 <= figures[f"{init}_msra_test_f1_argmax_decoding"] <= 1
        per_seed = figures[f"{init}_sentiment_test_accuracy_per_seed"]  # quick: two seeds
        assert len(per_seed) == 2 and figures[f"{init}_sentiment_test_accuracy"] == pytest.approx(sum(per_seed) / 2)
        assert 0 <= figures[f"{init}_msra_2k_test_f1"] <= 1
        assert figures[f"{init}_heads"] == 4 and 0 <= figures[f"{init}_local_heads"] <= 4  # tiny: 2 layers x 2 heads
        assert 0 < figures[f"{init}_uniform_neighbour_attention"] < 1
    # Freshly initialised attention is close to uniform: no head reads the neighbours yet.
    assert figures["random_local_heads"] == 0 and figures["random_strongest_neighbour_vs_uniform"] < 1.5
    assert figures["pretrain_steps"] == 4 and figures["pretrain_seconds"] > 0
    assert figures["pretrain_locality_scaffold_steps"] == 2
    # The exported model's entities on raw text are the Python predictions, sentence for sentence.
    assert figures["export_sentences"] > 40 and figures["export_entities"] > 0
    assert figures["export_sentences_differing_from_predict_entities"] == 0
    assert figures["export_sentences_differing_from_conll_predict"] == 0
    assert figures["vocab_learned_size"] > 1000 and figures["vocab_bert_base_chinese_size"] == 21128
    assert all(0 <= figures[f"sentiment_ngram{n}_test_accuracy"] <= 1 for n in (1, 2))
    # Rerunning the same work dir resumes: every stage is found done and the figures come back the same.
    again = _run(["scripts/benchmark.py", "pretraining-pays", "--quick", "--work-dir", str(tmp_path / "work"),
                  "--json", str(out)], timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    rerun = json.loads(out.read_text())
    assert rerun["random_msra_test_f1"] == figures["random_msra_test_f1"]
    assert rerun["pretrain_seconds"] == figures["pretrain_seconds"]


def test_pretraining_pays_english_benchmark_quick_mode_runs_every_stage_and_resumes(tmp_path):
    out, work = tmp_path / "pays-en.json", str(tmp_path / "work")
    result = _run(["scripts/benchmark.py", "pretraining-pays-english", "--quick", "--work-dir", work,
                   "--json", str(out)], timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["corpus_reviews"] == 60 and figures["pretrain_pairs"] > 0 and figures["test_examples"] == 16
    assert figures["pretrain_steps"] == 4 and figures["pretrain_seconds"] > 0
    for init in ("as_is", "continued"):
        assert 0 <= figures[f"{init}_test_accuracy"] <= 1
    assert figures["accuracy_gain_points"] == 100 * (figures["continued_test_accuracy"]
                                                     - figures["as_is_test_accuracy"])
    again = _run(["scripts/benchmark.py", "pretraining-pays-english", "--quick", "--work-dir", work,
                  "--json", str(out)], timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(out.read_text()) == figures  # every stage found done: the same figures


def test_tflite_benchmark_quick_mode_writes_its_figures(tmp_path):
    out = tmp_path / "tflite.json"
    result = _run(["scripts/benchmark.py", "tflite", "--quick", "--json", str(out)], timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["tflite_float32_max_abs_diff"] <= 1e-5
    assert figures["tflite_int8_cosine_min"] > 0.9 and figures["tflite_float16_cosine_min"] > 0.99
    assert figures["tflite_int8_mb"] < 0.5 * figures["tflite_float32_mb"]
    for key in ("latency_ms_saved_model_ids", "latency_ms_tflite_int8", "tflite_int8_latency_vs_float32"):
        assert figures[key] > 0, key


def test_benchmark_refuses_an_option_it_does_not_take():
    result = _run(["-m", "bert_keras.cli", "benchmark", "tokenize", "--model", "runs/x"], timeout=120)
    assert result.returncode == 2
    assert "benchmark 'tokenize' takes no --model" in result.stderr
