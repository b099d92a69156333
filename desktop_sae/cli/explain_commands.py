"""``desktop-sae explain`` and ``desktop-sae score-explanations``: write feature explanations with an
OpenAI-compatible chat endpoint and score them blind (docs/EXPLANATIONS.md). Progress goes to stderr; Ctrl-C stops
between calls and keeps what is done (run again to resume); a second Ctrl-C stops at once."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from .common import add_model_args, session_from_args, throttled_progress


def _add_common(p: argparse.ArgumentParser) -> None:
    add_model_args(p)
    p.add_argument("--url", default=None, help="chat endpoint base URL (default: $DESKTOP_SAE_LLM_URL)")
    p.add_argument("--llm-model", default=None, help="model name at the endpoint (default: $DESKTOP_SAE_LLM_MODEL)")
    p.add_argument("--key", default=None, help="API key (default: $DESKTOP_SAE_LLM_KEY; none for local servers)")
    p.add_argument("--features", default=None, help="features to do, e.g. 1,5,10-20 (default: all)")
    p.add_argument("--sample", default=None, metavar="FILE",
                   help="do the features of a sample file (desktop-sae explanations sample) instead of --features")
    p.add_argument("--limit", type=int, default=None, help="do at most N features not done yet")
    p.add_argument("--corpus", nargs="*", default=[], help="text/JSONL files or folders to read contexts from "
                                                           "(default: the built-in corpus)")
    p.add_argument("--windows", type=int, default=4096, help="context windows of 32 tokens to scan (default 4096)")
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out split and the draws (default 0)")
    p.add_argument("--parallel", type=int, default=4, help="calls in flight at once (default 4)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per call (default 60)")
    p.add_argument("--tries", type=int, default=3, help="tries per call before it is recorded as failed")
    p.add_argument("--out", default=None, help="folder for the explanation files (default: the SAE's folder)")
    p.add_argument("--contexts", default=None, help="cache file (.npz) of the scanned contexts: reused when built "
                                                   "from the same corpus, windows, seed and SAE, else rebuilt")


def register(sub) -> None:
    e = sub.add_parser("explain", help="explain SAE features with an OpenAI-compatible chat endpoint")
    _add_common(e)
    e.add_argument("--write-prompts", metavar="FILE", default=None,
                   help="write the explainer prompts of the features to do as JSON lines, or as plain text to read "
                        "when FILE ends in .txt (no endpoint needed)")
    e.add_argument("--read-answers", metavar="FILE", default=None,
                   help='read answers to --write-prompts: {"feature", "answer"} JSON lines or N<TAB>answer lines')
    e.add_argument("--explainer", default=None, help="who wrote the answers of --read-answers (recorded)")
    e.add_argument("--method", default="human", choices=["human", "agent"],
                   help="how the answers of --read-answers were written: by a person or an LLM agent (recorded)")
    e.set_defaults(func=cmd_explain)
    s = sub.add_parser("score-explanations", help="score feature explanations blind (detection, fuzzing)")
    _add_common(s)
    s.add_argument("--variants", default="own,random_other,token_label",
                   help="explanations to score: own, random_other (sanity baseline), token_label (default: all)")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.add_argument("--write-prompts", metavar="DIR", default=None,
                   help="write blind scorer prompts as text, one folder per scorer, and the answer key (no endpoint)")
    s.add_argument("--scorers", type=int, default=3, help="scorer folders for --write-prompts (at least one per "
                                                         "variant; default 3)")
    s.add_argument("--read-answers", metavar="DIR", default=None,
                   help="read the scorers' answers.tsv files of a --write-prompts folder into the scores")
    s.add_argument("--scorer", default=None, help="who scored --read-answers ({k} = the scorer's number; recorded)")
    s.set_defaults(func=cmd_score)


class _CtrlC:
    """The first SIGINT asks the run to stop between calls; a second one interrupts at once."""

    def __init__(self) -> None:
        self.asked = False
        self._old = None

    def __enter__(self) -> _CtrlC:
        def handler(signum, frame):
            if self.asked:
                raise KeyboardInterrupt
            self.asked = True
            print("\nstopping after the calls in flight (Ctrl-C again to stop now)", file=sys.stderr)

        self._old = signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._old)

    def __call__(self) -> bool:
        return self.asked


def _folder(args) -> Path:
    """The folder of the explanation files (``--out``, else the SAE's); sets ``args.sae_dir``."""
    from ..core.features.user_labels import sae_folder
    from ..core.support.paths import default_sae_dir

    args.sae_dir = sae_folder(getattr(args, "sae", None) or default_sae_dir())
    folder = Path(args.out) if args.out else args.sae_dir
    if folder is None:
        raise ValueError("no folder for the explanation files; give --out")
    return folder


def _setup(args):
    from ..core.explanations.bank_file import load_bank, save_bank
    from ..core.explanations.client import ChatClient, ChatSettings
    from ..core.explanations.corpus_windows import corpus_name, read_contexts
    offline = getattr(args, "write_prompts", None) or getattr(args, "read_answers", None)
    settings = None if offline else ChatSettings.from_env(args.url, args.llm_model, args.key, timeout_s=args.timeout,
                                                          tries=args.tries, parallel=args.parallel)
    session = session_from_args(args, quiet=True)
    if session.sae is None or session.hook_name is None:
        raise ValueError("no SAE loaded; give --sae")
    folder = _folder(args)
    d_sae = session.sae.cfg.d_sae
    features = _features(args, d_sae)
    if any(not 0 <= f < d_sae for f in features):
        raise ValueError(f"--features must lie in 0..{d_sae - 1}")
    lm = session.lm
    key = {"corpus": corpus_name(args.corpus), "windows": args.windows, "seed": args.seed,
           "model": lm.name, "sae": str(args.sae_dir), "hook": session.hook_name, "d_sae": d_sae}
    bank = load_bank(args.contexts, key) if args.contexts else None
    if bank is None:
        print("reading contexts ...", file=sys.stderr)
        bank = read_contexts(lm.model, lm.tokenizer, session.sae, session.hook_name, args.windows, args.seed,
                             args.corpus, skip_ids=session.special_ids, progress=throttled_progress())
        if args.contexts:
            save_bank(bank, args.contexts, key)
    args.hook_name = session.hook_name
    return (ChatClient(settings) if settings else None), bank, folder, features


def _features(args, d_sae: int) -> list[int]:
    from ..core.explanations.score_sample import read_sample
    from ..core.support.prompt_file import parse_seeds

    if getattr(args, "sample", None):
        return read_sample(args.sample)
    return parse_seeds(args.features) if args.features else list(range(d_sae))


def _cfg_meta(sae_dir: Path | None) -> dict[str, object]:
    """d_sae and hook_name from the SAE's cfg.json (nothing when it has none)."""
    try:
        cfg = json.loads((Path(sae_dir) / "cfg.json").read_text(encoding="utf-8")) if sae_dir else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(cfg, dict):
        return {}
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}  # SAELens v6 keeps the hook there
    return {k: cfg.get(k, meta.get(k)) for k in ("d_sae", "hook_name") if k in cfg or k in meta}


