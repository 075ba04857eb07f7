"""Classification readers (CSV / TSV / JSONL, pairs, multi-label), labels and their errors."""

import json

import numpy as np
import pytest

from bert_keras.data.classification import (
    class_weights,
    label_targets,
    label_vocabulary,
    parse_class_weights,
    read_classification_file,
)
from bert_keras.data.labels import LabelVocabulary
from bert_keras.errors import InputFileError, InvalidInputError, UnknownLabelError


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_with_quoted_multiline_text(tmp_path):
    path = _write(tmp_path / "d.csv", 'text,label\n"first, with comma",pos\n"two\nlines",neg\n')
    examples = read_classification_file(path)
    assert examples.texts == ["first, with comma", "two\nlines"]
    assert examples.labels == ["pos", "neg"]
    assert examples.lines == [2, 3]


def test_tsv_sentence_pairs(tmp_path):
    path = _write(tmp_path / "d.tsv", "premise\thypothesis\tgold\nA man sleeps.\tA person rests.\tentailment\n")
    examples = read_classification_file(path, text_column="premise", text_pair_column="hypothesis",
                                        label_column="gold")
    assert examples.text_pairs == ["A person rests."]
    assert examples.labels == ["entailment"]


def test_jsonl_multi_label_and_csv_multi_label(tmp_path):
    path = _write(tmp_path / "d.jsonl", json.dumps({"text": "a", "label": ["x", "y"]}) + "\n\n"
                  + json.dumps({"text": "b", "label": []}) + "\n")
    examples = read_classification_file(path, multi_label=True)
    assert examples.labels == [["x", "y"], []]
    labels = label_vocabulary(examples, multi_label=True)
    np.testing.assert_array_equal(label_targets(examples, labels, multi_label=True), [[1, 1], [0, 0]])
    csv_path = _write(tmp_path / "m.csv", "text,label\nq,\"x, z\"\n")
    assert read_classification_file(csv_path, multi_label=True).labels == [["x", "z"]]


def test_numeric_labels_keep_numeric_order():
    assert LabelVocabulary.from_labels(["10", "2", "1"]).names == ["1", "2", "10"]


def test_labels_round_trip(tmp_path):
    labels = LabelVocabulary(["neg", "pos"])
    labels.save(str(tmp_path))
    assert LabelVocabulary.load(str(tmp_path)) == labels


@pytest.mark.parametrize("text, message", [
    ("neg\npos\nneg\n", r"labels.txt:3: label 'neg' appears twice \(first on line 1\)"),
    ("neg\n\npos\n", r"labels.txt:2: empty label"),
    ("neg\n  \npos\n", r"labels.txt:2: empty label"),
])
def test_a_bad_labels_file_names_its_line(tmp_path, text, message):
    (tmp_path / "labels.txt").write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError, match=message):
        LabelVocabulary.load(str(tmp_path))


def test_unknown_label_in_eval_data_names_file_and_line(tmp_path):
    labels = LabelVocabulary(["neg", "pos"])
    path = _write(tmp_path / "eval.csv", "text,label\na,pos\nb,neutral\n")
    with pytest.raises(UnknownLabelError, match=r"eval.csv:3: label 'neutral' is not one of the model's labels"):
        label_targets(read_classification_file(path), labels)


@pytest.mark.parametrize("name, text, kwargs, message", [
    ("empty.csv", "", {}, r"empty.csv: empty file"),
    ("header.csv", "text,label\n", {}, r"header.csv: no examples"),
    ("cols.csv", "review,label\nx,pos\n", {}, r"cols.csv:2: no column 'text' \(text column\); the columns are "
                                             r"\['review', 'label'\]"),
    ("nolabel.csv", "text\nx\n", {}, r"nolabel.csv:2: no column 'label'"),
    ("fields.csv", "text,label\nx,pos,extra\n", {}, r"fields.csv:2: row has 3 fields, the header has 2"),
    ("bad.jsonl", '{"text": "a", "label": "x"}\n{"text": \n', {}, r"bad.jsonl:2:10: not valid JSON: Expecting value"),
    ("list.jsonl", '["a", "b"]\n', {}, r"list.jsonl:1: expected a JSON object"),
    ("blank.csv", "text,label\nx, \n", {}, r"blank.csv:2: label column 'label' must hold one label name"),
    ("data.txt", "x", {}, r"cannot tell the format from the extension '.txt'"),
    ("twice.csv", "text,label,text\nx,pos,y\n", {}, r"twice.csv:1: column 'text' appears twice in the header"),
    ("twice.tsv", "text\tlabel\tlabel\nx\tpos\tneg\n", {},
     r"twice.tsv:1: column 'label' appears twice in the header"),
    ("listtext.jsonl", '{"text": "a", "label": "x"}\n{"text": ["b", "c"], "label": "y"}\n', {},
     r"listtext.jsonl:2: column 'text' \(text column\) must hold a string, got list \['b', 'c'\]"),
    ("pairtext.jsonl", '{"text": "a", "b": {"x": 1}, "label": "x"}\n', {"text_pair_column": "b"},
     r"pairtext.jsonl:1: column 'b' \(text pair column\) must hold a string, got dict"),
    ("boollabel.jsonl", '{"text": "a", "label": "x"}\n\n{"text": "b", "label": true}\n', {},
     r"boollabel.jsonl:3: label column 'label' must hold one label name, got True"),
    ("dictlabels.jsonl", '{"text": "a", "label": {"x": 1}}\n', {"multi_label": True},
     r"dictlabels.jsonl:1: label column 'label' must hold label names \(a list or a string\), got dict"),
    ("nested.jsonl", '{"text": "a", "label": ["x", ["y"]]}\n', {"multi_label": True},
     r"nested.jsonl:1: label column 'label' must hold label names \(a list or a string\), got list item \['y'\]"),
])
def test_bad_files_name_the_problem(tmp_path, name, text, kwargs, message):
    path = _write(tmp_path / name, text)
    with pytest.raises(InvalidInputError, match=message):  # InputFileError but for the unknown format
        read_classification_file(path, **kwargs)


def test_a_file_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\nfine,pos\ncaf\xe9,neg\n".encode("latin-1"))
    with pytest.raises(InputFileError, match=r"latin1\.csv:3: not UTF-8 \(byte 0xe9 at offset 23\)"):
        read_classification_file(str(path))


def test_unlabelled_data_for_prediction(tmp_path):
    path = _write(tmp_path / "p.csv", "text\nhello\n")
    assert read_classification_file(path, require_labels=False).labels is None


def test_class_weights_balanced_and_explicit():
    labels = LabelVocabulary(["a", "b"])
    targets = np.array([0, 0, 0, 1])
    np.testing.assert_allclose(class_weights(targets, 2, "balanced", labels), [4 / 6, 4 / 2])
    np.testing.assert_allclose(class_weights(targets, 2, "b=3", labels), [1, 3])
    with pytest.raises(ValueError, match="bad item 'b'"):
        parse_class_weights("a=1,b")
    with pytest.raises(UnknownLabelError, match="class weights: label 'c'"):
        class_weights(targets, 2, {"c": 2.0}, labels)
