#!/usr/bin/env bash
# Shared libraries Qt's offscreen platform needs; installed only when missing (Debian/Ubuntu, as root).
set -euo pipefail
need=()
for lib in libEGL.so.1 libGL.so.1 libfontconfig.so.1 libxkbcommon.so.0 libdbus-1.so.3 libglib-2.0.so.0; do
  ldconfig -p | grep -q "$lib" || need+=("$lib")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing system libraries for Qt: ${need[*]}"
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libegl1 libgl1 libfontconfig1 libxkbcommon0 libdbus-1-3 libglib2.0-0 >/dev/null
else
  echo "warning: missing ${need[*]}; install them with your package manager" >&2
fi
