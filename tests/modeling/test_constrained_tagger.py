"""A BMES tagger decodes each sentence's tags jointly: whole entity chains only, the same in the graph
(`predict_entities`, the exported signature's code) and in the task's Python path (`NerTask.predict`), and the
setting survives a save and load."""

import os

import keras
import numpy as np
import pytest

from bert_keras.assets import asset_path
from bert_keras.checkpoints.task_spec import TaskSpec
from bert_keras.config import BertConfig
from bert_keras.data.conll import TaggedSentence, write_conll
from bert_keras.data.labels import LabelVocabulary
from bert_keras.data.tag_schemes import SCHEMES
from bert_keras.modeling import BertEncoder
from bert_keras.tasks.registry import load_trained_task, save_trained_task, task_class
from bert_keras.text import BertTokenizer

BMES = SCHEMES["BMES"]
LABELS = BMES.labels(["LOC", "ORG", "PER"])
TEXTS = ["我住在北京市海淀区。", "中国人民银行今天发布了新的政策。", "张三和李四去了上海。", "今天天气很好",
         "联合国总部设在纽约。", "他在清华大学读书，明年毕业。"]


def _tagger_dir(root, constrained_decoding=None):
    keras.utils.set_random_seed(1)
    spec = TaskSpec(task="ner", max_seq_length=32, tag_scheme="BMES", word_split="characters",
                    constrained_decoding=constrained_decoding)
    task = task_class("ner")(spec, BertTokenizer(asset_path("chinese_vocab")), LabelVocabulary(LABELS))
    model = task.build_model(BertEncoder(BertConfig.named("tiny", vocab_size=21128, num_hidden_layers=1)))
    head = model.get_layer("token_classifier")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 40.0, bias])  # confident, varied random tags: argmax breaks chains
    name = f"constrained={constrained_decoding}"
    return save_trained_task(os.path.join(str(root), name, "model"), model, task)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("constrained")
    return load_trained_task(_tagger_dir(root)), load_trained_task(_tagger_dir(root, constrained_decoding=False))


def _whole(labels):
    return BMES.encode(BMES.spans(labels), len(labels)) == list(labels)


def test_constrained_labels_are_whole_chains_and_argmax_ones_are_not(trained):
    constrained, argmax = trained
    assert constrained.model.constrained_scheme.name == "BMES" and argmax.model.constrained_scheme is None
    assert constrained.model.task_spec.constrained_decoding is None
    assert argmax.model.task_spec.constrained_decoding is False  # saved and loaded
    with_constraints = constrained.model.predict_entities(TEXTS)
    without = argmax.model.predict_entities(TEXTS)
    broken = 0
    for text, mine, plain in zip(TEXTS, with_constraints, without):
        labels = [w["label"] for w in mine["words"]]
        assert _whole(labels), (text, labels)
        assert [(e["type"], e["start"], e["end"]) for e in mine["entities"]] == [
            (kind, first, last + 1) for kind, first, last in BMES.spans(labels)]  # one character a word
        assert all(0 < w["score"] <= 1 for w in mine["words"])
        broken += not _whole([w["label"] for w in plain["words"]])
    assert broken > 0
    assert sum(len(r["entities"]) for r in with_constraints) > 0


def test_the_task_path_decodes_as_the_graph(trained, tmp_path):
    model, task = trained[0].model, trained[0].task
    path = str(tmp_path / "sentences.txt")
    write_conll(path, [TaggedSentence(list(text), ["O"] * len(text), 0) for text in TEXTS])
    from_file = task.predict(model, task.read(path))
    from_text = model.predict_entities(TEXTS)
    for filed, graph in zip(from_file, from_text):
        assert filed["tags"] == [w["label"] for w in graph["words"]]
        assert [(e["type"], e["start"], e["end"]) for e in filed["entities"]] == [
            (e["type"], e["start"], e["end"]) for e in graph["entities"]]
    scores = task.evaluate(model, task.read(path))
    assert scores["sentences"] == len(TEXTS) and np.isfinite(scores["word_accuracy"])


def test_constrained_decoding_needs_a_scheme():
    from bert_keras.errors import InvalidInputError
    from bert_keras.modeling.token_classifier import BertTokenClassifier

    encoder = BertEncoder(BertConfig.named("tiny", vocab_size=100, num_hidden_layers=1))
    with pytest.raises(InvalidInputError, match="constrained_decoding needs a tag_scheme"):
        BertTokenClassifier(encoder, labels=["a", "b"], constrained_decoding=True)
