"""The session report: one self-contained HTML file (transcripts, steered and default answers, the steering and
sampling in use, plots as embedded PNGs, the feature dashboards the user opened) and a CSV of every answer
token's strongest features. Plain data in, text out: the window supplies the plot images."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.support.atomic import atomic_write_text
from .conversation import Role, Turn
from .feature_about import about_html, marked_name

if TYPE_CHECKING:
    from ..core.engine.sampling import SamplingConfig
    from ..core.explanations.shown import ShownExplanations
    from ..core.features.catalog import FeatureCatalog
    from ..core.steering.specs import SteeringConfig
    from .controller import Controller
    from .loading import ModelInfo

TOP_PER_TOKEN = 8


@dataclass(frozen=True)
class SessionRecord:
    """What the report shows, taken from the sub-models at one moment."""

    turns: tuple[Turn, ...]
    info: ModelInfo | None
    steering: SteeringConfig
    sampling: SamplingConfig
    system: str
    compare: bool
    viewed: tuple[int, ...]  # the dashboards opened

    @classmethod
    def of(cls, ctl: Controller) -> SessionRecord:
        c = ctl.conversation
        return cls(c.turns, ctl.model.info, ctl.steering.config, c.sampling, c.system, c.compare, ctl.features.viewed)


def _esc(s: object) -> str:
    return html.escape(str(s))


def tokens_csv(turns: tuple[Turn, ...]) -> str:
    """One row per answer token: turn, run, position, token, then its strongest features as id:activation."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["turn", "run", "position", "token", "special", "residual_norm", "top_features"])
    for ti, t in enumerate(turns):
        for run, events in t.events.items():
            for e in events:
                feats = (
                    []
                    if e.top_ids is None or e.top_vals is None
                    else [
                        f"{int(i)}:{float(v):.4g}"
                        for i, v in zip(e.top_ids[:TOP_PER_TOKEN], e.top_vals[:TOP_PER_TOKEN])
                        if v > 0
                    ]
                )
                w.writerow([ti, run, e.index, e.text, int(e.is_special), f"{e.norm:.4g}", " ".join(feats)])
    return out.getvalue()


def _transcript(turns: tuple[Turn, ...]) -> str:
    rows = []
    for t in turns:
        who = {Role.USER: "You", Role.ASSISTANT: "Model", Role.ERROR: "Error"}[t.role]
        if t.role == Role.ASSISTANT and t.default:
            rows.append(
                "<div class='pair'><div><h4>Model (steered)</h4><pre>" + _esc(t.content) + "</pre></div>"
                "<div><h4>Model (default, same seed)</h4><pre>" + _esc(t.default) + "</pre></div></div>"
            )
        else:
            rows.append(f"<h4 class='{t.role}'>{who}</h4><pre>{_esc(t.content)}</pre>")
    return "".join(rows) or "<p><i>No conversation.</i></p>"


def _highlighted(ex: dict[str, Any]) -> str:
    """One top context with each token's background by its activation (relative to the context's peak)."""
    peak = max(1e-9, float(ex.get("activation", 1)))
    return "".join(
        f"<span style='background:rgba(255,140,0,{min(1.0, max(0.0, float(v)) / peak):.2f})'>{_esc(tok)}</span>"
        for tok, v in zip(ex.get("tokens", []), ex.get("values", []))
    )


def _dashboard(cat: FeatureCatalog, explained: ShownExplanations | None, f: int) -> str:
    e = cat.entry(f) or {}
    ctx = "".join(f"<li>{_highlighted(ex)}</li>" for ex in e.get("top_examples", [])[:5])
    logits = ", ".join(f"{_esc(tok)} {v:+.2f}" for tok, v in e.get("top_logits", [])[:8])
    stats = f"max activation {float(cat.max_activation[f]):.3g}, density {float(cat.density[f]):.3%}"
    return (
        f"<div class='dash'><h3>#{f} {_esc(marked_name(cat, f))}</h3><p>{about_html(cat, explained, f)}</p>"
        f"<p>{stats}</p>"
        + (f"<p><b>promotes</b> {logits}</p>" if logits else "")
        + (f"<ol>{ctx}</ol>" if ctx else "")
        + "</div>"
    )


def report_html(state: SessionRecord, images: dict[str, bytes], title: str = "Desktop SAE session") -> str:
    """The whole report; ``images``: caption -> PNG bytes (embedded as data URIs)."""
    info = state.info
    cat = info.catalog if info is not None else None
    model = info.model.name if info else "no model"
    sae = f"{info.sae.architecture} {info.d_sae} at {info.sae.hook}" if info and info.sae else "no SAE"
    steer = [
        {
            "feature": s.feature,
            "label": s.label,
            "strength": s.strength,
            "unit": s.unit,
            "method": s.method,
            "enabled": s.enabled,
            **({"when": {"feature": s.when[0], "above": s.when[1], "unit": s.when_unit}} if s.when else {}),
        }
        for s in state.steering.features
    ]
    settings = {
        "steering": steer,
        "multiplier": state.steering.multiplier,
        "sampling": vars(state.sampling),
        "system": state.system,
        "side_by_side": state.compare,
    }
    figs = "".join(
        f"<figure><img alt='{_esc(k)}' src='data:image/png;base64,{base64.b64encode(v).decode()}'>"
        f"<figcaption>{_esc(k)}</figcaption></figure>"
        for k, v in images.items()
        if v
    )
    explained = info.explained if info is not None else None
    dashes = "".join(_dashboard(cat, explained, f) for f in state.viewed) if cat is not None else ""
    css = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}pre{white-space:pre-wrap;"
        "background:#f6f6f6;padding:.6em;border-radius:4px}.pair{display:flex;gap:1em}.pair>div{flex:1}"
        "img{max-width:100%;border:1px solid #ccc}.dash{border:1px solid #ddd;padding:.5em 1em;margin:.5em 0}"
        "h4.error{color:#b22}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_esc(title)}</title><style>{css}</style>"
        f"</head><body><h1>{_esc(title)}</h1><p>{_esc(time.strftime('%Y-%m-%d %H:%M'))} · model {_esc(model)} · "
        f"SAE {_esc(sae)}</p><h2>Conversation</h2>{_transcript(state.turns)}<h2>Settings</h2><pre>"
        f"{_esc(json.dumps(settings, indent=1, default=str))}</pre><h2>Plots</h2>{figs or '<p><i>none</i></p>'}"
        f"<h2>Features looked at</h2>{dashes or '<p><i>none</i></p>'}</body></html>"
    )


def write_report(state: SessionRecord, images: dict[str, bytes], path: str | Path) -> tuple[Path, Path]:
    """Write ``path`` (.html) and the token CSV beside it, each atomically; returns both paths."""
    path = Path(path).with_suffix(".html")
    csv_path = path.with_name(path.stem + "-tokens.csv")
    atomic_write_text(path, report_html(state, images))
    atomic_write_text(csv_path, tokens_csv(state.turns))
    return path, csv_path
