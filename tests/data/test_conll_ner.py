"""CoNLL reading and word -> WordPiece label alignment, against transformers' word_ids() on real WNUT-16 data."""

import numpy as np
import pytest

from bert_keras.assets import asset_path
from bert_keras.data.conll import TaggedSentence, read_conll, write_conll
from bert_keras.data.ner import NerFeatures, align_labels, ner_dataset, ner_features, tag_vocabulary, word_tags
from bert_keras.data.word_pieces import word_pieces
from bert_keras.errors import InputFileError


@pytest.fixture(scope="module")
def wnut():
    return read_conll(asset_path("wnut_ner"))


def test_wnut_reads_whole(wnut):
    assert len(wnut) == 2394
    assert sum(len(s.words) for s in wnut) == 46469
    assert tag_vocabulary(wnut).names[0] == "O"
    assert len(tag_vocabulary(wnut)) == 21  # O + B/I of 10 types


def test_alignment_by_hand_for_words_split_into_several_pieces():
    # word 0 -> 1 piece, word 1 -> 3 pieces, word 2 -> none (e.g. a control character), word 3 -> 2 pieces
    ids, labels, weights, starts = align_labels([[10], [11, 12, 13], [], [14, 15]], [1, 2, 0, 3], 16,
                                                cls_id=101, sep_id=102)
    assert ids == [101, 10, 11, 12, 13, 14, 15, 102]
    assert labels == [0, 1, 2, 0, 0, 3, 0, 0]
    assert weights == [0, 1, 1, 0, 0, 1, 0, 0]
    assert starts == [1, 2, -1, 5]


def test_truncation_drops_whole_words_and_everything_after():
    # 3 slots between [CLS] and [SEP]: word 1 (3 pieces) does not fit after word 0, and word 2, which would
    # fit alone, is dropped too so that the kept words stay contiguous
    ids, labels, weights, starts = align_labels([[10], [11, 12, 13], [14]], [1, 2, 3], 5, cls_id=101, sep_id=102)
    assert ids == [101, 10, 102] and starts == [1, -1, -1]
    ids, _, _, starts = align_labels([[10], [11, 12], [13]], [1, 2, 3], 5, cls_id=101, sep_id=102)
    assert ids == [101, 10, 11, 12, 102] and starts == [1, 2, -1]


def test_alignment_equals_transformers_word_ids_on_wnut(tokenizer, wnut, minilm_dir):
    from transformers import BertTokenizerFast

    reference = BertTokenizerFast(tokenizer_file=f"{minilm_dir}/tokenizer.json")
    labels = tag_vocabulary(wnut)
    sentences = wnut[:400]
    features = ner_features(sentences, tokenizer, 128, labels)
    split_words = 0
    for sentence, ids, label_row, weight_row in zip(sentences, features.token_ids, features.label_ids,
                                                    features.weights):
        encoding = reference(sentence.words, is_split_into_words=True, truncation=True, max_length=128)
        assert ids == encoding["input_ids"]
        expected_labels, expected_weights, previous = [], [], None
        for word in encoding.word_ids():
            first = word is not None and word != previous
            expected_labels.append(labels.id(sentence.tags[word]) if first else 0)
            expected_weights.append(1.0 if first else 0.0)
            split_words += word is not None and word == previous
            previous = word
        assert label_row == expected_labels
        assert weight_row == expected_weights
    assert split_words > 200  # the check covers many words split into several pieces


def test_word_tags_come_back_from_first_pieces(tokenizer):
    sentence = TaggedSentence(["Kaczynski", "visited", "Wroclaw"], ["B-person", "O", "B-geo-loc"], 1)
    labels = tag_vocabulary([sentence])
    features = ner_features([sentence], tokenizer, 32, labels)
    assert features.word_starts[0][1] - features.word_starts[0][0] > 1  # "Kaczynski" is several pieces
    # predict the gold label on first pieces and garbage elsewhere: words must come back exactly
    row = [len(labels) - 1] * len(features.token_ids[0])
    for start, tag in zip(features.word_starts[0], sentence.tags):
        row[start] = labels.id(tag)
    assert word_tags([row], features, labels) == [sentence.tags]


