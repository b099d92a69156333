#!/usr/bin/env bash
# The reliability suite under the heavy profile: >= 10 000 fuzz cases per target, 100 random SIGKILLs per writer.
# Usage: tests/reliability/run_heavy.sh [extra pytest arguments]   (from anywhere; uses $PYTHON or python)
set -euo pipefail
cd "$(dirname "$0")/../.."
export DESKTOP_SAE_FUZZ=heavy QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
exec "${PYTHON:-python}" -m pytest tests/reliability -q -p no:cacheprovider --durations=15 "$@"
