"""Lessons: versioned JSON files in ``resources/lessons/`` that walk a class through the app step by step.

``load_lesson`` / ``parse_lesson`` validate a whole file before anything uses it and return frozen dataclasses;
a bad file raises ``LessonError`` naming the file, the step (1-based) and its title, and the field. Unknown keys
are errors, sizes are bounded, narration is a small safe HTML subset, and image paths must stay inside the
lessons folder. Nothing in a lesson is ever evaluated. The schema is documented in docs/LESSONS.md.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..support import paths
from ..support.errors import DesktopSAEError
from ..support.text_enum import TextEnum
from .narration import check_narration

SCHEMA_VERSION = 1
MAX_FILE_BYTES = 256 * 1024
MAX_STEPS = 40
LEVELS = ("beginner", "intermediate", "advanced")
PANELS = ("chat", "steering", "features", "detail", "plot", "tokens", "toy", "neuron")


class LessonAction(TextEnum):
    """What a step does once its settings are applied: ask its prompt (``RUN``), side by side (``COMPARE``), or
    open a panel and start it (the others; the window carries these out)."""

    NONE = "none"
    RUN = "run"
    COMPARE = "compare"
    SWEEP = "sweep"
    TRAIN_TOY = "train_toy"
    TOY_SAE = "toy_sae"
    RAINBOW = "rainbow"
    QUIZ = "quiz"
    NEURON = "neuron"
    TRACE = "trace"
    FREE_PLAY = "free_play"


class TraceAblate(TextEnum):
    """What a ``trace`` step does after its graph: nothing, or ablate the graph's strongest positive feature."""

    NONE = "none"
    TOP = "top"


ACTIONS = tuple(a.value for a in LessonAction)
METHODS = ("add", "clamp", "orth")
HIGHLIGHTS = ("chat_input", "send_button", "compare_button", "answer_view", "steering_panel", "strength_slider",
              "method_choice", "preset_menu", "feature_list", "feature_search", "feature_detail", "token_view",
              "activation_plot", "sweep_plot", "toy_plot", "toy_train_button", "sparsity_slider", "sae_plot",
              "rainbow_plot", "neuron_view", "quiz_panel")
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")
MAX_STRENGTH = 100.0  # x max activation


class LessonError(DesktopSAEError):
    """A lesson file is missing, malformed or names something the app does not have."""


@dataclass(frozen=True)
class SteerItem:
    concept: str  # a demo concept name (resources/demo_features.json)
    strength: float | None = None  # x the feature's max activation; None: the concept's measured default
    method: str | None = None  # add | clamp | orth; None: the concept's default


@dataclass(frozen=True)
class SamplingOverrides:
    temperature: float | None = None
    seed: int | None = None
    max_new_tokens: int | None = None


@dataclass(frozen=True)
class LessonStep:
    title: str
    narration: str  # safe HTML subset, see NARRATION_TAGS
    prompt: str | None = None
    system: str | None = None
    preset: str | None = None  # built-in preset, by file name without .json (resources/presets/)
    steer: tuple[SteerItem, ...] | None = None  # None: keep the learner's steering; (): clear it
    panels: tuple[str, ...] = ()
    highlight: str | None = None
    action: LessonAction = LessonAction.NONE
    # validated per action; lists become tuples
    action_args: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    sampling: SamplingOverrides = SamplingOverrides()
    image: Path | None = None  # absolute path, checked to lie inside the lessons folder


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    summary: str
    level: str
    est_minutes: int
    steps: tuple[LessonStep, ...]
    path: Path | None = None


@dataclass(frozen=True)
class LessonInfo:
    id: str
    title: str
    summary: str
    level: str
    est_minutes: int
    steps: int
    path: Path


def lessons_dir() -> Path:
    """The shipped lessons folder."""
    return paths.resources_dir() / "lessons"


def known_concepts(folder: Path | None = None) -> frozenset[str]:
    """Demo concept names from ``demo_features.json`` beside ``folder`` (default: the shipped resources)."""
    for base in ([Path(folder).parent] if folder is not None else []) + [paths.resources_dir()]:
        f = base / "demo_features.json"
        if f.is_file():
            try:
                d = json.loads(f.read_text(encoding="utf-8"))
                return frozenset(c["concept"] for c in d["concepts"] if isinstance(c.get("concept"), str))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                return frozenset()
    return frozenset()


