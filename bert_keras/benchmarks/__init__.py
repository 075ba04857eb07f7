"""Benchmarks: bert-keras measured against a reference in the same run (ratios, not absolute timings).

One module per benchmark, each a function that takes keyword arguments and returns a dict of figures, plus its
`QUICK_ARGS` (tiny sizes for `--quick`: checks it runs, figures meaningless):

    tokenize  in-graph tokenize + pack vs transformers' Rust tokenizer
    infer     encoder and text-in SavedModel inference vs transformers (PyTorch), keras-hub, ONNX Runtime and
              OpenVINO (float32 and bfloat16, batch 1 / 8 / 32)
    profile   our encoder's time per op class (TF Serving's session path) vs OpenVINO's per-layer counts
    train     BertPretrainer.fit vs PyTorch loops over transformers' BertForPreTraining
    serve     `bert-keras serve` with batching vs the same SavedModel in process
    tflite    TFLite float32 / float16 / int8 / text-in vs the SavedModel
    pretrain  masked-LM accuracy after pretraining on real reviews vs the unigram baseline
    finetune  the fine-tuning recipes on real data (test-set scores; QA vs trivial baselines)
    export    a fine-tuned classifier's SavedModel and TFLite exports vs the Keras model

Shared parts: `timing` (best_seconds, median_ms), `anchors` (ONNX Runtime and OpenVINO sessions, the encoder's
id-endpoint SavedModel), `fixtures` (real review samples, the one tiny model of the quick
runs, the main job's paths), `report` (the table and the JSON file), `registry` (name -> function; what
`bert-keras benchmark NAME` and scripts/benchmark.py run). This package is the only place torch, transformers,
onnxruntime and openvino are imported (dev-side: `pip install -r requirements-dev.txt`).

To add a benchmark: write `NAME.py` here with `NAME_benchmark(...) -> dict` and `QUICK_ARGS`, add it to
`registry.BENCHMARKS` and to `BENCHMARK_NAMES` in bert_keras/cli.py (a test checks the two agree), and give it a
`--quick` test in tests/benchmarks/. Modules share code only through `timing`, `anchors` and `fixtures` (public names).
"""
