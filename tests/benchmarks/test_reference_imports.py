"""Where the reference-side libraries may be imported, read from the source (AST, nothing imported): torch,
transformers, onnxruntime and openvino only in bert_keras/benchmarks/ (openvino also in the OpenVINO export
and its servable); the benchmarks share no private helpers
and never drive the CLI."""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(ROOT, "bert_keras")
BENCHMARKS = os.path.join(PACKAGE, "benchmarks")
REFERENCE_LIBRARIES = {"torch", "transformers", "onnxruntime", "openvino"}
# The exceptions, the same as pyproject.toml's import-linter contract: the optional reader of legacy
# pytorch_model.bin checkpoints, and the OpenVINO export target and its servable (MissingDependencyError without
# the package).
ALLOWED = {(os.path.join("bert_keras", "checkpoints", "hf.py"), "torch"),
           (os.path.join("bert_keras", "export", "openvino.py"), "openvino"),
           (os.path.join("bert_keras", "serving", "openvino_servable.py"), "openvino")}


def _modules(directory):
    for root, _, files in os.walk(directory):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as f:
                    yield os.path.relpath(path, ROOT), ast.parse(f.read(), path)


def _imports(tree):
    """(module name, imported names) of every import statement, absolute ones only."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, [alias.name for alias in node.names]


def test_reference_libraries_are_imported_only_in_the_benchmarks():
    found = []
    for path, tree in _modules(PACKAGE):
        if path.startswith(os.path.relpath(BENCHMARKS, ROOT) + os.sep):
            continue
        for module, _ in _imports(tree):
            top = module.partition(".")[0]
            if top in REFERENCE_LIBRARIES and (path, top) not in ALLOWED:
                found.append(f"{path}: import {module}")
    assert not found, found


def test_benchmarks_import_no_private_helper_and_not_the_cli():
    found = []
    for path, tree in _modules(BENCHMARKS):
        for module, names in _imports(tree):
            private = module.startswith("bert_keras") and any(n.startswith("_") for n in names)
            if module == "bert_keras.cli" or private:
                found.append(f"{path}: from {module} import {', '.join(names)}")
    assert not found, found


def test_benchmarks_import_the_package_at_module_level_only():
    found = []
    for path, tree in _modules(BENCHMARKS):
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found += [f"{path}:{function.name}: {module}" for module, _ in _imports(function)
                          if module.startswith("bert_keras")]
    assert not found, found