def known_presets(folder: Path | None = None) -> frozenset[str]:
    """Built-in preset file names (without .json) from ``presets/`` beside ``folder`` (default: shipped)."""
    for base in ([Path(folder).parent] if folder is not None else []) + [paths.resources_dir()]:
        if (base / "presets").is_dir():
            return frozenset(p.stem for p in (base / "presets").glob("*.json"))
    return frozenset()


# --- field checks --------------------------------------------------------------------------------------------
class _Where:
    def __init__(self, name: str, step: int | None = None, title: str | None = None) -> None:
        self.name, self.step, self.title = name, step, title

    def fail(self, field: str, msg: str) -> LessonError:
        at = f"lesson {self.name!r}"
        if self.step is not None:
            at += f", step {self.step}" + (f" ({self.title!r})" if self.title else "")
        return LessonError(f"{at}: field {field!r}: {msg}")


def _text(w: _Where, field: str, v: object, max_len: int, empty: bool = False) -> str:
    if not isinstance(v, str):
        raise w.fail(field, f"must be a text, not {_type(v)}")
    if len(v) > max_len or (not empty and not v.strip()):
        raise w.fail(field, f"must be a non-empty text of at most {max_len} characters" if not empty
                     else f"must be at most {max_len} characters")
    return v


def _int(w: _Where, field: str, v: object, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise w.fail(field, f"must be a whole number in [{lo}, {hi}], got {v!r}")
    return v


def _num(w: _Where, field: str, v: object, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise w.fail(field, f"must be a number in [{lo:g}, {hi:g}], got {v!r}")
    return float(v)


def _choice(w: _Where, field: str, v: object, options: Collection[str]) -> str:
    if not isinstance(v, str) or v not in options:
        raise w.fail(field, f"{v!r} is not one of {', '.join(sorted(options))}")
    return v


def _obj(w: _Where, field: str, v: object, allowed: Collection[str], required: Iterable[str] = ()) -> dict:
    if not isinstance(v, dict):
        raise w.fail(field, f"must be an object, not {_type(v)}")
    for k in v:
        if k not in allowed:
            allowed_txt = ", ".join(sorted(allowed)) or "none"
            raise w.fail(f"{field}.{k}" if field else k, f"unknown key (allowed: {allowed_txt})")
    for k in required:
        if k not in v:
            raise w.fail(f"{field}.{k}" if field else k, "is required")
    return v


def _list(w: _Where, field: str, v: object, lo: int, hi: int) -> list:
    if not isinstance(v, list) or not lo <= len(v) <= hi:
        got = _type(v) if not isinstance(v, list) else len(v)
        raise w.fail(field, f"must be a list of {lo} to {hi} items, got {got}")
    return v


def _type(v: object) -> str:
    return {dict: "an object", list: "a list", str: "a text", bool: "true/false", type(None): "null"}.get(
        type(v), "a number" if isinstance(v, (int, float)) else type(v).__name__)


# --- action arguments ----------------------------------------------------------------------------------------
_SEED = (0, 2**31 - 1)
_TOY = {"n": (_int, 2, 20), "m": (_int, 1, 10), "sparsity": (_num, 0.0, 0.999), "importance_decay": (_num, 0.01, 1.0),
        "seed": (_int, *_SEED), "steps": (_int, 10, 20_000)}
_ARGS: dict[str, dict[str, tuple]] = {
    "none": {}, "run": {}, "free_play": {},
    "compare": {"prompts": ("texts", 1, 4, 2000)},
    "sweep": {"strengths": ("numbers", 2, 12), "concept": ("concept",)},
    "train_toy": _TOY,
    "toy_sae": {**_TOY, "latents": (_int, 1, 256), "l1": (_num, 0.0, 10.0)},
    "rainbow": {"colours": (_int, 4, 32), "seed": (_int, *_SEED)},
    "quiz": {"rounds": (_int, 1, 20), "seed": (_int, *_SEED)},
    "neuron": {"texts": ("texts", 2, 12, 500), "layer": (_int, 0, 63)},
    "trace": {"answer": (_text, 300), "alt": (_text, 40), "ablate": ("enum", TraceAblate)},
}
_REQUIRED_ARGS = {"sweep": ("strengths",), "neuron": ("texts",), "trace": ("answer",)}


def _action_args(w: _Where, action: str, raw: object, concepts: Collection[str]) -> Mapping[str, Any]:
    spec = _ARGS[action]
    d = _obj(w, "action_args", {} if raw is None else raw, spec, _REQUIRED_ARGS.get(action, ()))
    out: dict[str, Any] = {}
    for k, v in d.items():
        f, kind = f"action_args.{k}", spec[k]
        if kind[0] == "texts":
            items = _list(w, f, v, kind[1], kind[2])
            out[k] = tuple(_text(w, f"{f}[{i + 1}]", t, kind[3]) for i, t in enumerate(items))
        elif kind[0] == "numbers":
            out[k] = tuple(_num(w, f"{f}[{i + 1}]", x, -MAX_STRENGTH, MAX_STRENGTH)
                           for i, x in enumerate(_list(w, f, v, kind[1], kind[2])))
        elif kind[0] == "concept":
            out[k] = _choice(w, f, v, concepts)
        elif kind[0] == "enum":
            out[k] = kind[1](_choice(w, f, v, [e.value for e in kind[1]]))
        else:
            out[k] = kind[0](w, f, v, *kind[1:])
    if action in ("train_toy", "toy_sae") and out.get("m", 2) > out.get("n", 5):
        raise w.fail("action_args.m", f"must not exceed n ({out.get('n', 5)}), got {out['m']}")
    return MappingProxyType(out)


# --- steps and lessons ---------------------------------------------------------------------------------------
_STEP_KEYS = ("title", "narration", "prompt", "system", "preset", "steer", "panels", "highlight", "action",
              "action_args", "sampling", "image")
_LESSON_KEYS = ("schema", "id", "title", "summary", "level", "est_minutes", "steps")


def _steer(w: _Where, v: object, concepts: Collection[str]) -> tuple[SteerItem, ...]:
    items = []
    for i, e in enumerate(_list(w, "steer", v, 0, 8)):
        f = f"steer[{i + 1}]"
        _obj(w, f, e, ("concept", "strength", "method"), ("concept",))
        items.append(SteerItem(_choice(w, f"{f}.concept", e["concept"], concepts),
                               None if "strength" not in e
                               else _num(w, f"{f}.strength", e["strength"], -MAX_STRENGTH, MAX_STRENGTH),
                               None if "method" not in e else _choice(w, f"{f}.method", e["method"], METHODS)))
    return tuple(items)


def _image(w: _Where, v: object, folder: Path | None) -> Path:
    rel = _text(w, "image", v, 200)
    if folder is None:
        raise w.fail("image", "an image needs the lesson to be loaded from its folder")
    root = Path(folder).resolve()
    p = (root / rel).resolve()
    if Path(rel).is_absolute() or root not in p.parents:
        raise w.fail("image", f"{rel!r} must be a relative path inside the lessons folder")
    if p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
        raise w.fail("image", f"{rel!r} is not an image file ({', '.join(IMAGE_SUFFIXES)}) in the lessons folder")
    return p


def _step(w: _Where, d: object, concepts: Collection[str], presets: Collection[str], folder: Path | None) -> LessonStep:
    if not isinstance(d, dict):
        raise w.fail("steps", f"each step must be an object, not {_type(d)}")
    title = d.get("title")
    w.title = title if isinstance(title, str) and len(title) <= 80 else None
    _obj(w, "", d, _STEP_KEYS, ("title", "narration"))
    title = _text(w, "title", title, 80)
    narration = _text(w, "narration", d["narration"], 8000)
    if (problem := check_narration(narration)) is not None:
        raise w.fail("narration", problem)
    kw: dict[str, Any] = {}
    for k in ("prompt", "system"):
        if d.get(k) is not None:
            kw[k] = _text(w, k, d[k], 4000)
    if "preset" in d:
        kw["preset"] = _choice(w, "preset", d["preset"], presets)
    if "steer" in d:
        if "preset" in d:
            raise w.fail("steer", "give either 'preset' or 'steer', not both")
        kw["steer"] = _steer(w, d["steer"], concepts)
    if "panels" in d:
        names = _list(w, "panels", d["panels"], 0, len(PANELS))
        panels = [_choice(w, f"panels[{i + 1}]", p, PANELS) for i, p in enumerate(names)]
        if len(set(panels)) != len(panels):
            raise w.fail("panels", "names a panel twice")
        kw["panels"] = tuple(panels)
    if "highlight" in d:
        kw["highlight"] = _choice(w, "highlight", d["highlight"], HIGHLIGHTS)
    action = kw["action"] = LessonAction(_choice(w, "action", d.get("action", "none"), ACTIONS))
    kw["action_args"] = args = _action_args(w, action, d.get("action_args"), concepts)
    if action in ("run", "sweep", "trace") and not kw.get("prompt"):
        raise w.fail("prompt", f"action {action.value!r} needs a prompt")
    if action == "compare" and not (kw.get("prompt") or args.get("prompts")):
        raise w.fail("prompt", "action 'compare' needs a prompt (or action_args.prompts)")
    if "sampling" in d:
        s = _obj(w, "sampling", d["sampling"], ("temperature", "seed", "max_new_tokens"))
        kw["sampling"] = SamplingOverrides(
            None if "temperature" not in s else _num(w, "sampling.temperature", s["temperature"], 0.0, 2.0),
            None if "seed" not in s else _int(w, "sampling.seed", s["seed"], *_SEED),
            None if "max_new_tokens" not in s else _int(w, "sampling.max_new_tokens", s["max_new_tokens"], 1, 512))
    if "image" in d:
        kw["image"] = _image(w, d["image"], folder)
    return LessonStep(title, narration, **kw)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"key {k!r} appears twice")
        d[k] = v
    return d


def parse_lesson(text: str | bytes, name: str = "lesson.json", folder: Path | None = None,
                 concepts: Iterable[str] | None = None, presets: Iterable[str] | None = None) -> Lesson:
    """Validate a lesson's JSON. ``folder`` anchors image paths and finds the demo concepts and presets beside it
    (``concepts``/``presets`` override them). Raises LessonError."""
    w = _Where(name)
    if len(text) > MAX_FILE_BYTES:
        raise LessonError(f"lesson {name!r} is larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        d = json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as e:
        raise LessonError(f"lesson {name!r} is not valid JSON: {e}") from None
    if not isinstance(d, dict):
        raise LessonError(f"lesson {name!r} must hold a JSON object, not {_type(d)}")
    _obj(w, "", d, _LESSON_KEYS, _LESSON_KEYS)
    if isinstance(d["schema"], bool) or d["schema"] != SCHEMA_VERSION:
        raise w.fail("schema", f"this app reads lesson schema {SCHEMA_VERSION}, the file says {d['schema']!r}")
    lid = _text(w, "id", d["id"], 40)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", lid):
        raise w.fail("id", f"{lid!r} must be lower-case letters, digits and dashes")
    if name.endswith(".json") and lid != name[:-5]:
        raise w.fail("id", f"{lid!r} must match the file name {name!r}")
    concepts = known_concepts(folder) if concepts is None else frozenset(concepts)
    presets = known_presets(folder) if presets is None else frozenset(presets)
    steps = []
    for i, s in enumerate(_list(w, "steps", d["steps"], 1, MAX_STEPS)):
        steps.append(_step(_Where(name, i + 1), s, concepts, presets, folder))
    return Lesson(lid, _text(w, "title", d["title"], 80), _text(w, "summary", d["summary"], 600),
                  _choice(w, "level", d["level"], LEVELS), _int(w, "est_minutes", d["est_minutes"], 1, 240),
                  tuple(steps), Path(folder) / name if folder is not None else None)


def load_lesson(path: str | Path, concepts: Iterable[str] | None = None,
                presets: Iterable[str] | None = None) -> Lesson:
    """Read and validate one lesson file. Raises LessonError."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise LessonError(f"lesson {path.name!r} is larger than {MAX_FILE_BYTES // 1024} KiB")
        raw = path.read_bytes()
    except OSError as e:
        raise LessonError(f"lesson {path.name!r} cannot be read: {e.strerror or e}") from None
    return parse_lesson(raw, path.name, path.parent, concepts, presets)


def list_lessons(folder: str | Path | None = None, errors: list[str] | None = None) -> list[LessonInfo]:
    """Every valid lesson in ``folder`` (default: shipped), sorted by file name. A bad file raises LessonError,
    or, when ``errors`` is a list, is skipped with its message appended there."""
    folder = Path(folder) if folder is not None else lessons_dir()
    out = []
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            les = load_lesson(p)
        except LessonError as e:
            if errors is None:
                raise
            errors.append(str(e))
            continue
        out.append(LessonInfo(les.id, les.title, les.summary, les.level, les.est_minutes, len(les.steps), p))
    return out
