"""The export/serving contract: TF Serving's names as TensorFlow defines them, in a module free of TensorFlow."""

import ast
import sys

import tensorflow as tf

import bert_keras.serving_contract as contract


def test_tf_servings_names_are_tensorflows_own():
    assert contract.SERVE_TAG == tf.saved_model.SERVING
    assert contract.DEFAULT_SIGNATURE == tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
    assert (contract.PREDICT_METHOD, contract.CLASSIFY_METHOD, contract.REGRESS_METHOD) == (
        tf.saved_model.PREDICT_METHOD_NAME, tf.saved_model.CLASSIFY_METHOD_NAME, tf.saved_model.REGRESS_METHOD_NAME)
    assert (contract.CLASSIFY_INPUTS, contract.CLASSIFY_OUTPUT_CLASSES, contract.CLASSIFY_OUTPUT_SCORES) == (
        tf.saved_model.CLASSIFY_INPUTS, tf.saved_model.CLASSIFY_OUTPUT_CLASSES, tf.saved_model.CLASSIFY_OUTPUT_SCORES)
    assert (contract.REGRESS_INPUTS, contract.REGRESS_OUTPUTS) == (tf.saved_model.REGRESS_INPUTS,
                                                                   tf.saved_model.REGRESS_OUTPUTS)


def test_the_contract_imports_only_the_standard_library():
    with open(contract.__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported and imported <= set(sys.stdlib_module_names) | {"__future__"}