def _limited(features, done, limit):
    todo = [f for f in dict.fromkeys(features) if f not in done]
    return todo[:limit] if limit is not None else todo


def _report(summary, what: str) -> None:
    state = "stopped (run again to resume)" if summary.cancelled else "done"
    print(f"\n{what} {state}: {summary.done} done, {summary.failed} failed, {summary.skipped} skipped, "
          f"{summary.calls} calls", file=sys.stderr)


def cmd_explain(args) -> int:
    from ..core.explanations.corpus_windows import corpus_name
    from ..core.explanations.runs import explain_call_estimate, explain_features
    from ..core.explanations.store import ExplanationStore

    if args.read_answers:
        from ..core.explanations.offline import read_explainer_answers
        from ..core.explanations.protocol import Method

        if not args.explainer:
            raise ValueError("--read-answers needs --explainer NAME (who wrote them)")
        answers_to = ExplanationStore.beside(_folder(args))
        if not answers_to.sae:  # what the prompts were made from (the SAE's cfg.json; --windows and --seed)
            answers_to.sae = {**_cfg_meta(args.sae_dir), "windows": args.windows, "seed": args.seed,
                              "corpus": corpus_name(args.corpus)}
        stored, failed = read_explainer_answers(args.read_answers, answers_to, args.explainer, Method(args.method))
        print(f"{stored} explanations stored, {failed} malformed (recorded as failed) in {answers_to.path}",
              file=sys.stderr)
        return 0
    client, bank, folder, features = _setup(args)
    store = ExplanationStore.beside(folder)
    store.sae = {"d_sae": bank.d_sae, "hook_name": args.hook_name, "windows": len(bank.windows), "seed": args.seed,
                 "corpus": corpus_name(args.corpus)}
    todo = _limited(features, set(store.explanations), args.limit)
    if args.write_prompts:
        from ..core.explanations.offline import write_explainer_prompts, write_explainer_text

        write = write_explainer_text if args.write_prompts.endswith(".txt") else write_explainer_prompts
        n = write(bank, todo, args.write_prompts)
        print(f"{n} explainer prompts written to {args.write_prompts}", file=sys.stderr)
        return 0
    print(f"about {explain_call_estimate(todo, store, bank)} calls to {client.settings.endpoint} "
          f"({client.settings.model}); writing {store.path}", file=sys.stderr)
    with _CtrlC() as stop:
        summary = explain_features(bank, todo, client, store, progress=throttled_progress(), cancel=stop)
    _report(summary, "explaining")
    return 1 if summary.failed and not summary.done else 0


