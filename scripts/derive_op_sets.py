"""Derive the op sets of TF Serving 2.12 (TensorFlow 2.12.1 core + tensorflow-text 2.12.1) for the export op check.

TF Serving 2.12-2.19 is built on TensorFlow >= 2.12 and bundles tf-text 2.12.1, so an export whose ops all lie in
these two sets loads there. The sets are read from the released wheels without importing them (they do not load
into a newer TensorFlow):
- TensorFlow core: the op names passed to `_apply_op_helper` in the generated `gen_*_ops.py` wrappers.
- tf-text: the names of today's tf-text ops that appear in the 2.12.1 kernels' `.so` files (REGISTER_OP strings).

    .venv/bin/python scripts/derive_op_sets.py      # rewrites bert_keras/export/op_sets/*.txt
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, os.pardir, "bert_keras", "export", "op_sets")
WHEELS = {"tensorflow-cpu==2.12.1": "tf_2_12_1_ops.txt", "tensorflow-text==2.12.1": "tf_text_2_12_1_ops.txt"}
_OP_HELPER = re.compile(r'_apply_op_helper\(\s*"([^"]+)"')


def download(requirement: str, directory: str) -> str:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", requirement, "-d", directory],
                   check=True)
    name = requirement.split("==")[0].replace("-", "_")
    return glob.glob(os.path.join(directory, f"{name}-*.whl"))[0]


def tensorflow_ops(wheel: str) -> set[str]:
    ops = set()
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if re.search(r"tensorflow/python/.*gen_[^/]*\.py$", member):
                ops.update(_OP_HELPER.findall(archive.read(member).decode("utf-8")))
    return ops


def tf_text_ops(wheel: str) -> set[str]:
    """Today's tf-text op names (registered on import) that the old wheel's kernels also register."""
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session

    def registered() -> set[str]:
        ops = op_def_pb2.OpList()
        ops.ParseFromString(pywrap_tf_session.TF_GetBuffer(pywrap_tf_session.TF_GetAllOpList()))
        return {op.name for op in ops.op}

    before = registered()
    import tensorflow_text  # noqa: F401

    current = registered() - before
    with zipfile.ZipFile(wheel) as archive:
        blobs = b"".join(archive.read(m) for m in archive.namelist() if m.endswith(".so"))
    return {op for op in current if op.encode() + b"\x00" in blobs}


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for requirement, filename in WHEELS.items():
            wheel = download(requirement, tmp)
            ops = tensorflow_ops(wheel) if requirement.startswith("tensorflow-cpu") else tf_text_ops(wheel)
            with open(os.path.join(OUT, filename), "w", encoding="utf-8") as f:
                f.write(f"# ops registered by {requirement} (scripts/derive_op_sets.py)\n")
                f.write("".join(op + "\n" for op in sorted(ops)))
            print(f"{requirement}: {len(ops)} ops -> {filename}")


if __name__ == "__main__":
    main()
