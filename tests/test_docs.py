"""Every Python block of README.md and docs/PYTHON_API.md runs as written (one namespace per file, in order), so
the documented front door cannot rot."""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md", os.path.join("docs", "PYTHON_API.md")]


def python_blocks(path: str) -> list[str]:
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return re.findall(r"^```python\n(.*?)^```", f.read(), flags=re.S | re.M)


@pytest.mark.parametrize("path", DOCS)
def test_python_blocks_run(path, tmp_path, monkeypatch):
    blocks = python_blocks(path)
    assert blocks, f"{path} has no Python blocks"
    monkeypatch.chdir(tmp_path)  # exports and saved files land here
    namespace: dict = {"__name__": "__docs__"}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"{path} python block {number}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"{path}: Python block {number} failed:\n{block}") from error
