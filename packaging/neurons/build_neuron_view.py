"""Precompute the neuron view: score every MLP neuron of one layer of the bundled model on the shipped text set,
pick the curated polysemantic neurons and write resources/neurons/neuron_view.json (see README.md here).

A neuron is a curation candidate when it is selective (at most 6 % of the texts reach half its peak) and the SAE
features on its top contexts' peak tokens split those contexts into at least 3 topic-pure groups (a feature that
fires on 2+ of the contexts, all of one topic) that together cover at least 8 of the K contexts. Candidates are
ranked by groups, then coverage, then selectivity; near-duplicates (the same set of topics) are skipped.

Usage: python packaging/neurons/build_neuron_view.py [--curated packaging/neurons/curated.json] [--layer 12]
       [--compare 6,8,10,12,14] [--count 6] [--pick N ...] [--note N=TEXT ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # this checkout's desktop_sae, not an installed one

from desktop_sae.core.classroom import neuron_data as nd  # noqa: E402
from desktop_sae.core.classroom import neurons as nn_  # noqa: E402

K, TOP_F, MAX_FEATURES, SELECTIVE = 12, 3, 12, 0.06


def why(layer: int, hook: str, table: dict) -> str:
    """The layer choice in words, with the screen's counts (the same-vector reason holds at the SAE's layer only)."""
    best = max(table, key=lambda L: table[L]["candidates"])
    if f"blocks.{layer}.hook_resid_post" != hook:
        return f"layer {layer} (chosen with --layer); the SAE reads at {hook}."
    text = (
        f"layer {layer}: its MLP's output is added into {hook}, the very vector the bundled SAE encodes, so a "
        "neuron and the features on its tokens describe the same activation. "
    )
    if int(best) == layer:
        return text + f"It also passes the screen most often ({table[best]['candidates']} neurons)."
    return text + (
        f"Layer {best} passes the screen more often ({table[best]['candidates']} neurons against "
        f"{table[str(layer)]['candidates']}) but its best examples are no clearer, so the same-vector "
        "reason decides."
    )


def sae_codes(session, acts, dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per token of the text set: the TOP_F strongest non-dense SAE features (ids, values)."""
    res = nn_.hook_activations(session, acts.ids)
    ids = np.zeros((len(acts.ordinary), TOP_F), np.int32)
    vals = np.zeros((len(acts.ordinary), TOP_F), np.float32)
    with torch.inference_mode():
        for i, x in enumerate(res):
            a = session.sae.encode(x).float().cpu().numpy()
            a[:, dense] = 0
            top = np.argsort(-a, axis=1)[:, :TOP_F]
            lo, hi = acts.offsets[i], acts.offsets[i + 1]
            ids[lo:hi], vals[lo:hi] = top, np.take_along_axis(a, top, 1)
    return ids, vals


def split(acts, peaks, n: int, codes) -> dict | None:
    """How the SAE features at a neuron's top-K peak tokens group its contexts by topic."""
    top = np.argsort(-peaks[:, n], kind="stable")[:K]
    if peaks[top[-1], n] <= 0:
        return None
    by_feature = defaultdict(list)
    for i in top:
        lo, hi = acts.offsets[i], acts.offsets[i + 1]
        col = np.where(acts.ordinary[lo:hi], acts.values[lo:hi, n].astype(np.float32), -np.inf)
        row = lo + int(np.argmax(col))
        for f, v in zip(codes[0][row], codes[1][row]):
            if v > 0:
                by_feature[int(f)].append(acts.topics[i])
    pure = {f: ts[0] for f, ts in by_feature.items() if len(ts) >= 2 and len(set(ts)) == 1}
    groups = set(pure.values())
    return {
        "groups": len(groups),
        "cover": sum(acts.topics[i] in groups for i in top),
        "pure": len(pure),
        "topics": frozenset(groups),
    }


def candidates(acts, codes) -> list[tuple]:
    peaks = acts.text_peaks()
    frac = (peaks > 0.5 * peaks.max(0)).mean(0)
    sel = np.sort(peaks, 0)[-K:].mean(0) / np.maximum(np.median(peaks, 0), 1e-3)
    out = []
    for n in np.nonzero(frac <= SELECTIVE)[0]:
        s = split(acts, peaks, int(n), codes)
        if s and s["groups"] >= 3 and s["cover"] >= 8:
            out.append((int(n), s, float(sel[n])))
    return sorted(out, key=lambda c: (-c[1]["groups"], -c[1]["cover"], -c[2]))


