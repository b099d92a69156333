"""``desktop-sae features`` (the features a text uses) and ``desktop-sae feature`` (one dictionary entry)."""

from __future__ import annotations

import json

from .common import add_model_args, session_from_args


def register(sub) -> None:
    f = sub.add_parser("features", help="features active on a text, strongest first (BOS hidden)")
    add_model_args(f)
    f.add_argument("--text", required=True)
    f.add_argument("--top", type=int, default=20)
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_features)

    d = sub.add_parser("feature", help="a feature's dictionary entry")
    d.add_argument("id", type=int)
    d.add_argument("--sae", default=None, help="SAE folder (default: the bundled SAE)")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_feature)


def cmd_features(args) -> int:
    from ..core.features.readout import features_on_text

    session = session_from_args(args, quiet=True)
    if session.sae is None:
        raise ValueError("no SAE loaded; give --sae")
    res = features_on_text(session, args.text, args.top)
    rows = [{"feature": h.feature, "max": h.max, "mean": h.mean, "tokens_active": h.tokens_active,
             "at_token": h.at_token, "label": h.label, **({"demo": h.demo} if h.demo else {})} for h in res.features]
    if args.json:
        print(json.dumps({"tokens": list(res.tokens), "features": rows}, ensure_ascii=False, indent=1))
    else:
        for r in rows:
            print(f"{r['feature']:6d}  max {r['max']:8.2f}  on {r['tokens_active']:3d} tokens  "
                  f"at {r['at_token']!r:14s} {r['label']}" + (f"  [{r['demo']}]" if "demo" in r else ""))
    return 0


def cmd_feature(args) -> int:
    from ..core.features.naming import demo_tag
    from ..core.features.readout import load_dictionary
    from ..core.presets.demo_concepts import demo_feature_sets
    from ..core.support.paths import default_sae_dir

    folder = args.sae or default_sae_dir()
    dic = load_dictionary(folder)
    if dic is None:
        raise ValueError(f"no feature dictionary in {folder}")
    e = dic.entry(args.id)
    demo = demo_tag(demo_feature_sets(folder).get(args.id, ()))
    if demo:
        e = {**e, "demo": demo}
    if args.json:
        print(json.dumps(e, ensure_ascii=False, indent=1))
        return 0
    print(f"feature {e['id']}: {e['label']}" + (f"  [{demo}]" if demo else ""))
    print(f"max {e['max_activation']:.2f}  mean {e['mean_activation']:.2f}  density {100 * e['density']:.3f}%")
    print("top logits:    " + "  ".join(f"{t!r} {v:+.2f}" for t, v in e["top_logits"]))
    print("bottom logits: " + "  ".join(f"{t!r} {v:+.2f}" for t, v in e["bottom_logits"]))
    for ex in e["top_examples"][:10]:
        text = "".join(f"[{t}]" if v > 0 else t for t, v in zip(ex["tokens"], ex["values"]))
        print(f"  {ex['activation']:7.2f}  {text!r}")
    return 0