def test_conll_round_trip_and_docstart(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text("-DOCSTART- -X- O O\n\nEU NNP B-ORG\nrejects VBZ O\n\n\nPeter NNP B-PER\n", encoding="utf-8")
    sentences = read_conll(str(path))
    assert [(s.words, s.tags, s.line) for s in sentences] == [(["EU", "rejects"], ["B-ORG", "O"], 3),
                                                               (["Peter"], ["B-PER"], 7)]
    out = tmp_path / "out.conll"
    write_conll(str(out), sentences)
    assert [(s.words, s.tags) for s in read_conll(str(out))] == [(s.words, s.tags) for s in sentences]


@pytest.mark.parametrize("text, message", [
    ("EU\tB-ORG\nrejects\n", r"d.conll:2: expected a word and a tag separated by a tab or space, got 'rejects'"),
    ("EU\tB-ORG\nrejects\tX-ORG\n",
     r"d.conll:2: tag 'X-ORG' is not O or PREFIX-TYPE with a prefix among B, I, E, L, S, U, M"),
    ("", r"d.conll: no sentences"),
    ("\n\n", r"d.conll: no sentences"),
])
def test_malformed_conll_reports_file_and_line(tmp_path, text, message):
    path = tmp_path / "d.conll"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError, match=message):
        read_conll(str(path))


