#!/usr/bin/env bash
# Regenerate requirements.lock from a venv where `pip install -e '.[vllm,dev]'` resolved.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pip freeze --exclude-editable \
    | grep -v -E '^(docflywheel|torchvision|torchaudio|torchcodec|triton)(==| @)' \
    | sed -E 's/^torch==([0-9.]+)\+cpu$/torch==\1/' > requirements.lock
echo "wrote requirements.lock ($(wc -l < requirements.lock) packages)"
