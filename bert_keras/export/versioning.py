"""TF Serving's model layout `<base>/<name>/<version>/`, each version written atomically.

TF Serving polls the model directory and loads any new numeric subdirectory as soon as it appears, so a version is
built under a hidden non-numeric name beside it and renamed to its number only when complete (serving#207, #1086).
A crash leaves at most a hidden `.partial-*` directory, never a numeric one.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Iterator

from bert_keras.atomic_io import atomic_directory
from bert_keras.errors import InvalidInputError, OutputExistsError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def model_versions(model_dir: str) -> list[int]:
    """The numeric version subdirectories of `model_dir`, ascending (none if it does not exist)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(name) for name in os.listdir(model_dir)
                  if name.isdigit() and os.path.isdir(os.path.join(model_dir, name)))


def check_model_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise InvalidInputError(f"model name {name!r} is not valid: use letters, digits, '.', '_' or '-' (no '/')")
    return name


@contextlib.contextmanager
def new_version(base_path: str, name: str, version: int | None = None) -> Iterator[tuple[str, int]]:
    """Yield (staging directory, version) for `<base_path>/<name>/<version>`; renamed into place on success.

    `version` defaults to one past the highest existing version (1 for a new model); an existing version is
    never overwritten (TF Serving may be serving it).
    """
    model_dir = os.path.join(os.path.abspath(base_path), check_model_name(name))
    existing = model_versions(model_dir)
    if version is None:
        version = existing[-1] + 1 if existing else 1
    if not isinstance(version, int) or version < 1:
        raise InvalidInputError(f"version must be a positive integer, got {version!r}")
    if version in existing:
        raise OutputExistsError(f"{os.path.join(model_dir, str(version))} already exists; TF Serving may be "
                                "serving it: choose another --version (default: the next number)")
    with atomic_directory(os.path.join(model_dir, str(version))) as staging:
        yield staging, version
