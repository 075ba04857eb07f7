"""Which servable a version directory needs: an OpenVINO export (it has the manifest) or a SavedModel."""

from __future__ import annotations

import os

from bert_keras.serving.servable import Servable
from bert_keras.serving_contract import OPENVINO_MANIFEST


def open_servable(name: str, version: int, path: str) -> Servable:
    """Load the version at `path`: an `OpenVinoServable` if it has `openvino_signatures.json`, else a `Servable`."""
    if os.path.isfile(os.path.join(path, OPENVINO_MANIFEST)):
        from bert_keras.serving.openvino_servable import OpenVinoServable  # imports openvino: only when needed

        return OpenVinoServable(name, version, path)
    return Servable(name, version, path)
