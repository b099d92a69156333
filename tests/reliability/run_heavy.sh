#!/usr/bin/env bash
# The reliability suite under the heavy profile: >= 10 000 fuzz cases per target, 100 random SIGKILLs per writer, and
# the soak on the bundled model (120 generations of up to 200 tokens). Writes its results files to
# $DESKTOP_SAE_RELIABILITY_RESULTS (default docs/results/reliability): heavy_profile.json and soak_real_model.json.
# Usage: tests/reliability/run_heavy.sh [extra pytest arguments]   (from anywhere; uses $PYTHON or python)
set -euo pipefail
cd "$(dirname "$0")/../.."
export DESKTOP_SAE_FUZZ=heavy QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
export DESKTOP_SAE_RELIABILITY_RESULTS="${DESKTOP_SAE_RELIABILITY_RESULTS:-docs/results/reliability}"
export DESKTOP_SAE_RELIABILITY_COMMAND="tests/reliability/run_heavy.sh${*:+ $*}"
exec "${PYTHON:-python}" -m pytest tests/reliability -q -p no:cacheprovider --durations=15 "$@"
