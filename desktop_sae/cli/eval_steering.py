"""``desktop-sae eval-steering``: judge a feature's steering by concept, fluency and instruction relevance against
prompting and a mean-difference vector; the strength is chosen on one prompt split and reported on another."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..core.steer_eval.evaluate import json_ready
from ..core.steering.syntax import METHOD_ALIASES
from ..core.support.prompt_file import read_prompts
from .common import add_model_args, seed_list, session_from_args, strength_list, throttled_progress
from .fix_code_command import add_fix_code_args, cmd_fix_code


def register(sub) -> None:
    p = sub.add_parser("eval-steering", help="judge steering: concept, fluency, relevance vs baselines")
    add_model_args(p)
    who = p.add_mutually_exclusive_group()
    who.add_argument("--concept", help="a demo concept (resources/demo_features.json), e.g. golden_gate")
    who.add_argument("--feature", type=int, nargs="+", metavar="F", help="feature(s) to steer together")
    p.add_argument("--keywords", default="", help="with --feature: the concept's keywords, comma-separated")
    p.add_argument("--description", default=None, help="with --feature: what the concept is (prompting baseline)")
    p.add_argument("--texts", default=None,
                   help="with --feature: a file of concept sentences (one per line) for the mean-difference baseline")
    p.add_argument("--method", default="add", help="add | clamp | orth")
    p.add_argument("--strengths", default=None,
                   help="x max activation (orth: the gain); comma-separated (default 0.5,1,2,4,8; --fix-code -1,-2,-4)")
    p.add_argument("--prompts", default=None, help="prompt file (split alternately into selection and report)")
    p.add_argument("--n-prompts", type=int, default=None, help="use the first N prompts of each split")
    p.add_argument("--seeds", default=None,
                   help="a count N (seeds 0..N-1), or a list/range such as 3,7 or 10-12 (default 1; --fix-code 3)")
    p.add_argument("--max-tokens", type=int, default=None, help="new tokens per answer (default 32; --fix-code 128)")
    p.add_argument("--fire-fraction", type=float, default=0.2, help="re-read: fires above this x max activation")
    p.add_argument("--fluency-threshold", type=float, default=None,
                   help="NLL (nats/token) above which an answer is not fluent (default: human prose, measured)")
    p.add_argument("--no-baselines", action="store_true", help="skip the prompting and mean-difference baselines")
    p.add_argument("--batch", type=int, default=16,
                   help="answers generated together (default 16; 1 = one at a time, exactly as the app makes them)")
    add_fix_code_args(p)
    p.add_argument("--table", nargs="+", metavar="RESULT", default=None,
                   help="print the demo table (Markdown) from saved results (--out files); runs no model")
    p.add_argument("--update-demo", nargs="?", const="", default=None, metavar="FILE",
                   help="with --table: write each concept's measured figures into demo_features.json "
                        "(default: the shipped resources/demo_features.json)")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    p.add_argument("--out", default=None, help="also write the JSON result to this file")
    p.set_defaults(func=cmd_eval_steering)


def _fmt(v) -> str:
    return "  -  " if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:5.2f}"


def print_table(res: dict) -> None:
    c = res["concept"]
    print(f"concept {c['name']} ({c['description']}), features {c['features']}, method {res['settings']['method']}")
    head = "  {:<24} {:>5} {:>5} {:>5} {:>5} {:>6} {:>6} {:>5}".format(
        "", "comb", "conc", "flu", "rel", "nll", "fluent", "kw")
    print("selection split (strength chosen here):")
    print(head)
    rows = [("default", res["selection"]["default"])]
    rows += [(f"feature x{r['strength']:g}", r) for r in res["selection"]["feature"]]
    rows += [(f"mean diff x{r['strength']:g}", r) for r in res["selection"]["mean_difference"]]
    for name, r in rows:
        print(f"  {name:<24} {_fmt(r['combined'])} {_fmt(r['concept'])} {_fmt(r['fluency'])} {_fmt(r['relevance'])} "
              f"{_fmt(r['nll_mean']):>6} {_fmt(r['fluent_share']):>6} {_fmt(r['keyword_share'])}")
    print(f"chosen: {', '.join(f'{k} x{v:g}' for k, v in res['chosen'].items())}")
    print("report split:")
    print(head)
    for name, r in res["report"].items():
        tag = f"{name} x{r['strength']:g}" if "strength" in r else name
        print(f"  {tag:<24} {_fmt(r['combined'])} {_fmt(r['concept'])} {_fmt(r['fluency'])} {_fmt(r['relevance'])} "
              f"{_fmt(r['nll_mean']):>6} {_fmt(r['fluent_share']):>6} {_fmt(r['keyword_share'])}")
    ref = res["references"]["report"]
    print(f"fluency threshold {ref['threshold']:.2f} nats (default answers {ref['default_nll']:.2f}, human prose "
          f"{_fmt(res['references']['human_nll']).strip()}); {res['seconds']:.0f} s")


def cmd_eval_steering(args) -> int:
    from ..core.steer_eval.data import adhoc_concept, load_concept, load_splits
    from ..core.steer_eval.evaluate import EvalSettings, evaluate_steering

    if args.fix_code:
        return cmd_fix_code(args)
    if args.table:
        return cmd_table(args.table, args.update_demo)
    if not (args.concept or args.feature):
        raise ValueError("give --concept or --feature (or --fix-code)")
    args.strengths = args.strengths or "0.5,1,2,4,8"
    args.seeds, args.max_tokens = args.seeds or "1", args.max_tokens or 32
    if METHOD_ALIASES.get(args.method.lower()) not in ("add", "clamp", "orth"):
        raise ValueError(f"--method {args.method!r}: eval-steering compares add, clamp or orth")
    if not 1 <= args.batch <= 256:
        raise ValueError("--batch must be 1..256")
    settings = EvalSettings(strength_list(args.strengths), METHOD_ALIASES[args.method.lower()], seed_list(args.seeds),
                            args.max_tokens, args.fire_fraction, args.fluency_threshold, not args.no_baselines,
                            args.batch)
    if args.concept:
        concept = load_concept(args.concept)
    else:
        texts = read_prompts(args.texts) if args.texts else ()
        concept = adhoc_concept(args.feature, args.keywords.split(","), args.description, texts)
    if args.n_prompts is not None and args.n_prompts < 2:
        raise ValueError("--n-prompts must be at least 2")
    splits = load_splits(args.prompts, args.n_prompts)
    session = session_from_args(args, quiet=args.json)
    if session.sae is None:
        raise ValueError("eval-steering needs an SAE (--sae)")
    bad = [f for f in concept.features if not 0 <= f < session.sae.cfg.d_sae]
    if bad:
        raise ValueError(f"feature {bad[0]} is out of range: the SAE has {session.sae.cfg.d_sae} features")
    res = evaluate_steering(session, concept, splits, settings, progress=None if args.json else throttled_progress())
    text = json.dumps(json_ready(res), ensure_ascii=False, indent=1, allow_nan=False)
    if args.out:
        from ..core.support.atomic import atomic_write_text

        atomic_write_text(Path(args.out), text + "\n")
    if args.json:
        print(text)
    else:
        print_table(res)
    return 0


def cmd_table(files, update_demo: str | None) -> int:
    """The demo table from saved results; with ``update_demo``, their figures go into demo_features.json (written
    atomically, concepts matched by name; nothing is written unless every file reads)."""
    from ..core.steer_eval.table import demo_entry_update, markdown_table
    from ..core.support.atomic import atomic_write_text
    from ..core.support.paths import resources_dir

    results = []
    for f in files:
        try:
            res = json.loads(Path(f).read_text(encoding="utf-8"))
            res["concept"]["name"], res["report"]["feature"]["strength"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{f}: not an eval-steering result ({e})") from None
        results.append(res)
    print(markdown_table(results))
    if update_demo is not None:
        path = Path(update_demo) if update_demo else resources_dir() / "demo_features.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        entries = {c.get("concept"): c for c in doc.get("concepts", []) if isinstance(c, dict)}
        missing = [r["concept"]["name"] for r in results if r["concept"]["name"] not in entries]
        if missing:
            raise ValueError(f"{path}: no demo concept named {', '.join(missing)}")
        for r in results:
            entries[r["concept"]["name"]].update(demo_entry_update(r))
        atomic_write_text(path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
        print(f"updated {len(results)} concepts in {path}")
    return 0
