"""``desktop-sae info``: describe the model and the SAE."""

from __future__ import annotations

import json

from .common import add_model_args, session_from_args


def register(sub) -> None:
    p = sub.add_parser("info", help="describe the model and SAE")
    add_model_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)


def cmd_info(args) -> int:
    d = session_from_args(args, quiet=args.json).describe()
    if args.json:
        print(json.dumps(d, indent=2, default=str))
        return 0
    m = d["model"]
    print(f"model   {m['name']} ({m['architecture']}, {m['layers']} layers, width {m['width']}, "
          f"{m['parameters'] / 1e6:.0f}M parameters) on {m['device']} in {m['dtype']}")
    print(f"        from {m['source']}: {m['location']}")
    s = d["sae"]
    if s is None:
        print("sae     none")
    else:
        k = f", k={s['k']}" if s["k"] else ""
        print(f"sae     {s['architecture']}{k}, d_in {s['d_in']} -> d_sae {s['d_sae']} at {s['hook']} "
              f"({s['format']} format)")
        print(f"        from {s['path']}")
    for w in d["warnings"]:
        print(f"warning {w}")
    return 0
