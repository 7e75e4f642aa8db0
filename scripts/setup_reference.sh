#!/usr/bin/env bash
# Makes the Python environment the reference scripts need (PyTorch, NumPy, safetensors, gguf)
# in .venv at the repository root. All packages come from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet torch numpy safetensors gguf
.venv/bin/python -c "import torch; print('torch', torch.__version__, 'threads', torch.get_num_threads())"
