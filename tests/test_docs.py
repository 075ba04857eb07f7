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


def docstring_examples() -> list[tuple[str, str]]:
    """(class name, code) of every ```python block in the docstrings of the public classes of `bert_keras`."""
    import bert_keras

    examples = []
    for name in bert_keras.__all__:
        value = getattr(bert_keras, name)
        if isinstance(value, type) and value.__doc__:
            for block in re.findall(r"```python\n(.*?)```", value.__doc__, flags=re.S):
                examples.append((name, "\n".join(line[4:] if line.startswith("    ") else line
                                                 for line in block.splitlines())))
    return examples


def test_every_public_class_has_a_runnable_example(tmp_path, monkeypatch):
    import keras
    import numpy as np
    import tensorflow as tf

    import bert_keras

    examples = docstring_examples()
    documented = {name for name, _ in examples}
    classes = {n for n in bert_keras.__all__ if isinstance(getattr(bert_keras, n), type)}
    assert classes - documented <= {"BertTransformerLayer", "MaskFill", "MaskedLMMasker"}, classes - documented
    monkeypatch.chdir(tmp_path)
    for name, code in examples:
        namespace = {"bert_keras": bert_keras, "keras": keras, "np": np, "tf": tf}
        try:
            exec(compile(code, f"{name} docstring example", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"{name}'s docstring example failed:\n{code}") from error
