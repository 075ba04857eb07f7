"""The entry scripts run end to end (scripts/benchmark.py's --quick runs are in tests/benchmarks/)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_pretrain_script_help_lists_the_strategies():
    result = _run(["scripts/pretrain.py", "--help"], timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "{default,mirrored,multi_worker,tpu}" in result.stdout


def test_similarity_demo_ranks_a_near_duplicate_first():
    result = _run(["scripts/similarity.py", "--corpus-size", "300"])
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    # The query "This was the most boring film I have ever seen." has close paraphrases among real reviews.
    block = lines[lines.index("query: This was the most boring film I have ever seen.") + 1:][:3]
    best_score = float(block[0].split()[0])
    assert 0.5 < best_score <= 1.0


def test_finetune_script_help_lists_the_tasks():
    result = _run(["scripts/finetune.py", "--help"], timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "{classify,ner,qa}" in result.stdout


def test_masked_char_baseline_counts_neighbours_by_hand():
    import importlib.util

    spec = importlib.util.spec_from_file_location("masked_char_baseline",
                                                  os.path.join(ROOT, "scripts", "masked_char_baseline.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Counted by hand: the most frequent character is b (3); after b comes c twice and d once; between b and y
    # only d was seen. Hiding each character of "qbdy": q is missed by all three; b is found by all three; d only
    # by both neighbours (b_y -> d; after b -> c); y by the left neighbour (after d -> y) and by both.
    scores = module.neighbour_scores(["abcx", "abcx", "qbdy"], ["qbdy"], rate=1.0)
    assert scores == {"targets": 4, "unigram_accuracy": 0.25, "left_neighbour_accuracy": 0.5,
                      "both_neighbours_accuracy": 0.75}


def test_attention_locality_script_on_a_checkpoint(tmp_path):
    import json

    from hf_bert_reference import random_hf_bert, write_hf_checkpoint

    checkpoint = write_hf_checkpoint(random_hf_bert(seed=4), tmp_path / "checkpoint")
    texts = tmp_path / "texts.txt"
    texts.write_text("word1 word2 word3\n\nword4\n", encoding="utf-8")
    out = tmp_path / "figures.json"
    result = _run(["scripts/attention_locality.py", str(checkpoint), str(texts), "--json", str(out)])
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert [len(heads) for heads in figures["previous"]] == [2, 2]  # 2 layers of 2 heads
    # [CLS] w w w [SEP] (5 tokens, 4 queries with a previous token) and [CLS] w [SEP] (3 tokens, 2 queries).
    assert abs(figures["uniform"] - (4 / 5 + 2 / 3) / 6) < 1e-9
    assert "strongest neighbour head" in result.stdout
