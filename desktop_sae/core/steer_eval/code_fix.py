"""Does steering a code-error feature negative help the model fix code? Each small buggy function is given to the
model as "Fix this code:" + the code; the answer's code is run with the snippet's tests in an isolated subprocess
(``code_run``). Per snippet x seed the default answer and the steered answer come from the same seed; the feature
and strength are chosen on the selection half of the snippets and reported on the disjoint report half."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..steering.specs import NO_STEERING, SteeringConfig, SteerSpec
from ..support.paths import resources_dir
from .answers import generate_answer
from .code_run import TIMEOUT_S, check_answer, code_closed, function_name
from .reading import answer_logprobs, mean_nll

if TYPE_CHECKING:
    from ..engine.generation import GenerationResult
    from ..engine.session import Session

SPLITS = ("selection", "report")


@dataclass(frozen=True)
class Snippet:
    id: str
    split: str  # "selection" | "report"
    bug: str  # what is wrong, one line
    code: str  # the buggy function
    test: str  # asserts that pass only for a correct function
    fixed: str = ""  # a correct version (the shipped file's check that the test can pass)

    @property
    def name(self) -> str:
        return function_name(self.code)


def recorded_features(root: Path | None = None) -> tuple[int, ...]:
    """The feature the shipped fix-code record chose (``demo_features.json`` → ``code_fix`` → ``chosen``): the bundled
    SAE's code-error feature; empty when there is no record."""
    try:
        doc = json.loads(((root or resources_dir()) / "demo_features.json").read_text(encoding="utf-8"))
        return (int(doc["code_fix"]["chosen"]["feature"]),)
    except (OSError, ValueError, KeyError, TypeError):
        return ()


@dataclass(frozen=True)
class FixSettings:
    # candidates, each steered alone; the best is chosen on the selection half (default: the recorded one)
    features: tuple[int, ...] = field(default_factory=recorded_features)
    strengths: tuple[float, ...] = (-1.0, -2.0, -4.0)  # x the feature's max activation
    method: str = "add"
    seeds: tuple[int, ...] = (0, 1, 2)
    max_new_tokens: int = 128
    temperature: float = 0.5
    frequency_penalty: float = 0.0  # the app's 1.0 punishes repeating identifiers, which code must do
    timeout: float = TIMEOUT_S
    nll: bool = True  # mean NLL of each answer under the unsteered model (one forward pass per answer)
    stop_after_code: bool = True  # end an answer once its first python block is closed (the rest is not checked)


@dataclass(frozen=True)
class Attempt:
    snippet: str
    seed: int
    text: str
    code: str  # what was taken from the answer and run
    passed: bool
    reason: str  # code_run.RunResult.reason
    n_tokens: int
    nll: float
    output: str = ""  # the end of the check's output (the assertion or error)


def snippets_path(root: Path | None = None) -> Path:
    return (root or resources_dir()) / "steer_eval" / "buggy_snippets.jsonl"