def _read_blind(args) -> int:
    from ..core.explanations.blind_files import read_blind_answers
    from ..core.explanations.store import ScoreStore

    if not args.scorer:
        raise ValueError("--read-answers needs --scorer NAME (who scored)")
    scores = ScoreStore.beside(_folder(args))
    r = read_blind_answers(args.read_answers, scores, args.scorer)
    print(f"{r.stored} scores stored, {r.failed} malformed (recorded as failed), {r.incomplete} not fully answered "
          f"yet, in {scores.path}", file=sys.stderr)
    return 0


def cmd_score(args) -> int:
    from ..core.explanations.protocol import Variant
    from ..core.explanations.runs import score_call_estimate, score_explanations, score_summary
    from ..core.explanations.store import ExplanationStore, ScoreStore
    from ..core.features.dictionary import load_dictionary

    try:
        variants = [Variant(v.strip()) for v in args.variants.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--variants: choose from {', '.join(v.value for v in Variant)}") from None
    if args.read_answers:
        return _read_blind(args)
    client, bank, folder, features = _setup(args)
    explanations, scores = ExplanationStore.beside(folder), ScoreStore.beside(folder)
    if not explanations.explanations:
        raise ValueError(f"no explanations in {explanations.path}; run desktop-sae explain first")
    dic = load_dictionary(args.sae_dir)  # the token-fragment labels beside the SAE
    labels = {i: s for i, s in enumerate(dic.meta["labels"]) if s != "(dead)"} if dic is not None else {}
    done = set.intersection(*(scores.done(v) for v in variants)) if variants else set()
    todo = _limited(features, done, args.limit)
    if args.write_prompts:
        from ..core.explanations.blind_files import plan_blind_prompts, write_blind_files

        prompts = plan_blind_prompts(bank, todo, variants, explanations, labels, args.scorers, args.seed)
        dirs = write_blind_files(prompts, args.write_prompts)
        print(f"{len(prompts)} blind prompts for {len(dirs)} scorers in {args.write_prompts} (keep key.json away "
              "from the scorers)", file=sys.stderr)
        return 0
    n = score_call_estimate(bank, todo, variants, scores, explanations, labels, args.seed)
    print(f"about {n} calls to {client.settings.endpoint} ({client.settings.model}); writing {scores.path}",
          file=sys.stderr)
    with _CtrlC() as stop:
        summary = score_explanations(bank, todo, variants, client, explanations, scores, labels, args.seed,
                                     progress=throttled_progress(), cancel=stop)
    _report(summary, "scoring")
    table = score_summary(scores, features if args.features else None)
    if args.json:
        print(json.dumps(table, indent=1))
    else:
        for v, per in table.items():
            for sc, r in per.items():
                print(f"{v:13s} {sc:9s} {r['mean']:.3f}  [{r['low']:.3f}, {r['high']:.3f}]  n={r['features']}")
    return 1 if summary.failed and not summary.done else 0
