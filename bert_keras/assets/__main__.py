"""`python -m bert_keras.assets [name]`: print every asset's path, or one (for shell scripts)."""

from __future__ import annotations

import sys

from bert_keras.assets import ASSETS, EXTRACTED, asset_path


def main() -> None:
    """Print every asset's path, or only the path of the asset named as the argument (for shell scripts)."""
    if len(sys.argv) > 1:
        print(asset_path(sys.argv[1]))
        return
    for name in [*ASSETS, *EXTRACTED]:
        print(f"{name:15s} {asset_path(name)}")


main()
