"""Find SAE features specific to the Golden Gate Bridge / San Francisco rather than to bridges in general.

Encodes hand-written sentences of three kinds at the SAE's hook (BOS and attention-sink positions skipped, as in
training): about the Golden Gate Bridge or San Francisco, about other bridges (none in San Francisco), and neutral
text. For each feature and text, the text's maximum activation; a feature's score is its mean over the Golden Gate
texts minus its mean over the other-bridge texts, in units of the feature's largest activation seen here. Prints
(and writes with --out) the top features, how many texts of each kind they fire on, and the generic bridge features
(those that fire on most texts of both bridge kinds).

Usage: python packaging/corpus/golden_gate_features.py SAE_DIR [SAE_DIR ...] [--top 12] [--show F,F]
       [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

GOLDEN_GATE = [
    "The Golden Gate Bridge glowed orange against the evening sky.",
    "We drove across the Golden Gate into Marin County on Sunday.",
    "Fog rolled in from the Pacific and swallowed the towers of the Golden Gate Bridge.",
    "San Francisco is famous for its steep hills, cable cars and foggy summers.",
    "From Alcatraz you can see the whole San Francisco waterfront.",
    "She rented a bike at Fisherman's Wharf and rode over the Golden Gate Bridge to Sausalito.",
    "The cable car clanged up Powell Street toward Nob Hill in San Francisco.",
    "Every postcard from San Francisco seems to show the Golden Gate Bridge.",
    "The painters keep the Golden Gate Bridge its famous International Orange.",
    "Karl the Fog hid the Golden Gate all morning, and the foghorns moaned across the bay.",
    "They walked through the Presidio to a lookout over the Golden Gate strait.",
    "Tourists crowded Pier 39 to watch the sea lions of San Francisco Bay.",
]
OTHER_BRIDGES = [
    "The Brooklyn Bridge connects Manhattan and Brooklyn across the East River.",
    "Tower Bridge in London lifts its roadway to let tall ships pass.",
    "The Sydney Harbour Bridge is nicknamed the Coathanger.",
    "The Ponte Vecchio in Florence is lined with small jewellery shops.",
    "A narrow wooden footbridge crossed the stream behind the farm.",
    "Engineers inspected the old railway bridge for rust and cracks.",
    "The Charles Bridge in Prague is crowded with statues and street musicians.",
    "We walked across the stone bridge over the river at dawn.",
    "The suspension bridge swayed slightly in the strong wind.",
    "The Forth Bridge in Scotland is a red steel cantilever railway bridge.",
    "The Tacoma Narrows Bridge famously collapsed in 1940 after twisting in the wind.",
    "A new bridge over the canal opened to cyclists last week.",
]
NEUTRAL = [
    "She made a pot of tea and read the newspaper by the window.",
    "The meeting was moved to Thursday afternoon because of the holiday.",
    "He planted tomatoes and basil in the garden this spring.",
    "Our train was delayed, so we had lunch at the station.",
    "The children built a snowman in the park after school.",
    "Please remember to water the plants while I am away.",
]


@torch.inference_mode()
def text_max_acts(lm, sae, texts: list[str]) -> torch.Tensor:
    """[len(texts), d_sae]: each feature's largest activation over each text's tokens (BOS and sinks skipped)."""
    from desktop_sae.core.engine.hooks import hooks

    thr = float(sae.cfg.metadata.get("outlier_norm_threshold") or float("inf"))
    out, grabbed = [], []
    bos = lm.tokenizer.bos_token_id if lm.tokenizer.bos_token_id is not None else lm.tokenizer.eos_token_id
    for t in texts:
        ids = lm.tokenizer(t, return_tensors="pt", add_special_tokens=False).input_ids
        if bos is not None:
            ids = torch.cat([torch.tensor([[bos]]), ids], dim=1)
        grabbed.clear()
        with hooks(lm.model, {sae.cfg.hook_name: lambda x: grabbed.append(x.detach())}):
            lm.model(input_ids=ids.to(lm.device), use_cache=False)
        x = grabbed[0][0, 1:].float()
        x = x[x.norm(dim=1) <= thr]
        out.append(sae.encode(x.to(sae.device)).max(0).values.cpu())
    return torch.stack(out)


def analyse(lm, sae, top: int, show: list[int]) -> dict:
    gg, br, ne = (text_max_acts(lm, sae, t) for t in (GOLDEN_GATE, OTHER_BRIDGES, NEUTRAL))
    scale = torch.cat([gg, br, ne]).max(0).values.clamp_min(1e-6)
    score = (gg.mean(0) - br.mean(0)) / scale
    fires = {"golden_gate": (gg > 0).sum(0), "other_bridges": (br > 0).sum(0), "neutral": (ne > 0).sum(0)}

    def row(f: int) -> dict:
        return {"feature": f, "score": round(float(score[f]), 3), "max_act": round(float(scale[f]), 2),
                "mean_gg": round(float(gg[:, f].mean()), 2), "mean_other_bridge": round(float(br[:, f].mean()), 2),
                "mean_neutral": round(float(ne[:, f].mean()), 2),
                **{f"fires_{k}": f"{int(v[f])}/{n}" for (k, v), n in
                   zip(fires.items(), (len(GOLDEN_GATE), len(OTHER_BRIDGES), len(NEUTRAL)))}}

    specific = [row(int(f)) for f in score.argsort(descending=True)[:top]]
    both = ((fires["golden_gate"] >= len(GOLDEN_GATE) // 2) & (fires["other_bridges"] >= len(OTHER_BRIDGES) // 2)
            & (fires["neutral"] == 0))
    generic = sorted((row(int(f)) for f in torch.nonzero(both).flatten()),
                     key=lambda r: -(r["mean_other_bridge"] + r["mean_gg"]))[:top]
    return {"d_sae": sae.cfg.d_sae, "golden_gate_specific": specific, "generic_bridge": generic,
            "shown": [row(f) for f in show if 0 <= f < sae.cfg.d_sae]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("saes", nargs="+")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--show", default="", help="comma-separated features to report as well (first SAE's ids)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.sae.formats import load_sae

    lm = load_model(dtype="float32")
    res = {"texts": {"golden_gate": GOLDEN_GATE, "other_bridges": OTHER_BRIDGES, "neutral": NEUTRAL},
           "saes": {}}
    show = [int(f) for f in a.show.split(",") if f.strip()]
    for i, p in enumerate(a.saes):
        res["saes"][p] = analyse(lm, load_sae(p, device=lm.device), a.top, show if i == 0 else [])
    text = json.dumps(res, indent=1)
    if a.out:
        from pathlib import Path

        from desktop_sae.core.support.atomic import atomic_write_text

        atomic_write_text(Path(a.out), text + "\n")
    for p, r in res["saes"].items():
        print(p, file=sys.stderr)
        for kind in ("golden_gate_specific", "generic_bridge", "shown"):
            print(" ", kind, file=sys.stderr)
            for x in r[kind]:
                print("   ", x, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