def curate(session, acts, n: int, dictionary, note: str | None) -> dict:
    contexts = acts.top_contexts(n, K)
    feats = nn_.features_at(
        session, contexts, top_per_context=TOP_F, labels=lambda f: dictionary.labels[f] if dictionary else ""
    )
    keep = nn_.select_features(feats, len(contexts), MAX_FEATURES)
    ctx = [nd.context_dict(c) for c in contexts]
    topics = [c.topic for c in contexts]
    return {
        "neuron": n,
        "description": nd.describe_topics(topics),
        "note": note or "",
        "peak_tokens": nd.peak_summary(ctx),
        "polysemanticity": nn_.polysemanticity(contexts),
        "topics": [t for t, _ in Counter(topics).most_common()],
        "split": {
            "features_shared": sum(1 for h in keep if h.count >= 2),
            "topic_pure": sum(1 for h in keep if h.count >= 2 and len(h.topics) == 1),
        },
        "contexts": ctx,
        "features": [nd.feature_dict(h, dictionary.entry(h.feature) if dictionary else None) for h in keep],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layer", type=int, default=12)
    ap.add_argument("--compare", default="6,8,10,11,12,13,14,16,18", help="layers to compare ('' = none)")
    ap.add_argument("--count", type=int, default=6, help="how many curated neurons")
    ap.add_argument("--pick", type=int, action="append", default=[], help="curate this neuron (repeatable)")
    ap.add_argument("--note", action="append", default=[], help="N=TEXT: a hand-written note for neuron N")
    ap.add_argument("--curated", default=None, help='a JSON file {"curated": [{"neuron": N, "note": TEXT}, ...]}')
    ap.add_argument("--folder", default=str(ROOT / "resources" / "neurons"), help="the text set's folder")
    ap.add_argument("--out", default=None, help="default: <folder>/neuron_view.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    from desktop_sae.core.assets.opening import open_session
    from desktop_sae.core.features.readout import load_dictionary
    from desktop_sae.core.presets.identity import sae_identity

    t0 = time.time()
    session = open_session()
    lm, sae = session.lm, session.sae
    texts, topics = nd.load_texts(args.folder)
    layers = sorted({args.layer, *(int(x) for x in args.compare.split(",") if x.strip())})
    print(f"{len(texts)} texts, {len(set(topics))} topics; layers {layers}", flush=True)
    quarters = set()

    def report(f, m):
        if int(f * 4) not in quarters:
            quarters.add(int(f * 4))
            print(f"  {f:4.0%} {m}", flush=True)

    by_layer = nn_.neuron_activations(lm.model, lm.tokenizer, texts, layers, topics=topics, progress=report)
    dense = np.nan_to_num(np.asarray(sae.stats.density, np.float32), nan=0.0) > 0.1
    codes = sae_codes(session, by_layer[args.layer], dense)
    print(f"activations and SAE codes in {time.time() - t0:.0f} s", flush=True)
    table, ranked = {}, None
    for L in layers:
        c = candidates(by_layer[L], codes)
        table[str(L)] = {"candidates": len(c), "four_or_more_groups": sum(1 for x in c if x[1]["groups"] >= 4)}
        print(f"layer {L:2d}: {table[str(L)]}", flush=True)
        if L == args.layer:
            ranked = c
    listed = json.loads(Path(args.curated).read_text("utf-8"))["curated"] if args.curated else []
    picks, seen = [int(c["neuron"]) for c in listed] + list(args.pick), set()
    for n, s, _ in ranked:
        if len(picks) >= args.count:
            break
        if n not in picks and s["topics"] not in seen:
            picks.append(n)
            seen.add(s["topics"])
    notes = {int(c["neuron"]): c.get("note", "") for c in listed}
    notes.update({int(k): v for k, v in (x.split("=", 1) for x in args.note)})
    dictionary = load_dictionary(sae.source_path)
    acts = by_layer[args.layer]
    curated = [curate(session, acts, n, dictionary, notes.get(n)) for n in picks]
    ident = sae_identity(sae, session.hook_name)
    text_file = nd.neurons_folder(args.folder) / nd.TEXTS
    data = {
        "format": nd.FORMAT,
        "layer": args.layer,
        "n_neurons": acts.width,
        "k": K,
        "model": {"name": lm.name, "sha256": lm.sha256},
        "sae": {"name": ident.name, "hook": ident.hook, "d_sae": ident.d_sae, "fingerprint": ident.fingerprint},
        "texts": {
            "file": nd.TEXTS,
            "count": len(texts),
            "topics": len(set(topics)),
            "sha256": hashlib.sha256(text_file.read_bytes()).hexdigest(),
        },
        "layer_choice": {
            "chosen": args.layer,
            "why": why(args.layer, session.hook_name, table),
            "layers": table,
            "criterion": __doc__.split("\n\n")[1],
        },
        "curated": curated,
    }
    problems = nd.validate_view(data)
    if problems:
        raise SystemExit("the view does not validate: " + "; ".join(problems))
    out = Path(args.out) if args.out else nd.neurons_folder(args.folder) / nd.VIEW
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    out.write_text(text + "\n", "utf-8")
    for c in curated:
        print(f"#{c['neuron']}: {c['description']} ({c['polysemanticity']} topics) — {c['peak_tokens']}")
    print(f"wrote {out} ({len(text.encode()) / 1000:.0f} kB) in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
