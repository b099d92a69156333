#!/usr/bin/env bash
# Add Desktop SAE to your desktop's application menu (per user, under ~/.local/share):
#   bash packaging/linux/install-desktop-entry.sh [COMMAND]
# COMMAND: what the menu entry starts (default: dist/desktop-sae/desktop-sae if the bundle is built, else
# .venv/bin/desktop-sae, else desktop-sae on the PATH). Installs the .desktop file, the icons and the AppStream
# metadata; removing those files undoes it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
id=io.github.desktop_sae.DesktopSAE
cmd=${1:-}
if [ -z "$cmd" ]; then
  if [ -x "$root/dist/desktop-sae/desktop-sae" ]; then cmd=$root/dist/desktop-sae/desktop-sae
  elif [ -x "$root/.venv/bin/desktop-sae" ]; then cmd=$root/.venv/bin/desktop-sae
  else cmd=desktop-sae; fi
fi
share=${XDG_DATA_HOME:-$HOME/.local/share}
mkdir -p "$share/applications" "$share/metainfo" "$share/icons/hicolor/scalable/apps"
sed "s|^Exec=.*|Exec=\"$cmd\"|" "$root/packaging/linux/$id.desktop" > "$share/applications/$id.desktop"
cp "$root/packaging/linux/$id.metainfo.xml" "$share/metainfo/"
cp "$root/resources/icons/desktop-sae.svg" "$share/icons/hicolor/scalable/apps/$id.svg"
for size in 16 32 48 64 128 256; do
  mkdir -p "$share/icons/hicolor/${size}x${size}/apps"
  cp "$root/resources/icons/desktop-sae-$size.png" "$share/icons/hicolor/${size}x${size}/apps/$id.png"
done
command -v update-desktop-database >/dev/null && update-desktop-database -q "$share/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$share/icons/hicolor" || true
echo "installed $share/applications/$id.desktop (starts: $cmd)"
