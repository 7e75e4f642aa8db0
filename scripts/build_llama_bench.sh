#!/usr/bin/env bash
# Builds llama.cpp's llama-bench and llama-quantize in a scratch folder outside the
# repository, for side-by-side speed runs on the same GGUF files (nothing of it is
# committed). The source is the one vendored by the PyPI source distribution of
# llama-cpp-python; cmake and ninja come from PyPI into the repo's .venv.
#
#   bash scripts/build_llama_bench.sh /tmp/llama-scratch
#   /tmp/llama-scratch/build/bin/llama-bench -m model.gguf -t 2 -p 128 -n 32 -r 5
#
# Takes about 5 minutes on 2 cores.
set -euo pipefail
out=${1:?usage: build_llama_bench.sh SCRATCH_DIR}
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
cd "$out"
if [ ! -x "$repo/.venv/bin/python" ]; then
    python3 -m venv "$repo/.venv"
fi
"$repo/.venv/bin/pip" install -q cmake ninja
export PATH="$repo/.venv/bin:$PATH"
if [ ! -d src ]; then
    # `pip download --no-binary :all:` would build the sdist's build dependencies from source
    # too; the sdist itself is all that is needed, so it is fetched by its PyPI address.
    url=$(python3 - <<'PY'
import json, urllib.request
meta = json.load(urllib.request.urlopen("https://pypi.org/pypi/llama-cpp-python/json"))
print(next(u["url"] for u in meta["urls"] if u["packagetype"] == "sdist"))
PY
)
    case "$url" in http*) ;; *) url="https://pypi.org/packages/${url#../../packages/packages/}" ;; esac
    curl -sSfL -o sdist.tar.gz "$url"
    mkdir src
    tar xzf sdist.tar.gz -C src --strip-components=1
fi
cmake -S src/vendor/llama.cpp -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF
cmake --build build --target llama-bench llama-quantize -j "$(nproc)"
echo "built: $out/build/bin/llama-bench, $out/build/bin/llama-quantize"
