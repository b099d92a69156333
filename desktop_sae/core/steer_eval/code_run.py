"""Checking an answer to "Fix this code": take the code out of the answer, then run it with the snippet's tests in
a separate, isolated Python process under a timeout. Model-written code is never executed in this process."""

from __future__ import annotations

import ast
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_S = 5.0
MEMORY_BYTES = 512 * 1024 * 1024  # address-space limit of the checking process (POSIX)
OUTPUT_BYTES = 1024 * 1024  # largest file the checking process may write (its stdout/stderr go to files)
KEEP_OUTPUT = 2000  # characters of the process's output kept in a result

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
PYTHON = ("python", "py", "python3", "")  # fence languages taken as Python
_CODE_LINE = re.compile(r"^(\s+\S|def |class |import |from |@|return |[A-Za-z_][\w.]*\s*(=|\())")


@dataclass(frozen=True)
class RunResult:
    passed: bool
    reason: str  # "pass" | "no code" | "no function" | "syntax error" | "timeout" | "failed"
    returncode: int | None = None
    output: str = ""  # the end of the process's stdout + stderr


def function_name(code: str) -> str:
    """The name of the first function defined in ``code`` (the snippet's function)."""
    m = re.search(r"^\s*def\s+([A-Za-z_]\w*)", code, re.M)
    if not m:
        raise ValueError("the snippet defines no function")
    return m.group(1)


def extract_code(answer: str) -> str:
    """The code of an answer: its first fenced block marked python/py (or unmarked), else its first fenced block
    of any language, else its code-looking lines (a ``def`` and the indented lines under it, imports and
    assignments). An unclosed fence runs to the end of the answer (the answer may have hit the token limit)."""
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(answer)]
    for lang, body in blocks:
        if lang in PYTHON:
            return textwrap.dedent(body).strip("\n")
    if blocks:
        return textwrap.dedent(blocks[0][1]).strip("\n")
    lines, inside = [], False
    for line in answer.splitlines():
        if line.lstrip().startswith("def "):
            inside = True
        if _CODE_LINE.match(line) and (inside or not line[:1].isspace()) or (inside and not line.strip()):
            lines.append(line)
        elif inside and line.strip():
            inside = False
    return textwrap.dedent("\n".join(lines)).strip("\n")


def code_closed(answer: str) -> bool:
    """Whether a streamed answer already holds a closed python (or unmarked) fenced block: the code that
    ``extract_code`` takes is complete, so generation can stop there."""
    return any(m.group(0).endswith("```") and m.group(1).lower() in PYTHON for m in _FENCE.finditer(answer))


def defines(code: str, name: str) -> bool:
    """Whether ``code`` parses and defines a function ``name`` at its top level."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name for n in tree.body)


def _limits(timeout: float) -> Callable[[], None]:
    """preexec_fn for POSIX: memory, CPU time and file-size limits, no core dumps (best effort)."""
    import resource

    def apply() -> None:
        for lim, value in ((resource.RLIMIT_AS, MEMORY_BYTES), (resource.RLIMIT_CPU, int(timeout) + 1),
                           (resource.RLIMIT_FSIZE, OUTPUT_BYTES), (resource.RLIMIT_CORE, 0)):
            try:
                resource.setrlimit(lim, (value, value))
            except (ValueError, OSError):
                pass

    return apply


def _env() -> dict[str, str]:
    """A minimal environment: none of the parent's variables (tokens, keys) reach model-written code."""
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"}
    if os.name == "nt":  # Python on Windows needs these to start
        env.update({k: os.environ[k] for k in ("SYSTEMROOT", "SYSTEMDRIVE") if k in os.environ})
    return env


def run_with_test(code: str, test: str, timeout: float = TIMEOUT_S) -> RunResult:
    """Run ``code`` as the module ``solution`` and then ``test`` (asserts, with ``from solution import *``) in a
    fresh ``python -I -S`` process (isolated: no site-packages, no user site, PYTHON* variables ignored) in an
    empty temporary folder, stdin closed, a minimal environment, under ``timeout`` seconds (the whole process
    group is killed after it) and, on POSIX, memory/CPU/file-size limits. Passes only if the process exits 0 and
    printed a random token that only the end of the test prints (so ``sys.exit(0)`` in the code does not pass)."""
    if not code.strip():
        return RunResult(False, "no code")
    try:
        compile(code, "solution.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        return RunResult(False, "syntax error", None, str(e)[:KEEP_OUTPUT])
    token = secrets.token_hex(16)
    main = (f"import os, sys\nsys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n"  # -I leaves it out
            f"from solution import *\n\n{test}\n\nprint({token!r})\n")
    posix = os.name == "posix"
    with tempfile.TemporaryDirectory(prefix="desktop_sae_codefix_") as tmp:
        d = Path(tmp)
        (d / "solution.py").write_text(code + "\n", encoding="utf-8")
        (d / "check.py").write_text(main, encoding="utf-8")
        with open(d / "out.txt", "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "check.py"], cwd=d, env=_env(), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, preexec_fn=_limits(timeout) if posix else None, start_new_session=posix)
            try:
                rc = proc.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out, rc = True, None
                _kill(proc, posix)
        text = (d / "out.txt").read_bytes()[-4 * KEEP_OUTPUT:].decode("utf-8", "replace")
    if timed_out:
        return RunResult(False, "timeout", None, text[-KEEP_OUTPUT:])
    ok = rc == 0 and token in text
    return RunResult(ok, "pass" if ok else "failed", rc, text.replace(token, "").rstrip()[-KEEP_OUTPUT:])


def _kill(proc: subprocess.Popen, posix: bool) -> None:
    try:
        if posix:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def check_answer(answer: str, name: str, test: str, timeout: float = TIMEOUT_S) -> tuple[str, RunResult]:
    """(the code taken from the answer, the result of running it with the test). An answer whose code defines no
    function ``name`` fails without being run."""
    code = extract_code(answer)
    if not code.strip():
        return code, RunResult(False, "no code")
    if not defines(code, name):
        try:
            compile(code, "solution.py", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
            return code, RunResult(False, "syntax error", None, str(e)[:KEEP_OUTPUT])
        return code, RunResult(False, "no function")
    return code, run_with_test(code, test, timeout)
