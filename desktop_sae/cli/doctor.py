"""``desktop-sae doctor``: what the start-up checks look at and every problem found, with what to do.
``--packages`` prints only the Debian/Ubuntu packages the desktop is missing (for ``packaging/install.sh``)."""

from __future__ import annotations

import json
import sys
import textwrap


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check Qt's system libraries, the display, the model and the user folders")
    p.add_argument("--model", default=None, help="check for this model instead of the bundled one")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.add_argument("--packages", action="store_true",
                   help="print only the missing Debian/Ubuntu packages the desktop needs (space-separated)")
    p.set_defaults(func=cmd_doctor)


def print_problems(problems, file=None) -> None:
    """Each problem as a wrapped paragraph, 'error: …' / 'warning: …' (on stderr unless ``file``)."""
    for p in problems:
        print(textwrap.fill(p.text, width=100, subsequent_indent="  ", break_on_hyphens=False,
                            break_long_words=False), file=file or sys.stderr)


def cmd_doctor(args) -> int:
    from ..core.diagnostics import startup_checks as diagnostics

    if args.packages:
        packages, unknown = diagnostics.desktop_packages()
        print(" ".join(packages))
        if unknown:
            print(f"no known package for: {' '.join(unknown)}", file=sys.stderr)
        return 0
    r = diagnostics.report(args.model)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0 if r["ok"] else 1
    env = " ".join(f"{k}={v if v is not None else '(unset)'}" for k, v in r["environment"].items())
    print(f"desktop-sae {r['version']}{' (bundle)' if r['frozen'] else ''} on Python {r['python_version']} "
          f"({r['python']})")
    print(f"  Qt        PySide6 in {r['pyside6'] or '(not installed)'}")
    print(f"  display   {env}")
    for name, p in r["platforms"].items():
        state = f"missing {', '.join(p['missing'])}" if p["missing"] else "libraries ok"
        print(f"  platform  {name}: {p['plugin'] or '(no plugin file)'}: {state}")
    for name, f in r["folders"].items():
        print(f"  {name:<9} {f['path']}: {f['problem'] or 'writable'} (set {f['env']} to move it)")
    m = r["model"]
    print(f"  model     {m['gguf'] or '(the bundled model is not installed)'}")
    print(f"  converted {m['converted'] or 'not converted yet (the first start converts it, 20-30 s)'}")
    problems = [diagnostics.Problem(**p) for p in r["problems"]]
    if problems:
        print()
        print_problems(problems, file=sys.stdout)
    else:
        print("\nno problems found")
    return 0 if r["ok"] else 1
