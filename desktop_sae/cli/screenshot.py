"""``desktop-sae screenshot OUT.png``: run a real interaction offscreen (load, optional steering, one prompt)
and save the window. It drives the app only through its sub-models, as a user or a lesson would. Qt is imported
only inside the handler so the CLI stays light."""

from __future__ import annotations

import os
import sys
import tempfile
import time

from .common import add_model_args


def register(sub) -> None:
    p = sub.add_parser("screenshot", help="run a real chat offscreen and save the app window as a PNG")
    p.add_argument("out", help="PNG file to write")
    add_model_args(p)
    p.add_argument("--prompt", default="Tell me about the Golden Gate Bridge.")
    p.add_argument("--system", default=None)
    p.add_argument("--steer", action="append", default=[], metavar="F=V[x][:add|clamp|orth|cap][@G>T[x]]",
                   help="steer (repeatable)")
    p.add_argument("--multiplier", type=float, default=1.0)
    p.add_argument("--compare", action="store_true", help="side by side: steered and default answers")
    p.add_argument("--preset", default=None, help="apply this preset first")
    p.add_argument("--pin", action="append", type=int, default=[],
                   help="pin a feature; the first is the one shown (default: steered or most active)")
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--lesson", default=None, help="show this lesson (id or file) at --step and do that step")
    p.add_argument("--step", type=int, default=1, help="with --lesson: the step to show (1 = the first)")
    p.add_argument("--welcome", action="store_true", help="the welcome page of a first start (nothing is asked)")
    p.add_argument("--hover", type=int, default=None, metavar="N",
                   help="end with the mouse on the answer's N-th shown token (from 0), its tooltip open")
    p.add_argument("--why", default=None, metavar="TEXT",
                   help="end with the attribution graph of the first answer token whose text is TEXT "
                        "(#N: the answer's N-th token, from 0)")
    p.add_argument("--ablate", action="store_true", help="with --why: ablate the strongest feature raising the target")
    p.add_argument("--directory", default=None, metavar="FILTER",
                   help="end with the model and SAE manager's SAE directory tab, filtered by FILTER")
    p.add_argument("--present", action="store_true", help="presentation mode (large fonts, high contrast)")
    p.add_argument("--theme", choices=["light", "dark", "system"], default="light")
    p.add_argument("--size", default="1480x920", help="window size WxH")
    p.add_argument("--timeout", type=float, default=600)
    p.set_defaults(func=cmd_screenshot)


def wait_for(app, cond, timeout: float, what: str) -> None:
    """Run the Qt event loop until ``cond()``."""
    from PySide6.QtCore import QEventLoop

    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        app.processEvents(QEventLoop.AllEvents, 50)
        time.sleep(0.005)


