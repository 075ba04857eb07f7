"""bert_keras.json_files: the one JSON reader; positions checked by hand against the bytes written."""

import pytest

from bert_keras.errors import BertKerasError, InputFileError
from bert_keras.json_files import parse_json, read_json


def test_bad_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{\n  "a": 1,\n  "b": 2,,\n}\n', encoding="utf-8")  # the second comma: line 3, column 10
    with pytest.raises(InputFileError) as caught:
        read_json(path)
    assert str(caught.value).startswith(f"{path}:3:10: not valid JSON: ")
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, BertKerasError)


def test_line_offset_gives_the_line_of_a_json_lines_record():
    with pytest.raises(InputFileError, match=r"^data.jsonl:7:7: not valid JSON"):
        parse_json('{"a": }', "data.jsonl", line_offset=6)  # the value is missing at column 7


@pytest.mark.parametrize("expect, text, message", [
    (dict, "[1, 2]", "expected a JSON object, got list"),
    (list, '{"a": 1}', "expected a JSON array, got dict"),
])
def test_wrong_top_level_type_is_refused(expect, text, message):
    with pytest.raises(InputFileError, match=message):
        parse_json(text, "TF_CONFIG", expect=expect)


def test_not_utf8_names_the_line_and_byte(tmp_path):
    path = tmp_path / "task.json"
    path.write_bytes(b'{\n"a": "caf\xe9"}\n')  # Latin-1 e-acute on line 2, byte offset 11
    with pytest.raises(InputFileError, match=r":2: not UTF-8 \(byte 0xe9 at offset 11\)"):
        read_json(path)


def test_deep_nesting_is_a_clear_error_not_a_recursion_crash():
    with pytest.raises(InputFileError, match="nested too deeply"):
        parse_json("[" * 100_000 + "]" * 100_000, "body")


def test_valid_documents_come_back_as_parsed():
    assert parse_json('{"a": [1, 2.5, null, "\\u00e9"]}', "x") == {"a": [1, 2.5, None, "é"]}
    assert parse_json(b"[]", "x", expect=list) == []