def load_snippets(path: str | Path | None = None) -> list[Snippet]:
    """The snippets of a JSON-lines file (default: the shipped ones); ids must be unique, splits known."""
    p = Path(path) if path is not None else snippets_path()
    out = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            s = Snippet(str(d["id"]), str(d.get("split", "")), str(d.get("bug", "")), str(d["code"]), str(d["test"]),
                        str(d.get("fixed", "")))
            s.name  # noqa: B018 (checks the code defines a function)
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{p}:{n}: not a snippet ({e})") from None
        if s.split not in SPLITS:
            raise ValueError(f"{p}:{n}: split must be one of {', '.join(SPLITS)}, got {s.split!r}")
        out.append(s)
    ids = [s.id for s in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{p}: snippet ids must be unique")
    return out


def fix_prompt(code: str) -> str:
    return f"Fix this code:\n```python\n{code}\n```"


def steering(features: Sequence[int], strength: float, method: str = "add") -> SteeringConfig:
    return SteeringConfig(tuple(SteerSpec(int(f), float(strength), "max", method) for f in features))


def fix_rate(attempts: Sequence[Attempt]) -> dict:
    """Share of attempts whose code passed its test, with the counts, why the others failed and the mean NLL."""
    n, k = len(attempts), sum(a.passed for a in attempts)
    nlls = [a.nll for a in attempts if math.isfinite(a.nll)]
    return {"n": n, "fixed": k, "rate": k / n if n else math.nan,
            "reasons": dict(Counter(a.reason for a in attempts).most_common()),
            "nll_mean": sum(nlls) / len(nlls) if nlls else math.nan,
            "tokens_mean": sum(a.n_tokens for a in attempts) / n if n else math.nan}


def sign_test(b: int, c: int) -> float:
    """Exact two-sided sign test (McNemar) p-value for b vs c discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired(default: Sequence[Attempt], steered: Sequence[Attempt]) -> dict:
    """Same snippet and seed, default vs steered: how many pairs only one of them fixed, and the sign test."""
    d = {(a.snippet, a.seed): a.passed for a in default}
    pairs = [(d[(a.snippet, a.seed)], a.passed) for a in steered if (a.snippet, a.seed) in d]
    both = sum(x and y for x, y in pairs)
    only_steered = sum(y and not x for x, y in pairs)
    only_default = sum(x and not y for x, y in pairs)
    return {"pairs": len(pairs), "both": both, "only_steered": only_steered, "only_default": only_default,
            "neither": len(pairs) - both - only_steered - only_default,
            "sign_test_p": sign_test(only_steered, only_default)}


def pick(rows: Sequence[dict]) -> dict:
    """The selection row with the most fixes; ties: the weaker |strength|, then the first candidate feature."""
    if not rows:
        raise ValueError("nothing to choose from")
    return max(enumerate(rows), key=lambda ir: (ir[1]["fixed"], -abs(ir[1]["strength"]), -ir[0]))[1]


class _Runner:
    """Generates answers and checks them; progress counts answers."""

    def __init__(self, session: Session, settings: FixSettings, total: int,
                 progress: Callable[[float, str], None] | None, cancelled: Callable[[], bool] | None) -> None:
        self.s, self.cfg = session, settings
        self.total, self.done = max(total, 1), 0
        self.progress, self.cancelled = progress, cancelled or (lambda: False)

    def generate(self, prompt: str, seed: int, st: SteeringConfig) -> GenerationResult:
        """One answer; with ``stop_after_code`` it ends once its first python block is closed."""
        streamed: list[str] = []
        stop = self.cfg.stop_after_code
        res = generate_answer(self.s, prompt, seed, self.cfg.max_new_tokens, st,
                              cancel=lambda: self.cancelled() or (stop and code_closed("".join(streamed))),
                              on_token=lambda e: streamed.append(e.delta), temperature=self.cfg.temperature,
                              frequency_penalty=self.cfg.frequency_penalty)
        if self.cancelled():
            raise InterruptedError("cancelled")
        return res

    def attempts(self, snippets: Sequence[Snippet], st: SteeringConfig, label: str) -> list[Attempt]:
        out = []
        for sn in snippets:
            prompt = fix_prompt(sn.code)
            for seed in self.cfg.seeds:
                if self.cancelled():
                    raise InterruptedError("cancelled")
                res = self.generate(prompt, seed, st)
                ids = list(res.answer_ids)
                nll = math.nan
                if self.cfg.nll and ids:
                    nll = mean_nll(answer_logprobs(self.s, self.s.prompt_ids(prompt), ids))
                code, run = check_answer(res.text, sn.name, sn.test, self.cfg.timeout)
                out.append(Attempt(sn.id, seed, res.text, code, run.passed, run.reason, len(ids), nll,
                                   run.output[-300:]))
                self.done += 1
                if self.progress:
                    self.progress(min(1.0, self.done / self.total), f"{label}: answer {self.done} of {self.total}")
        return out


def _answers(attempts: Sequence[Attempt]) -> list[dict]:
    return [asdict(a) for a in attempts]


def evaluate_code_fix(session: Session, snippets: Sequence[Snippet], settings: FixSettings | None = None,
                      progress: Callable[[float, str], None] | None = None,
                      cancelled: Callable[[], bool] | None = None, with_answers: bool = True) -> dict:
    """Choose (feature, strength) by fix rate on the selection half, report it against the default on the report
    half; returns a JSON-ready dict (docs/STEERING_EVAL.md, "Fixing code")."""
    t0 = time.perf_counter()
    settings = settings or FixSettings()
    if not settings.strengths or not settings.features:
        raise ValueError("give at least one feature and one strength")
    sel = [s for s in snippets if s.split == "selection"]
    rep = [s for s in snippets if s.split == "report"]
    if not sel or not rep:
        raise ValueError("the snippets need both a selection and a report half")
    if {s.id for s in sel} & {s.id for s in rep}:
        raise ValueError("a snippet may be in one split only")
    n_sel, n_rep = len(sel) * len(settings.seeds), len(rep) * len(settings.seeds)
    conds = [(f, s) for f in settings.features for s in settings.strengths]
    run = _Runner(session, settings, n_sel * (1 + len(conds)) + 2 * n_rep, progress, cancelled)

    sel_default = run.attempts(sel, NO_STEERING, "selection, default")
    rows = []
    for f, s in conds:
        att = run.attempts(sel, steering([f], s, settings.method), f"selection, feature {f} x{s:g}")
        row = {"feature": f, "strength": s, **fix_rate(att), "paired": paired(sel_default, att)}
        if with_answers:
            row["answers"] = _answers(att)
        rows.append(row)
    chosen = pick(rows)

    rep_default = run.attempts(rep, NO_STEERING, "report, default")
    rep_steered = run.attempts(rep, steering([chosen["feature"]], chosen["strength"], settings.method),
                               f"report, feature {chosen['feature']} x{chosen['strength']:g}")
    per_snippet = {sn.id: {"default": sum(a.passed for a in rep_default if a.snippet == sn.id),
                           "steered": sum(a.passed for a in rep_steered if a.snippet == sn.id)} for sn in rep}
    differ = [j for j, (d, s) in enumerate(zip(rep_default, rep_steered)) if d.passed != s.passed]
    examples = [{"snippet": rep_default[j].snippet, "seed": rep_default[j].seed,
                 "default": rep_default[j].text, "default_passed": rep_default[j].passed,
                 "steered": rep_steered[j].text, "steered_passed": rep_steered[j].passed}
                for j in (differ + [j for j in range(len(rep_default)) if j not in differ])[:4]]
    sel_d, rep_d = fix_rate(sel_default), fix_rate(rep_default)
    report = {"default": {**rep_d, **({"answers": _answers(rep_default)} if with_answers else {})},
              "steered": {"feature": chosen["feature"], "strength": chosen["strength"], **fix_rate(rep_steered),
                          **({"answers": _answers(rep_steered)} if with_answers else {})},
              "paired": paired(rep_default, rep_steered), "per_snippet": per_snippet}
    return {
        "settings": {**asdict(settings), "strength_unit": "x max act"},
        "prompt": fix_prompt("<code>"),
        "splits": {"selection": [s.id for s in sel], "report": [s.id for s in rep]},
        "selection": {"default": {**sel_d, **({"answers": _answers(sel_default)} if with_answers else {})},
                      "steered": rows},
        "chosen": {"feature": chosen["feature"], "strength": chosen["strength"],
                   "rule": "most fixes on the selection half; ties: weaker |strength|, then the first feature"},
        "report": report,
        "examples": examples,
        "seconds": time.perf_counter() - t0,
    }


METHOD_TEXT = (
    "each buggy function is sent as the chat user message 'Fix this code:' + the code in a ```python fence; the "
    "answer's first python (or unmarked) fenced block, else its def and the indented lines under it, is run as "
    "module 'solution' with the snippet's asserts in a fresh 'python -I -S' process (empty temp dir, minimal "
    "environment, stdin closed, {timeout:g} s timeout, 512 MiB address space on POSIX); fixed = exit status 0 and "
    "the test's end reached; an answer whose code defines no function of the snippet's name fails. Per snippet x "
    "seed the default and the steered answer come from the same seed; the feature and strength with the most fixes "
    "on the selection half (ties: weaker |strength|) is the one measured on the report half")


def _brief(r: dict) -> dict:
    return {"fixed": r["fixed"], "n": r["n"], "rate": r["rate"], "nll_mean": r["nll_mean"],
            "tokens_mean": r["tokens_mean"], "reasons": r["reasons"]}


def demo_record(res: dict, date: str, command: str = "") -> dict:
    """The compact summary of an ``evaluate_code_fix`` result kept in demo_features.json under "code_fix"."""
    cfg = res["settings"]
    rows = [{"feature": r["feature"], "strength": r["strength"], **_brief(r),
             "only_steered": r["paired"]["only_steered"], "only_default": r["paired"]["only_default"]}
            for r in res["selection"]["steered"]]
    rep = res["report"]
    return {
        "date": date,
        "method": METHOD_TEXT.format(timeout=cfg["timeout"]),
        "steering": f"{cfg['method']}, strength in units of the feature's max activation",
        "features": list(cfg["features"]),
        "strengths": list(cfg["strengths"]),
        "seeds": list(cfg["seeds"]),
        "sampling": f"temperature {cfg['temperature']:g}, frequency penalty {cfg['frequency_penalty']:g}, at most "
                    f"{cfg['max_new_tokens']} new tokens"
                    + (", an answer ends once its python block is closed" if cfg["stop_after_code"] else ""),
        "snippets": "resources/steer_eval/buggy_snippets.jsonl",
        "split": {"selection": len(res["splits"]["selection"]), "report": len(res["splits"]["report"]),
                  "rule": "feature and strength chosen on the selection half only; the report half is measured "
                          "once, with the chosen one and the default"},
        "chosen": {"feature": res["chosen"]["feature"], "strength": res["chosen"]["strength"]},
        "selection": {"default": _brief(res["selection"]["default"]), "steered": rows},
        "report": {"default": _brief(rep["default"]), "steered": _brief(rep["steered"]),
                   "paired": rep["paired"], "per_snippet": rep["per_snippet"]},
        "command": command,
        "seconds": res["seconds"],
    }
