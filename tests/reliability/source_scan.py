"""Static checks of the package source (an AST "grep"): unpickling calls and trust_remote_code defaults.
Each finding is "path:line: what", so a failing test names the place."""

from __future__ import annotations

import ast
from pathlib import Path

PICKLERS = {"pickle", "cPickle", "_pickle", "dill", "joblib", "cloudpickle", "jsonpickle", "shelve"}
UNPICKLE_ATTRS = {"load", "loads", "Unpickler", "read_pickle"}
FORBIDDEN_MODULES = {"dill", "joblib", "shelve", "cloudpickle", "jsonpickle"}
# names of those modules that only write pickles (the nnsight backend ships its model-side code by value)
PICKLING_ONLY = {"dump", "dumps", "register_pickle_by_value", "unregister_pickle_by_value"}


def _name(node) -> str:
    """Dotted name of a Name/Attribute chain ('np.load', 'torch.load'), else ''."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _name(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _kw(call: ast.Call, key: str):
    for k in call.keywords:
        if k.arg == key:
            return k.value
    return None


def _is_const(node, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def unpickling(source: str, where: str = "<source>") -> list[str]:
    """Calls and imports that can unpickle data."""
    out = []
    for node in ast.walk(ast.parse(source)):
        line = f"{where}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            out += [f"{line}: imports {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            writes_only = all(a.name in PICKLING_ONLY for a in node.names)
            if (root in FORBIDDEN_MODULES and not writes_only) or (
                root in PICKLERS and any(a.name in UNPICKLE_ATTRS for a in node.names)
            ):
                out.append(f"{line}: from {node.module} import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            head, _, attr = name.rpartition(".")
            if head.split(".")[0] in PICKLERS and attr in UNPICKLE_ATTRS:
                out.append(f"{line}: {name}(...) unpickles")
            elif attr == "read_pickle":
                out.append(f"{line}: {name}(...) unpickles")
            elif name in ("torch.load", "torch.serialization.load") and not _is_const(_kw(node, "weights_only"), True):
                out.append(f"{line}: {name}(...) without weights_only=True")
            elif (
                name in ("np.load", "numpy.load")
                and _kw(node, "allow_pickle") is not None
                and not _is_const(_kw(node, "allow_pickle"), False)
            ):
                out.append(f"{line}: {name}(..., allow_pickle=<not False>)")
    return _by_line(out)


def remote_code(source: str, where: str = "<source>") -> list[str]:
    """Places where trust_remote_code could be on without the user asking for it."""
    out = []
    key = "trust_remote_code"
    for node in ast.walk(ast.parse(source)):
        line = f"{where}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call):
            v = _kw(node, key)
            if v is not None and not isinstance(v, (ast.Name, ast.Attribute, ast.Call)) and not _is_const(v, False):
                out.append(f"{line}: {key}={ast.unparse(v)}")
            if (
                _name(node.func) == "getattr"
                and len(node.args) == 3
                and _is_const_str(node.args[1], key)
                and not _is_const(node.args[2], False)
            ):
                out.append(f"{line}: getattr(..., {key!r}, {ast.unparse(node.args[2])})")
            if _name(node.func).endswith("add_argument") and any(
                _is_const_str(a, "--trust-remote-code") for a in node.args
            ):
                if not _is_const_str(_kw(node, "action"), "store_true") or _kw(node, "default") is not None:
                    out.append(f"{line}: --trust-remote-code must be a plain store_true flag")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            pos = a.posonlyargs + a.args
            pairs = list(zip(pos[len(pos) - len(a.defaults) :], a.defaults)) + list(zip(a.kwonlyargs, a.kw_defaults))
            out += [
                f"{line}: def {node.name}({key}={ast.unparse(d)})"
                for p, d in pairs
                if p.arg == key and d is not None and not _is_const(d, False)
            ]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == key:
            if node.value is not None and not _is_const(node.value, False):
                out.append(f"{line}: {key} = {ast.unparse(node.value)}")
    return _by_line(out)


def _by_line(found: list[str]) -> list[str]:
    return sorted(found, key=lambda f: int(f.split(":")[-2]) if f.split(":")[-2].isdigit() else 0)


def _is_const_str(node, s: str) -> bool:
    return isinstance(node, ast.Constant) and node.value == s


def scan_package(check, root: Path) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        out += check(path.read_text(encoding="utf-8"), str(path.relative_to(root.parent)))
    return out