def test_a_given_scheme_refuses_the_tags_of_another(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text("上\tB-LOC\n海\tE-LOC\n\n", encoding="utf-8")
    assert [s.tags for s in read_conll(str(path), scheme="BMES")] == [["B-LOC", "E-LOC"]]
    with pytest.raises(InputFileError, match=r"d.conll:2: tag 'E-LOC' is not O or B/I-TYPE \(IOB2\)"):
        read_conll(str(path), scheme="BIO")


def test_a_conll_file_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "latin1.conll"
    path.write_bytes("EU\tB-ORG\n\ncaf\xe9\tO\n".encode("latin-1"))
    with pytest.raises(InputFileError, match=r"latin1\.conll:3: not UTF-8 \(byte 0xe9 at offset 13\)"):
        read_conll(str(path))


def test_unknown_tag_in_eval_data_names_the_sentence_line(tokenizer, tmp_path):
    labels = tag_vocabulary([TaggedSentence(["a"], ["B-PER"], 1)])
    assert labels.names == ["O", "B-PER", "I-PER"]  # closed under B-/I-: I-PER in new data is fine
    with pytest.raises(ValueError, match=r"eval.conll:4: label 'B-LOC' is not one of the model's labels"):
        ner_features([TaggedSentence(["Paris"], ["B-LOC"], 4)], tokenizer, 16, labels, source="eval.conll")


def test_unknown_tag_names_the_line_of_its_word(tokenizer, tmp_path):
    """Each word of a CoNLL sentence is one line: an unknown tag names its own word's line, not the sentence's."""
    path = tmp_path / "eval.conll"
    path.write_text("-DOCSTART- O\n\nJohn\tB-PER\nvisited\tO\nParis\tB-LOC\n", encoding="utf-8")
    labels = tag_vocabulary([TaggedSentence(["a"], ["B-PER"], 1)])
    with pytest.raises(ValueError, match=r"eval.conll:5: label 'B-LOC' is not one of the model's labels"):
        ner_features(read_conll(str(path)), tokenizer, 16, labels, source=str(path))


def test_ner_batches_padded_to_a_multiple_keep_every_row_and_pad_with_zeros(tokenizer, wnut):
    features = ner_features(wnut[:40], tokenizer, 48, labels=tag_vocabulary(wnut))
    plain = list(ner_dataset(features, batch_size=8))
    bucketed = list(ner_dataset(features, batch_size=8, pad_to_multiple_of=16, max_width=48))
    for (x, labels, weights), (bx, blabels, bweights) in zip(plain, bucketed):
        width, bucket_width = x["token_ids"].shape[1], bx["token_ids"].shape[1]
        assert bucket_width == min(-(-width // 16) * 16, 48)
        for plain_tensor, wide_tensor in ((x["token_ids"], bx["token_ids"]), (x["padding_mask"], bx["padding_mask"]),
                                          (labels, blabels), (weights, bweights)):
            np.testing.assert_array_equal(wide_tensor[:, :width], plain_tensor)
            assert not np.any(wide_tensor[:, width:])
    assert {b[0]["token_ids"].shape[1] for b in bucketed} <= {16, 32, 48}
    with pytest.raises(ValueError, match="max_width"):
        ner_dataset(NerFeatures([[101, 102]], [[0, 0]], [[0.0, 0.0]], [[]]), pad_to_multiple_of=8)


def test_tag_vocabulary_is_closed_under_the_files_scheme():
    """MSRA's BMES training file yields every B/M/E/S tag of its three types; WNUT's BIO file B- and I- tags."""
    from bert_keras.data.ner import tag_vocabulary

    msra = read_conll(asset_path("msra_train"))
    # wc -l counts 2,203,751 lines: one per character plus the blank line after each of the 50,289 sentences
    assert sum(len(s.words) for s in msra) == 2_203_751 - 50_289 and len(msra) == 50_289
    assert tag_vocabulary(msra).names == ["O"] + [f"{p}-{t}" for p in "BMES" for t in ("LOC", "ORG", "PER")]
    names = tag_vocabulary(read_conll(asset_path("wnut_ner"))).names
    assert {n[0] for n in names} == {"O", "B", "I"} and len(names) == 21


def _reference_features(sentences, tokenizer, max_seq_length, labels):
    """ner_features as one align_labels call per sentence (the per-word reference the arrays must equal)."""
    pieces = word_pieces(tokenizer, (w for s in sentences for w in s.words))
    rows = [align_labels([pieces[w] for w in s.words], [labels.id(t) for t in s.tags], max_seq_length,
                         tokenizer.cls_id, tokenizer.sep_id) for s in sentences]
    truncated = sum(1 for s, row in zip(sentences, rows) for start, w in zip(row[3], s.words)
                    if start < 0 and pieces[w])
    return [list(column) for column in zip(*rows)], truncated


@pytest.mark.parametrize("max_seq_length", [128, 12])
def test_array_features_equal_the_per_sentence_alignment_on_wnut_and_msra(tokenizer, wnut, max_seq_length):
    """The array implementation gives align_labels' rows on real English (pieces split, emoji without pieces) and
    Chinese (one character a word) sentences, including truncation at a small max_seq_length."""
    msra = read_conll(asset_path("msra_test"))[:300]
    cut = 0
    for sentences in (wnut[:600], msra, [TaggedSentence([], [], 1), *wnut[:3], TaggedSentence([], [], 9)]):
        labels = tag_vocabulary([s for s in sentences if s.words])
        features = ner_features(sentences, tokenizer, max_seq_length, labels)
        (ids, label_ids, weights, starts), truncated = _reference_features(sentences, tokenizer, max_seq_length,
                                                                           labels)
        assert features.token_ids == ids and features.label_ids == label_ids
        assert features.weights == weights and features.word_starts == starts
        assert features.truncated_words == truncated
        cut += truncated
    assert (cut > 0) == (max_seq_length == 12)  # the small length does cut words


def test_a_sentence_with_fewer_tags_than_words_names_its_line(tokenizer):
    labels = tag_vocabulary([TaggedSentence(["a"], ["B-PER"], 1)])
    with pytest.raises(InputFileError, match=r"x.conll:7: 2 words but 1 tags"):
        ner_features([TaggedSentence(["a", "b"], ["O"], 7)], tokenizer, 16, labels, source="x.conll")
