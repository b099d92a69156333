"""``desktop-sae eval-steering --fix-code``: does steering a code-error feature (negative) help the model fix small
buggy functions? The answers' code is run with each snippet's tests in an isolated subprocess; the feature and
strength are chosen on the selection half of the snippets and reported on the report half."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

from .common import seed_list, session_from_args, strength_list, throttled_progress

BUGS_CONCEPT = "bugs"  # resources/demo_features.json: the code-error feature steered by default


def add_fix_code_args(p) -> None:
    g = p.add_argument_group("fixing code (--fix-code)")
    g.add_argument("--fix-code", action="store_true",
                   help="fix-rate evaluation on buggy Python snippets; --feature F ... are candidates (default: the "
                        "features of the 'bugs' demo concept's set), each steered alone")
    g.add_argument("--snippets", default=None, help="a JSON-lines snippet file (default: the shipped snippets)")
    g.add_argument("--temperature", type=float, default=0.5, help="with --fix-code: sampling temperature")
    g.add_argument("--frequency-penalty", type=float, default=0.0, help="with --fix-code: frequency penalty")
    g.add_argument("--timeout", type=float, default=5.0, help="with --fix-code: seconds per code check")
    g.add_argument("--record", default=None, metavar="JSON",
                   help="with --fix-code: also write the summary as the \"code_fix\" key of this file (e.g. "
                        "resources/demo_features.json); its other keys are kept")


def _features(args) -> tuple[int, ...]:
    if args.feature:
        return tuple(dict.fromkeys(int(f) for f in args.feature))
    from ..core.steer_eval.data import load_concept

    return load_concept(args.concept or BUGS_CONCEPT).features


def _rate(r: dict) -> str:
    rate = r["rate"]
    return f"{r['fixed']:>3}/{r['n']:<3} {'  -  ' if rate is None or not math.isfinite(rate) else f'{rate:5.2f}'}"


def _nll(r: dict) -> str:
    v = r.get("nll_mean")
    return "  -  " if v is None or not math.isfinite(v) else f"{v:5.2f}"


def _cond(r: dict) -> str:
    return f"feature {r['feature']} x{r['strength']:g}"


def print_fix_table(res: dict) -> None:
    cfg = res["settings"]
    print(f"fix this code: {len(res['splits']['selection'])} + {len(res['splits']['report'])} snippets, seeds "
          f"{cfg['seeds']}, method {cfg['method']}, {cfg['max_new_tokens']} tokens, temperature "
          f"{cfg['temperature']:g}, timeout {cfg['timeout']:g} s")
    head = f"  {'':<24} {'fixed':>7} {'rate':>5} {'nll':>5}  only steered / only default (sign test p)"
    print("selection half (feature and strength chosen here):")
    print(head)
    print(f"  {'default':<24} {_rate(res['selection']['default'])} {_nll(res['selection']['default'])}")
    for r in res["selection"]["steered"]:
        pr = r["paired"]
        print(f"  {_cond(r):<24} {_rate(r)} {_nll(r)}  "
              f"{pr['only_steered']} / {pr['only_default']} ({pr['sign_test_p']:.3f})")
    print(f"chosen: feature {res['chosen']['feature']} x{res['chosen']['strength']:g}")
    rep = res["report"]
    print("report half:")
    print(head)
    print(f"  {'default':<24} {_rate(rep['default'])} {_nll(rep['default'])}")
    s, pr = rep["steered"], rep["paired"]
    print(f"  {_cond(s):<24} {_rate(s)} {_nll(s)}  "
          f"{pr['only_steered']} / {pr['only_default']} ({pr['sign_test_p']:.3f})")
    print(f"{res['seconds']:.0f} s")


def cmd_fix_code(args) -> int:
    from ..core.steer_eval.code_fix import FixSettings, demo_record, evaluate_code_fix, load_snippets
    from ..core.steer_eval.evaluate import json_ready
    from ..core.steering.syntax import METHOD_ALIASES

    method = METHOD_ALIASES.get(args.method.lower())
    if method not in ("add", "clamp"):
        raise ValueError(f"--method {args.method!r}: --fix-code steers with add or clamp")
    if not (args.timeout > 0 and math.isfinite(args.timeout)):
        raise ValueError("--timeout must be a positive number of seconds")
    features = _features(args)
    settings = FixSettings(features, strength_list(args.strengths or "-1,-2,-4"), method, seed_list(args.seeds or "3"),
                           args.max_tokens or 128, args.temperature, args.frequency_penalty, args.timeout)
    snippets = load_snippets(args.snippets)
    session = session_from_args(args, quiet=args.json)
    if session.sae is None:
        raise ValueError("--fix-code needs an SAE (--sae)")
    bad = [f for f in features if not 0 <= f < session.sae.cfg.d_sae]
    if bad:
        raise ValueError(f"feature {bad[0]} is out of range: the SAE has {session.sae.cfg.d_sae} features")
    res = evaluate_code_fix(session, snippets, settings, progress=None if args.json else throttled_progress())
    text = json.dumps(json_ready(res), ensure_ascii=False, indent=1, allow_nan=False)
    if args.out:
        from ..core.support.atomic import atomic_write_text

        atomic_write_text(Path(args.out), text + "\n")
    if args.record:
        record(Path(args.record), demo_record(res, date.today().isoformat(), _command(args)))
    if args.json:
        print(text)
    else:
        print_fix_table(res)
    return 0


def _command(args) -> str:
    feats = " ".join(str(f) for f in args.feature) if args.feature else ""
    return ("desktop-sae eval-steering --fix-code" + (f" --feature {feats}" if feats else "")
            + f" --strengths={args.strengths or '-1,-2,-4'} --seeds {args.seeds or '3'}"
            + (f" --max-tokens {args.max_tokens}" if args.max_tokens else ""))


def record(path: Path, entry: dict) -> None:
    """Put ``entry`` under "code_fix" in the JSON object at ``path`` (atomic; the other keys are kept)."""
    from ..core.steer_eval.evaluate import json_ready
    from ..core.support.atomic import atomic_write_text

    doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a JSON object")
    doc["code_fix"] = json_ready(entry)
    atomic_write_text(path, json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
