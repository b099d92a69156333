"""Heavy checks that need tools CI does not build (llama.cpp compiled from source): collected only with
DESKTOP_SAE_HEAVY=1, never skipped (CI fails a skip), so a plain ``pytest`` does not see them at all."""

import os

collect_ignore_glob = [] if os.environ.get("DESKTOP_SAE_HEAVY") == "1" else ["test_*.py"]
