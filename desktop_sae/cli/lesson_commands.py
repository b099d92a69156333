"""``desktop-sae lessons`` lists the shipped lessons; ``desktop-sae lesson NAME --screenshots DIR`` plays every step
of one in a real window offscreen (through the sub-models, as a class would) and saves one PNG per step."""

from __future__ import annotations

import json
import os
import sys

from .common import add_model_args


def register(sub) -> None:
    p = sub.add_parser("lessons", help="list the shipped lessons")
    p.add_argument("--json", action="store_true")
    p.add_argument("--check", nargs="+", metavar="FILE", help="validate lesson files you wrote (exit 1 on any error)")
    p.set_defaults(func=cmd_lessons)
    p = sub.add_parser("lesson", help="play a lesson offscreen, one screenshot per step")
    p.add_argument("name", help="lesson id (see 'desktop-sae lessons') or a lesson .json file")
    p.add_argument("--screenshots", required=True, metavar="DIR", help="folder for the PNGs (created)")
    add_model_args(p)
    p.add_argument("--size", default="1480x920", help="window size WxH")
    p.add_argument("--present", action="store_true", help="in presentation mode (F11)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per step at most")
    p.set_defaults(func=cmd_lesson)


def cmd_lessons(args) -> int:
    from ..core.classroom.lessons import LessonError, list_lessons, load_lesson

    if args.check:
        bad = 0
        for path in args.check:
            try:
                les = load_lesson(path)
                print(f"ok    {path}: {les.title} ({len(les.steps)} steps)")
            except LessonError as e:
                bad += 1
                print(f"error {e}", file=sys.stderr)
        return 1 if bad else 0

    errors: list[str] = []
    infos = list_lessons(errors=errors)
    if args.json:
        rows = [
            {
                "id": i.id,
                "title": i.title,
                "summary": i.summary,
                "level": i.level,
                "minutes": i.est_minutes,
                "steps": i.steps,
                "path": str(i.path),
            }
            for i in infos
        ]
        print(json.dumps({"lessons": rows, "errors": errors}, indent=2, ensure_ascii=False))
    else:
        for i in infos:
            print(f"{i.id:22s} {i.title}  ({i.steps} steps, ~{i.est_minutes} min, {i.level})")
        for e in errors:
            print(f"skipped: {e}", file=sys.stderr)
    return 0


def cmd_lesson(args) -> int:
    from ..core.classroom.lessons import LessonAction
    from .screenshot import offscreen_window, settle, wait_for

    app, win = offscreen_window(args)
    if win is None:
        return 2
    ctl = win.controller
    if args.present:
        win.views.set_presentation(True)
    if not win.lessons.start(args.name) or win.lessons.runner is None:
        print(f"error: {ctl.notices.last_error}", file=sys.stderr)
        win.close()
        return 2
    os.makedirs(args.screenshots, exist_ok=True)
    runner, saved = win.lessons.runner, 0
    n = len(runner.lesson.steps)
    for i in range(n):
        if i:
            runner.next()
        wait_for(app, lambda: not ctl.jobs.outstanding and not ctl.conversation.busy, args.timeout, f"step {i + 1}")
        settle(app, 0.4)
        path = os.path.join(args.screenshots, f"{runner.lesson.id}-{i + 1:02d}.png")
        ok = win.grab().save(path)
        saved += ok
        print(f"{'saved' if ok else 'could not save'} {path}: {runner.step.title}", flush=True)
        graph = win.graph_view
        if runner.step.action == LessonAction.TRACE and graph is not None and graph.isVisible():  # its own window
            gpath = path[:-4] + "-graph.png"
            print(f"{'saved' if graph.grab().save(gpath) else 'could not save'} {gpath}: the graph", flush=True)
    win.lessons.end()
    win.close()
    return 0 if saved == n else 1
