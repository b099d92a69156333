"""Prompt files and seed lists for batch runs (``desktop-sae generate --prompt-file``, ``eval-steering --prompts``)."""

from __future__ import annotations

import json
from pathlib import Path

MAX_PROMPTS = 10_000
MAX_SEEDS = 10_000


def read_prompts(path: str | Path) -> list[str]:
    """One prompt per non-empty line, or (``.jsonl``) one JSON object per line with a "prompt" string. Lines starting
    with '#' in a text file are comments."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read prompt file {path}: {e}") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if path.suffix.lower() == ".jsonl":
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path.name} line {n}: not JSON ({e.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str) or not obj["prompt"].strip():
                raise ValueError(f"{path.name} line {n}: expected an object with a non-empty \"prompt\" string")
            out.append(obj["prompt"])
        elif not line.lstrip().startswith("#"):
            out.append(line.strip())
    if not out:
        raise ValueError(f"{path.name} holds no prompts")
    if len(out) > MAX_PROMPTS:
        raise ValueError(f"{path.name} holds {len(out)} prompts; at most {MAX_PROMPTS}")
    return out


def parse_seeds(text: str) -> list[int]:
    """'1000-1002' -> [1000, 1001, 1002]; '1,5,9' -> [1, 5, 9]; ranges and lists mix ('1,3-5'). Order kept,
    duplicates dropped."""
    seeds: list[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part[1:]:
                if part.startswith("-"):  # a negative start: a bad range
                    raise ValueError
                lo_text, hi_text = part.split("-", 1)
                lo, hi = int(lo_text), int(hi_text)
                if hi < lo:
                    raise ValueError
                if hi - lo + 1 > MAX_SEEDS:
                    raise OverflowError
                seeds += range(lo, hi + 1)
            else:
                seeds.append(int(part))
    except OverflowError:
        raise ValueError(f"--seeds {text!r}: at most {MAX_SEEDS} seeds") from None
    except (ValueError, TypeError):
        raise ValueError(f"bad --seeds {text!r}: use a range (1000-1002) or a list (1,5,9)") from None
    seeds = list(dict.fromkeys(seeds))
    if not seeds:
        raise ValueError(f"--seeds {text!r} names no seed")
    if len(seeds) > MAX_SEEDS or any(s < 0 for s in seeds):
        raise ValueError(f"--seeds {text!r}: seeds are 0 or more, at most {MAX_SEEDS} of them")
    return seeds
