"""Benchmark: our TopK trainer vs SAELens's TopK trainer on the same stored activations (fp32, CPU).

Both train 576 -> 4608, k=32, batch 4096 on the first --tokens rows of an ActivationStore, then are scored on the
same held-out rows (the store's last --eval rows). SAELens runs in its own virtual environment (not a project
dependency): python -m venv V; V/bin/pip install sae-lens.

  python tests/bench/bench_trainer.py --store work_data/default/acts_L12 --saelens-python V/bin/python \
      --tokens 204800 --collect

writes docs/results/corpus/bench_trainer.json (``--json`` elsewhere). ``--smoke``: a few seconds on synthetic
activations, ours only (plus one batch of collection). ``--summarise FILE`` adds the summary and meta block to a
results file written before they existed (a bare list of rows), from its own rows.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import _bench
import numpy as np
import torch
from _store_rows import ordinary_ev, store_rows

DEFAULT = _bench.ROOT / "docs" / "results" / "corpus" / "bench_trainer.json"


def _batches(store_dir: str, n: int, bs: int, seed: int = 0):
    x = store_rows(store_dir, 0, n)
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    for i in range(n // bs):
        yield x[perm[i * bs : (i + 1) * bs]]


def run_ours(a) -> dict:
    from desktop_sae.core.training.activation_store import ActivationStore
    from desktop_sae.core.training.trainer import TopKTrainer, TrainConfig

    torch.set_num_threads(a.threads)
    cfg = TrainConfig(d_sae=a.width, k=a.k, batch_size=a.batch, total_tokens=a.tokens, lr_decay_frac=0.0,
                      select_dtype=a.select_dtype)
    store = ActivationStore(a.store)
    tr = TopKTrainer(store.d, cfg)
    tr.init_from_sample(store_rows(a.store, 0, 20_000))
    batches = list(_batches(a.store, a.tokens, a.batch))
    t0 = time.perf_counter()
    for x in batches:
        tr.step(x)
    dt = time.perf_counter() - t0
    sae = tr.to_sae()
    xe = store_rows(a.store, store.n_tokens - a.eval, store.n_tokens)
    with torch.no_grad():
        recon, _ = sae(xe)
    return {"impl": f"ours ({a.select_dtype} top-k selection)", "tokens": len(batches) * a.batch, "seconds": dt,
            "tokens_per_s": len(batches) * a.batch / dt, "explained_variance": ordinary_ev(xe, recon)}


def run_saelens(a) -> dict:
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    torch.set_num_threads(a.threads)
    meta = json.loads((Path(a.store) / "meta.json").read_text())
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=meta["d"], d_sae=a.width, k=a.k, dtype="float32", device="cpu",
                                                normalize_activations="expected_average_only_in",
                                                use_sparse_activations=a.saelens_sparse))
    batches = list(_batches(a.store, a.tokens, a.batch))
    it = itertools.cycle(batches)
    cfg = SAETrainerConfig(total_training_samples=len(batches) * a.batch, train_batch_size_samples=a.batch,
                           lr=2e-4 / (a.width / 16384) ** 0.5, lr_end=2e-4 / (a.width / 16384) ** 0.5, device="cpu",
                           n_batches_for_norm_estimate=4)
    trainer = SAETrainer(cfg, sae, it)
    t0 = time.perf_counter()
    trainer.fit()
    dt = time.perf_counter() - t0
    xe = store_rows(a.store, int(meta["n_tokens"]) - a.eval, int(meta["n_tokens"]))
    with torch.no_grad():
        recon = sae.decode(sae.encode(xe))
    return {"impl": f"SAELens TopKTrainingSAE (use_sparse_activations={a.saelens_sparse})",
            "tokens": len(batches) * a.batch, "seconds": dt, "tokens_per_s": len(batches) * a.batch / dt,
            "explained_variance": ordinary_ev(xe, recon)}


def run_collect_speed(a) -> dict:
    """Activation collection tokens/s on the bundled model (batch 16 x 128), forward stopped after the hook layer,
    against a full forward pass in the same run."""
    import tempfile

    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.training.activation_store import collect

    torch.set_num_threads(a.threads)
    lm = load_model()
    rng = np.random.default_rng(0)
    ctx = rng.integers(100, 40_000, size=(16 * a.collect_batches, 128)).astype(np.int32)
    ctx[:, 0] = lm.tokenizer.bos_token_id
    with tempfile.TemporaryDirectory() as tmp:
        collect(lm.model, ctx[:16], a.hook, Path(tmp) / "warm", bos_id=int(ctx[0, 0]))
        t0 = time.perf_counter()
        st = collect(lm.model, ctx, a.hook, Path(tmp) / "s", bos_id=int(ctx[0, 0]), batch_size=16)
        dt = time.perf_counter() - t0
    with torch.inference_mode():
        t1 = time.perf_counter()
        for i in range(0, len(ctx), 16):
            lm.model(input_ids=torch.from_numpy(ctx[i : i + 16].astype(np.int64)), use_cache=False)
        full = time.perf_counter() - t1
    n = st.n_tokens
    return {"impl": f"collect {a.hook} (stopped forward, fp32)", "tokens": n, "seconds": dt, "tokens_per_s": n / dt,
            "full_forward_tokens_per_s": n / full, "speedup_vs_full_forward": full / dt}


def summarise(results: list[dict]) -> dict:
    """Each trainer's tokens/s and explained variance, and the collection speed, as the docs would quote them."""
    out: dict = {"statistic": "one run each, in the same process"}
    for r in results:
        impl = r["impl"]
        key = ("ours_" + impl.split("(")[1].split()[0] if impl.startswith("ours") else
               "saelens" + ("_sparse" if "True" in impl else "") if impl.startswith("SAELens") else "collect")
        row = {"tokens_per_s": round(r["tokens_per_s"])}
        if "explained_variance" in r:
            row["explained_variance"] = round(r["explained_variance"], 3)
        if r.get("speed_vs_saelens_default"):
            row["speed_vs_saelens_default"] = round(r["speed_vs_saelens_default"], 2)
        if "speedup_vs_full_forward" in r:
            row["speedup_vs_full_forward"] = round(r["speedup_vs_full_forward"], 2)
        out[key] = row
    return out


