"""Exports for production: SavedModels for TF Serving (tokenization in the graph), TFLite models, and the OpenVINO
layout (the model run by OpenVINO, the same serving API)."""

from bert_keras.export.op_check import UnsupportedOpsError, check_saved_model_ops
from bert_keras.export.openvino import OpenVinoExport, export_openvino
from bert_keras.export.saved_model import SavedModelExport, export_saved_model
from bert_keras.export.sources import ExportSource, load_export_source
from bert_keras.export.tflite import TfliteExport, export_tflite, tflite_variants
from bert_keras.export.versioning import model_versions

__all__ = ["ExportSource", "OpenVinoExport", "SavedModelExport", "TfliteExport", "UnsupportedOpsError",
           "check_saved_model_ops", "export_openvino", "export_saved_model", "export_tflite", "load_export_source",
           "model_versions", "tflite_variants"]
