"""How a benchmark's figures come out: an aligned table on stdout and a JSON file (out/benchmarks/NAME.json)."""

from __future__ import annotations

import json
import os

from bert_keras.atomic_io import write_text

FIGURES_DIR = os.path.join("out", "benchmarks")


def _formatted(value):
    if abs(value) >= 10:
        return f"{value:,.2f}"
    if value == 0 or abs(value) >= 1e-3:
        return f"{value:.4f}"  # accuracies and ratios: 4 places
    return f"{value:.2e}"  # differences between implementations


def print_table(name: str, results: dict) -> None:
    """Print a benchmark's figures as aligned `key  value` lines (a list of floats, e.g. one per seed, on one)."""
    print(f"== {name}")
    for key, value in results.items():
        if isinstance(value, float):
            value = _formatted(value)
        elif isinstance(value, list) and value and all(isinstance(v, float) for v in value):
            value = ", ".join(_formatted(v) for v in value)
        print(f"  {key:32s} {value}")


def write_figures(name: str, results: dict, path: str | None = None) -> str:
    """Write `results` as JSON to `path` (default FIGURES_DIR/NAME.json), atomically; returns the path."""
    path = path or os.path.join(FIGURES_DIR, f"{name}.json")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    write_text(path, json.dumps(results, indent=2) + "\n")
    return path