def resummarise(path: Path) -> None:
    """Turn an old results file (a list of rows) into {meta, summary, results}; its meta is the commit's date."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(rows, dict):
        meta, rows = rows["meta"], rows["results"]
    else:
        meta = _bench.commit_meta(path, ["packaging/corpus/results/bench_trainer.json"],
                                  "measured before results files carried a meta block: the date is that of the "
                                  "commit that added the file (then packaging/corpus/results/bench_trainer.json); "
                                  "the machine, load, versions and "
                                  "exact command were not recorded")
    rec = {"meta": meta, "summary": summarise(rows), "results": rows}
    path.write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def synthetic_store(folder: Path, rows: int, d: int = 576) -> str:
    """A store of random heavy-tailed activations (the smoke run: no model, no corpus needed)."""
    from desktop_sae.core.training.activation_store import ActivationStore

    st = ActivationStore.create(folder, d, rows, np.zeros((1, 2), dtype=np.int32))
    g = np.random.default_rng(0)
    st.acts[:] = (g.standard_normal((rows, d)) * g.exponential(1.0, (rows, 1))).astype(np.float16)
    st.commit(n_tokens=rows, complete=True)
    return str(folder)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=None, help="an activation store (required unless --smoke)")
    ap.add_argument("--impl", default="both", choices=["ours", "saelens", "both"])
    ap.add_argument("--saelens-python", default="work_data/saelens-venv/bin/python")
    ap.add_argument("--saelens-sparse", action="store_true")
    ap.add_argument("--select-dtype", default="float32")
    ap.add_argument("--tokens", type=int, default=204_800)
    ap.add_argument("--eval", type=int, default=20_000)
    ap.add_argument("--width", type=int, default=4608)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    _bench.add_args(ap, DEFAULT)
    ap.add_argument("--summarise", default=None, metavar="FILE", help="only add summary and meta to an old file")
    ap.add_argument("--collect", action="store_true", help="also measure activation collection on the bundled model")
    ap.add_argument("--collect-batches", type=int, default=8)
    ap.add_argument("--hook", default="blocks.12.hook_resid_post")
    a = ap.parse_args(argv)
    if a.summarise:
        resummarise(Path(a.summarise))
        return 0
    if a.impl == "saelens":
        print(json.dumps(run_saelens(a)))
        return 0
    load_before = _bench.start()
    if a.smoke:
        import tempfile

        a.tokens, a.eval, a.width, a.batch, a.impl, a.collect_batches = 4096, 1024, 256, 1024, "ours", 1
        a.threads, a.collect = 1, True
        a.store = a.store or synthetic_store(Path(tempfile.mkdtemp(prefix="bench-trainer-")) / "acts", 20_000 + 1024)
    if not a.store:
        ap.error("--store is required (an activation store; see desktop_sae.core.training.activation_store)")
    results = [run_ours(a)]
    if a.impl == "both" and a.select_dtype == "float32":
        a.select_dtype = "bfloat16"
        results.append(run_ours(a))
        a.select_dtype = "float32"
    if a.impl == "both":
        args = [x for x in (argv or sys.argv[1:]) if x != "--collect"]
        for sparse in (False, True):
            cmd = [a.saelens_python, __file__, *args, "--impl", "saelens"] + (["--saelens-sparse"] if sparse else [])
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0 or not out.stdout.strip():
                print(f"SAELens run failed (rc {out.returncode}):", out.stderr[-3000:], file=sys.stderr)
                continue
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        sl = [r for r in results if r["impl"].startswith("SAELens") and "False" in r["impl"]]
        base = sl[0]["tokens_per_s"] if sl else None
        for r in results:
            r["speed_vs_saelens_default"] = r["tokens_per_s"] / base if base else None
    if a.collect:
        c = run_collect_speed(a)
        print(f"{c['impl']}: {c['tokens_per_s']:.0f} tok/s; full forward {c['full_forward_tokens_per_s']:.0f} tok/s")
        results.append(c)
    for r in results:
        if "explained_variance" not in r:
            continue
        print(f"{r['impl']:55s} {r['tokens_per_s']:8.0f} tok/s  EV {r['explained_variance']:.4f}  "
              f"x{r.get('speed_vs_saelens_default') or 0:.2f}")
    _bench.write(a, DEFAULT, summarise(results), {"results": results}, load_before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
