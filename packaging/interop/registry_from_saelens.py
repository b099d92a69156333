"""Read the SAE registry of a real installed sae-lens the way the app does, and write what it holds.

    PYTHONPATH=. .venv/bin/python packaging/interop/registry_from_saelens.py \
        --site /tmp/saelens-venv/lib/python3.11/site-packages --json docs/results/interop/saelens_registry.json

``--site`` is appended to ``sys.path`` (after this venv's own packages), so the app's locator finds ``sae_lens``
there with ``importlib.util.find_spec`` — sae_lens is never imported. Times are medians of ``--repeats`` runs: the
YAML parse alone (no cache), a load through the app's cache when the cache is cold (parse + cache write) and when it
is warm. The results file feeds tests/test_sae_registry.py, which CI runs without sae-lens.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

FAMILIES = {"gemma_scope_2": "gemma-scope-2-", "qwen_scope": "qwen-scope-", "llama_scope": "llama_scope"}


def _timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", required=True, help="the site-packages folder holding sae_lens/")
    ap.add_argument("--json", required=True, help="results file to write")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from desktop_sae.core.support.results_file import load_average, write_results

    load_before = load_average()
    sys.path.append(str(Path(args.site).resolve()))
    os.environ.pop("DESKTOP_SAE_SAELENS_DIRECTORY", None)
    cache = tempfile.mkdtemp(prefix="registry-cache-")
    os.environ["DESKTOP_SAE_CACHE_DIR"] = cache
    os.environ["DESKTOP_SAE_DATA_DIR"] = tempfile.mkdtemp(prefix="registry-data-")

    from desktop_sae.core.assets.directory_files import find_installed_saelens, read_yaml_cached
    from desktop_sae.core.assets.sae_directory import DirectorySource, load_sae_directory, parse_directory_data

    installed = find_installed_saelens()
    if installed is None:
        print(f"no sae_lens/pretrained_saes.yaml under {args.site}", file=sys.stderr)
        return 1
    assert "sae_lens" not in sys.modules, "the locator imported sae_lens"
    parse_s, data = _timed(lambda: read_yaml_cached(installed.yaml_path, use_cache=False), args.repeats)
    build_s, _ = _timed(lambda: parse_directory_data(data, str(installed.yaml_path), DirectorySource.SAELENS),
                        args.repeats)
    cold = []
    for _ in range(args.repeats):
        for f in Path(cache).glob("sae_directory/*.json"):
            f.unlink()
        cold.append(_timed(load_sae_directory, 1)[0])
    warm_s, directory = _timed(load_sae_directory, args.repeats)
    rels = [r for r in directory.releases.values() if r.source is DirectorySource.SAELENS]
    saes = [s for r in rels for s in r.saes]
    families = {k: sorted(r.name for r in rels if r.name.startswith(prefix)) for k, prefix in FAMILIES.items()}
    summary = {
        "sae_lens_version": installed.version, "file": str(installed.yaml_path),
        "file_bytes": installed.yaml_path.stat().st_size, "releases": len(rels), "saes": len(saes),
        "saes_with_neuronpedia_id": sum(s.neuronpedia is not None for s in saes),
        "saes_with_hook": sum(s.hook is not None for s in saes),
        "saes_with_d_sae": sum(s.d_sae is not None for s in saes),
        "saes_pickled": sum(s.pickled for s in saes),
        "parse_seconds_median": round(parse_s, 4), "build_seconds_median": round(build_s, 4),
        "cold_load_seconds_median": round(statistics.median(cold), 4),
        "cached_load_seconds_median": round(warm_s, 4),
        "families": {k: len(v) for k, v in families.items()},
    }
    write_results(args.json, {
        "what": "the SAE registry of an installed sae-lens, read by core/assets/sae_directory.py without importing "
                "sae_lens; times are medians of `repeats` runs: parse = the YAML (libyaml's safe loader) alone, "
                "build = our releases from the parsed data, cold load = load_sae_directory() with an empty cache "
                "(parse + cache write + build), cached load = load_sae_directory() with the cache in place",
        "repeats": args.repeats, "summary": summary, "families": families,
        "conversion_funcs": dict(Counter(r.conversion_func or "none (SAELens format)" for r in rels).most_common()),
        "hooks": dict(Counter((s.hook or "?").split(".", 2)[-1] for s in saes).most_common()),
    }, load_before=load_before, command=sys.argv)
    print(f"{args.json}: sae-lens {installed.version}, {len(rels)} releases, {len(saes)} SAEs; parse "
          f"{parse_s:.3f} s, cached load {warm_s:.3f} s (medians of {args.repeats})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