def settle(app, seconds: float = 0.5) -> None:
    """Keep the event loop running a moment so the idle-stopping timers draw the last data before a grab."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def offscreen_window(args, theme: str | None = None):
    """A real main window drawn offscreen with the model loaded, in a fresh settings folder (the default layout;
    the user's own settings stay untouched). Returns (app, window), or (app, None) after printing the error."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["DESKTOP_SAE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="desktop-sae-offscreen-")
    from ..gui.app import build_window, load_request_from_args, make_app

    app = make_app()
    w, h = (int(x) for x in args.size.lower().split("x"))
    win = build_window(load_request_from_args(args), welcome=bool(getattr(args, "welcome", False)), show=False)
    if theme:
        win.set_theme(theme)
    win.resize(w, h)
    win.show()
    model, notices = win.controller.model, win.controller.notices
    wait_for(app, lambda: model.ready or notices.last_error, args.timeout, "the model to load")
    if not model.ready:
        print(f"error: {notices.last_error}", file=sys.stderr)
        win.close()
        return app, None
    return app, win


def cmd_screenshot(args) -> int:
    from dataclasses import replace

    from ..core.engine.run_names import Run
    from ..core.steering.specs import SteeringConfig
    from ..core.steering.syntax import parse_steer

    app, win = offscreen_window(args, args.theme)
    if win is None:
        return 2
    ctl = win.controller
    conv, steering, focus, model = ctl.conversation, ctl.steering, ctl.features, ctl.model
    if args.present:
        win.views.set_presentation(True)
        win.showNormal()  # presentation's fonts and theme at --size (offscreen there is no real screen to fill)
        win.resize(*(int(x) for x in args.size.lower().split("x")))
    if args.lesson:
        return _lesson_shot(app, win, args)
    if args.welcome:
        return _save(app, win, args.out, ": the welcome page")
    if args.directory is not None:
        from .screenshot_directory import directory_shot

        size = tuple(int(x) for x in args.size.lower().split("x"))
        return directory_shot(app, win, args.directory, args.out, (size[0], size[1]))
    if args.preset and not ctl.presets.load(args.preset):
        print(f"error: {ctl.notices.last_error}", file=sys.stderr)
        win.close()
        return 2
    specs = tuple(parse_steer(s) for s in args.steer)
    if specs:
        steering.set_steering(SteeringConfig(tuple(replace(s, label=model.label(s.feature)) for s in specs),
                                             args.multiplier))
    conv.set_sampling(replace(conv.sampling, seed=args.seed, max_new_tokens=args.max_tokens))
    if args.system:
        conv.set_system(args.system)
    conv.set_compare(args.compare)
    focus.set_pinned(args.pin or list(steering.watched()))

    def ask() -> None:
        conv.send(args.prompt)
        wait_for(app, lambda: not conv.busy, args.timeout, "the answer")

    ask()
    shown = None
    if model.catalog is not None:
        active = [int(f) for f in model.catalog.active_ids("max")[:4]]
        if not focus.pinned and active:  # pin the most active features and answer again (same seed, same answer)
            focus.set_pinned(active)
            conv.clear()
            ask()
        shown = args.pin[0] if args.pin else (active[0] if active else None)
        if shown is not None:  # the dashboard and the chat colours show the first --pin, else the most active feature
            win.features.set_sort("active_max")
            focus.select(shown)
            focus.color_by(shown)
        answer = [e for t in conv.turns[-1:] for run in (Run.MAIN, Run.STEERED) for e in t.events.get(run, ())]
        if answer:
            focus.inspect_token(answer[min(3 if args.hover is None else args.hover, len(answer) - 1)])
        shown_tokens = [e for e in answer if e.delta]  # the tokens the transcript shows
        if args.why is not None:
            from .screenshot_graph import why_shot

            wait_for(app, lambda: not ctl.jobs.outstanding, 10, "the feature logits")
            size = tuple(int(x) for x in args.size.lower().split("x"))
            return why_shot(app, win, args.why, args.ablate, args.out, args.timeout, (size[0], size[1]))
        if shown_tokens and args.hover is not None:
            wait_for(app, lambda: not ctl.jobs.outstanding, 10, "the feature logits")
            return _hover_save(app, win, shown_tokens[min(args.hover, len(shown_tokens) - 1)], args.out)
    wait_for(app, lambda: not ctl.jobs.outstanding, 10, "the feature logits")
    showing = f" (dashboard: #{shown})" if shown is not None else ""
    return _save(app, win, args.out, f"{showing}: {conv.last_answer()[:120]!r}")


def _hover_save(app, win, ev, out: str) -> int:
    """The mouse on token ``ev`` of the main transcript, its tooltip open, grabbed with the window."""
    from .screenshot_hover import grab_with_tooltip, hover, tooltip_widget

    settle(app)
    if not hover(win.chat.main_view, f"tok:{ev.run}:{ev.index}"):
        print(f"error: token {ev.index} is not in the transcript", file=sys.stderr)
        win.close()
        return 2
    wait_for(app, lambda: tooltip_widget() is not None, 10, "the token's tooltip")
    settle(app, 0.3)
    ok = grab_with_tooltip(win).save(out)
    tip = tooltip_widget()
    text = tip.text() if tip is not None and hasattr(tip, "text") else ""
    win.close()
    print(f"{'saved' if ok else 'could not save'} {out}: hovering {ev.text!r}; tooltip {len(text)} characters")
    return 0 if ok else 1


def _save(app, win, out: str, note: str) -> int:
    """Grab the settled window into ``out``, close it, and print what was saved (``note`` follows the path)."""
    settle(app)
    ok = win.grab().save(out)
    win.close()
    print(f"{'saved' if ok else 'could not save'} {out}{note}")
    return 0 if ok else 1


def _lesson_shot(app, win, args) -> int:
    """A lesson at one step, its chat action done (what a class sees after pressing Run or Compare)."""
    ctl = win.controller
    conv = ctl.conversation
    runner = win.lessons.runner if win.lessons.start(args.lesson) else None
    if runner is None or not 1 <= args.step <= len(runner.lesson.steps):
        print(f"error: the lesson has steps 1 to {len(runner.lesson.steps)}" if runner else
              f"error: {ctl.notices.last_error}", file=sys.stderr)
        win.close()  # stops the inference thread
        return 2
    wait_for(app, lambda: not conv.busy, args.timeout, "the first step")
    runner.go(args.step - 1)
    settle(app, 0.2)
    wait_for(app, lambda: not conv.busy, args.timeout, "the step's answer")
    wait_for(app, lambda: not ctl.jobs.outstanding, 10, "the feature logits")
    return _save(app, win, args.out, f": step {args.step} {runner.lesson.steps[args.step - 1].title!r}: "
                                     f"{conv.last_answer()[:120]!r}")
