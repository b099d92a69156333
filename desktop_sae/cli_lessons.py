"""``desktop-sae lessons``: list the lessons (``--json`` for one JSON object), or check lesson files a teacher
wrote (``--check FILE...``). ``register(subparsers)`` adds the command; ``cmd_lessons(args)`` runs it."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("lessons", help="list the classroom lessons, or check lesson files")
    p.add_argument("--folder", default=None, help="lessons folder (default: the shipped lessons)")
    p.add_argument("--check", nargs="+", default=None, metavar="FILE", help="validate these lesson files")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_lessons)


def cmd_lessons(args: argparse.Namespace) -> int:
    from .core.lessons import LessonError, lessons_dir, list_lessons, load_lesson

    if args.check:
        results = []
        for f in args.check:
            try:
                les = load_lesson(f)
                results.append({"file": f, "ok": True, "id": les.id, "steps": len(les.steps)})
            except LessonError as e:
                results.append({"file": f, "ok": False, "error": str(e)})
        if args.json:
            print(json.dumps({"results": results}))
        else:
            for r in results:
                print(f"ok    {r['file']} ({r['steps']} steps)" if r["ok"] else f"error {r['error']}")
        return 0 if all(r["ok"] for r in results) else 2
    errors: list[str] = []
    infos = list_lessons(args.folder, errors=errors)
    if args.json:
        print(json.dumps({"folder": str(args.folder or lessons_dir()), "errors": errors, "lessons": [
            {"id": i.id, "title": i.title, "summary": i.summary, "level": i.level, "est_minutes": i.est_minutes,
             "steps": i.steps} for i in infos]}))
    else:
        for i in infos:
            print(f"{i.id:<20} {i.title}  ({i.steps} steps, ~{i.est_minutes} min, {i.level})")
        if not infos:
            print("no lessons found")
        for e in errors:
            print(f"skipped: {e}", file=sys.stderr)
    return 0
