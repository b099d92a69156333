#!/usr/bin/env bash
# System packages CI needs, installed only when missing (Debian/Ubuntu, as root): the shared libraries Qt's
# offscreen platform needs, the validators tests/test_desktop_files.py runs on packaging/linux/, and Xvfb with xauth
# for tests/test_diagnostics.py's real X server. With these, only the CUDA tests skip on a fresh machine.
set -euo pipefail
need=()
for lib in libEGL.so.1 libGL.so.1 libfontconfig.so.1 libxkbcommon.so.0 libdbus-1.so.3 libglib-2.0.so.0; do
  ldconfig -p | grep -q "$lib" || need+=("$lib")
done
pkgs=()
[ ${#need[@]} -eq 0 ] || pkgs+=(libegl1 libgl1 libfontconfig1 libxkbcommon0 libdbus-1-3 libglib2.0-0)
command -v desktop-file-validate >/dev/null || pkgs+=(desktop-file-utils)
command -v appstreamcli >/dev/null || pkgs+=(appstream)
command -v Xvfb >/dev/null || pkgs+=(xvfb)
command -v xauth >/dev/null || pkgs+=(xauth)
[ ${#pkgs[@]} -eq 0 ] && exit 0
echo "installing system packages: ${pkgs[*]}"
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
else
  echo "warning: missing ${pkgs[*]}; install them with your package manager" >&2
fi
