"""One reader for every JSON file and string the package parses, with one message format for bad JSON.

A parse error becomes `InputFileError("<source>:<line>:<column>: not valid JSON: <reason>")`, and a document of the
wrong top-level type is refused naming what was expected, so no caller writes its own handler. Imports nothing
heavy (the server uses it too).
"""

from __future__ import annotations

import json
import os
from typing import Any

from bert_keras.errors import InputFileError


def parse_json(text: str | bytes, source: str, expect: type | None = None, line_offset: int = 0) -> Any:
    """Parse `text`; `source` names where it came from (a path, ``path:line`` prefix, an environment variable).

    Args:
        text: the JSON document.
        source: what to call it in the error message.
        expect: the required top-level type (`dict` or `list`), or None for any.
        line_offset: added to the reported line (for one line of a JSON Lines file, its line number - 1).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputFileError(f"{source}:{error.lineno + line_offset}:{error.colno}: not valid JSON: "
                             f"{error.msg}") from None
    except RecursionError:
        raise InputFileError(f"{source}: not valid JSON: nested too deeply") from None
    if expect is not None and not isinstance(data, expect):
        expected = {dict: "a JSON object", list: "a JSON array"}.get(expect, expect.__name__)
        raise InputFileError(f"{source}: expected {expected}, got {type(data).__name__}")
    return data


def read_json(path: str | os.PathLike, expect: type | None = dict) -> Any:
    """Read the JSON file at `path` (UTF-8), by default requiring an object at the top level."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise InputFileError(f"{path}:{line}: not UTF-8 (byte {raw[error.start]:#04x} at offset "
                             f"{error.start})") from None
    return parse_json(text, path, expect)
