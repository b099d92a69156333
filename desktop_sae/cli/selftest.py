"""``desktop-sae selftest [--quick]``: what a new user does first, offscreen and timed. Runs the start-up checks,
opens the real window, loads the default model and SAE (converting the GGUF on a first start), answers a prompt
and quits; without ``--quick`` it also applies the built-in Golden Gate preset, answers side by side and checks
that steering moved the answer towards the concept: the Golden Gate set, read back from each answer without
steering, is more active in the steered answer than in the default one from the same seed. Every stage is timed
from the start of the process: the desktop bundle's smoke test."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

from .common import add_model_args
from .doctor import print_problems

_T0 = time.monotonic()


def register(sub) -> None:
    p = sub.add_parser("selftest", help="open the app offscreen, load the defaults, generate, quit (timed)")
    add_model_args(p)
    p.add_argument("--quick", action="store_true", help="only load and answer (no steering check)")
    p.add_argument("--prompt", default="What should I do this weekend?")
    p.add_argument("--tokens", type=int, default=None, help="tokens to generate (default 8 quick, 24 full)")
    p.add_argument("--json", action="store_true", help="print the timings and answers as JSON")
    p.add_argument("--timeout", type=float, default=600)
    p.set_defaults(func=cmd_selftest)


def process_age() -> float:
    """Seconds since this process started (Linux: from /proc, so it includes the interpreter's own start and a
    bundle's unpacking), else since this module was imported."""
    try:
        start_ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
        uptime = float(open("/proc/uptime").read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _T0


def cmd_selftest(args) -> int:
    from dataclasses import replace

    from ..core.diagnostics import startup_checks as diagnostics

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    t = {"python": round(process_age(), 2)}
    problems = diagnostics.startup_problems(args.model)
    print_problems(problems)
    if any(p.severity == "error" for p in problems):
        return 2
    # the window's layout and settings go to a throw-away folder; the model cache and data folders are the real ones
    os.environ["DESKTOP_SAE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="desktop-sae-selftest-")
    from ..core.engine.run_names import Run
    from ..core.support.paths import resources_dir
    from ..gui.app import build_window, load_request_from_args, make_app
    from .screenshot import wait_for

    app = make_app()
    win = build_window(load_request_from_args(args), welcome=False)
    app.processEvents()
    t["window"] = round(process_age(), 2)
    ctl = win.controller
    conv, model, notices = ctl.conversation, ctl.model, ctl.notices
    result: dict = {"ok": False, "times": t}
    try:
        wait_for(app, lambda: model.ready or notices.last_error, args.timeout, "the model to load")
        if not model.ready or model.info is None:
            raise RuntimeError(f"loading failed: {notices.last_error}")
        t["ready"] = round(process_age(), 2)
        result["model"] = model.info.model.name
        result["sae"] = model.info.sae.path if model.info.sae else None
        first: list[float] = []
        conv.token.connect(lambda ev: first or first.append(process_age()))
        n = args.tokens or (8 if args.quick else 24)
        conv.set_sampling(replace(conv.sampling, seed=0, max_new_tokens=n))
        conv.send(args.prompt)
        wait_for(app, lambda: not conv.busy, args.timeout, "the answer")
        t["first_token"] = round(first[0], 2) if first else None
        t["answer"] = round(process_age(), 2)
        answer = conv.turns[-1]
        if answer.role != "assistant" or not answer.content.strip():
            raise RuntimeError(f"no answer: {notices.last_error or answer.content!r}")
        events = answer.events.get(Run.MAIN, ())
        if not events or not all(ev.top_ids is not None and len(ev.top_ids) for ev in events):
            raise RuntimeError("the answer's tokens carry no SAE features")
        result["answer"], result["tokens"] = answer.content, len(events)
        if not args.quick:
            result.update(_steering_moves_towards_the_concept(app, ctl, args, resources_dir(), wait_for))
            t["steered"] = round(process_age(), 2)
        result["ok"] = True
    except (RuntimeError, TimeoutError) as e:
        result["error"] = str(e)
    finally:
        win.close()
        app.processEvents()
    _print(result, args.json)
    return 0 if result["ok"] else 1


GG = "golden_gate"  # the demo concept of the built-in Golden Gate preset


def _steering_moves_towards_the_concept(app, ctl, args, resources, wait_for) -> dict:
    """Side by side with the Golden Gate preset; the steered answer must read back as more Golden Gate than the
    default one (the set's weighted re-read, ``steer_eval.reading.feature_reread``, taken on the worker)."""
    from dataclasses import replace

    from ..app.messages import JobKind
    from ..core.engine.run_names import Run
    from ..core.steer_eval.data import load_concept
    from ..core.steer_eval.reading import feature_reread
    from ..core.steer_eval.scoring import keyword_hits, keyword_pattern

    conv = ctl.conversation
    if not ctl.presets.load(resources / "presets" / "golden-gate.json"):
        raise RuntimeError(f"the Golden Gate preset did not load: {ctl.notices.last_error}")
    conv.set_sampling(replace(conv.sampling, max_new_tokens=args.tokens or 24))
    conv.set_compare(True)
    conv.clear()
    conv.send(args.prompt)
    wait_for(app, lambda: not conv.busy, args.timeout, "the steered answer")
    steered, default = conv.last_answer(Run.STEERED), conv.last_answer(Run.DEFAULT)
    if not steered or steered == default:
        raise RuntimeError(f"steering did not change the answer: {steered!r}")
    concept = load_concept(GG)
    got: list = []
    ctl.jobs.submit(JobKind.SPAN, lambda session, state: [feature_reread(session, t, concept.features,
                                                                         concept.weights) for t in (steered, default)],
                    on_done=got.append, on_failed=lambda m: got.append(RuntimeError(m)), exclusive=False)
    wait_for(app, lambda: got, args.timeout, "the re-read of both answers")
    if isinstance(got[0], Exception):
        raise RuntimeError(f"the re-read failed: {got[0]}")
    (on_steered, on_default), pat = got[0], keyword_pattern(concept.keywords)
    out = {"steered": steered, "default": default, "reread": {"steered": round(on_steered, 3),
                                                              "default": round(on_default, 3)},
           "keywords": {"steered": len(keyword_hits(steered, pat)), "default": len(keyword_hits(default, pat))}}
    if not on_steered > on_default:
        raise RuntimeError(f"steering did not move the answer towards the Golden Gate: the set reads "
                           f"{on_steered:.3f} in the steered answer, {on_default:.3f} in the default one ({steered!r})")
    return out


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    t = result["times"]
    stages = ", ".join(f"{k.replace('_', ' ')} {v:.2f} s" for k, v in t.items() if v is not None)
    if result["ok"]:
        print(f"selftest ok (seconds since the process started: {stages})")
        print(f"{result['model']} with the SAE {result['sae']}")
        print(f"answer ({result['tokens']} tokens): {result['answer']!r}")
        if "steered" in result:
            print(f"steered by the Golden Gate preset: {result['steered']!r}")
            r, k = result["reread"], result["keywords"]
            print(f"Golden Gate set read back: {r['steered']:.3f} steered, {r['default']:.3f} default; keywords "
                  f"{k['steered']} steered, {k['default']} default")
    else:
        print(f"selftest FAILED: {result['error']} ({stages})", file=sys.stderr)
