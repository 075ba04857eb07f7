"""Our Chinese pretraining against transformers' BertForPreTraining: the same initial weights, the same batches,
the same AdamW schedule, dropout on. Tells a defect of ours from a limit of the recipe (docs/BENCHMARKS.md,
pretraining-pays). Reference side only: needs torch==2.13.0 and transformers (bash scripts/setup.sh --dev).

    python scripts/pretraining_reference.py data    # corpus + shards of pretraining-pays, STEPS batches, init weights
    python scripts/pretraining_reference.py ours    # BertPretrainer.fit on those batches, mean accuracies per 100 steps
    python scripts/pretraining_reference.py torch   # BertForPreTraining in a plain torch loop on the same batches

Environment: STEPS (schedule length, 1500), STOP (steps actually run, STEPS), WARMUP (150), LR (1e-3),
WORK_DIR (out/pretraining-reference). Results: WORK_DIR/{ours,torch}.json.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
STEPS = int(os.environ.get("STEPS", 1500))
STOP = int(os.environ.get("STOP", STEPS))
WARMUP = int(os.environ.get("WARMUP", 150))
LR = float(os.environ.get("LR", 1e-3))
WORK_DIR = os.environ.get("WORK_DIR", os.path.join("out", "pretraining-reference"))
EVERY = min(100, STOP)  # steps per reported mean
BATCHES, INIT = os.path.join(WORK_DIR, "batches.npz"), os.path.join(WORK_DIR, "init")


def write_batches() -> None:
    """STEPS batches of the pretraining-pays pipeline (masked as in training) and the initial weights."""
    from bert_keras.assets import asset_path
    from bert_keras.benchmarks.pretraining_pays import DEFAULT_WORK_DIR, PRETRAIN, _corpus, _shards
    from bert_keras.training.pretraining import build_pretraining
    from bert_keras.training.pretraining_config import PretrainingConfig

    vocab = asset_path("chinese_vocab")
    shards = _shards(DEFAULT_WORK_DIR, _corpus(DEFAULT_WORK_DIR, False), vocab, PRETRAIN["max_seq_length"])
    settings = {**PRETRAIN, "train_steps": STEPS, "steps_per_epoch": STEPS, "warmup_steps": WARMUP, "learning_rate": LR}
    run = build_pretraining(PretrainingConfig(vocab=vocab, data_dir=shards, output_dir=WORK_DIR, **settings))
    arrays: dict[str, list] = {}
    for x, y, weights in run.dataset.take(STEPS):
        for key, value in {**x, "mlm_ids": y["mlm"], "nsp": y["nsp"], "mlm_weights": weights["mlm"]}.items():
            arrays.setdefault(key, []).append(value.numpy())
    np.savez(BATCHES, **{key: np.stack(value) for key, value in arrays.items()})
    os.replace(run.export_encoder(), INIT)  # untrained: the seed build_pretraining uses


def train_ours(data: dict[str, np.ndarray]) -> dict[str, list[float]]:
    import keras
    import tensorflow as tf

    from bert_keras.modeling.pretrainer import BertPretrainer
    from bert_keras.training.optimizer import OptimizerConfig
    from bert_keras.training.run_setup import compile_for_training

    keras.utils.set_random_seed(0)
    model = BertPretrainer.from_preset(INIT)
    compile_for_training(model, OptimizerConfig(learning_rate=LR, train_steps=STEPS, warmup_steps=WARMUP),
                         "float32", False)
    x = {key: data[key][:STOP] for key in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
    y = {"mlm": data["mlm_ids"][:STOP], "nsp": data["nsp"][:STOP]}
    weights = {"mlm": data["mlm_weights"][:STOP], "nsp": np.ones_like(data["nsp"][:STOP], np.float32)}
    dataset = tf.data.Dataset.from_tensor_slices((x, y, weights))  # one element = one recorded batch
    history = model.fit(dataset, epochs=STOP // EVERY, steps_per_epoch=EVERY, verbose=0)
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def train_torch(data: dict[str, np.ndarray]) -> dict[str, list[float]]:
    import torch
    from transformers import BertForPreTraining

    torch.manual_seed(0)
    model = BertForPreTraining.from_pretrained(INIT).train()
    decay = [p for n, p in model.named_parameters() if "bias" not in n and "LayerNorm" not in n]
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=LR, eps=1e-6)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: step / WARMUP if step < WARMUP else max(0.0, 1.0 - step / STEPS))
    cross_entropy = torch.nn.CrossEntropyLoss(reduction="none")
    names = ("mlm_accuracy", "nsp_accuracy", "mlm_loss", "nsp_loss")
    log: dict[str, list[float]] = {name: [] for name in names}
    window: dict[str, list[float]] = {name: [] for name in names}
    for step in range(STOP):
        batch = {key: torch.tensor(value[step]) for key, value in data.items()}
        out = model.bert(input_ids=batch["token_ids"].long(), token_type_ids=batch["segment_ids"].long(),
                         attention_mask=batch["padding_mask"].long())
        hidden = out.last_hidden_state
        positions = batch["mask_positions"].long()[..., None].expand(-1, -1, hidden.shape[-1])
        scores = model.cls.predictions(torch.gather(hidden, 1, positions))  # logits at the targets only
        nsp_logits = model.cls.seq_relationship(out.pooler_output)
        targets, weights, labels = batch["mlm_ids"].long(), batch["mlm_weights"], batch["nsp"].long()
        mlm = (cross_entropy(scores.flatten(0, 1), targets.flatten()) * weights.flatten()).sum() / weights.sum()
        nsp = cross_entropy(nsp_logits, labels).mean()
        optimizer.zero_grad()
        (mlm + nsp).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            window["mlm_accuracy"].append(float(((scores.argmax(-1) == targets) * weights).sum() / weights.sum()))
            window["nsp_accuracy"].append(float((nsp_logits.argmax(-1) == labels).float().mean()))
            window["mlm_loss"].append(float(mlm))
            window["nsp_loss"].append(float(nsp))
        if (step + 1) % EVERY == 0:
            for name in names:
                log[name].append(float(np.mean(window[name])))
                window[name] = []
            print(step + 1, {name: round(values[-1], 4) for name, values in log.items()}, flush=True)
    return log


def main(side: str) -> None:
    os.makedirs(WORK_DIR, exist_ok=True)
    if side == "data":
        write_batches()
        return
    data = dict(np.load(BATCHES))  # into memory once (np.load's lazy arrays would re-read the file every step)
    started = time.perf_counter()
    log = train_ours(data) if side == "ours" else train_torch(data)
    log["seconds"] = time.perf_counter() - started
    with open(os.path.join(WORK_DIR, f"{side}.json"), "w", encoding="utf-8") as f:
        json.dump(log, f, indent=1)
    print(json.dumps({key: [round(v, 4) for v in values] for key, values in log.items() if key != "seconds"}))


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("data", "ours", "torch"):
        sys.exit(__doc__)
    main(sys.argv[1])
