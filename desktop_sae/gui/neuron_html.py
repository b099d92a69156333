"""HTML for the neuron view's two panes (Qt's rich-text subset): a neuron's contexts with its activation shaded on
each token (orange), and the SAE features on the same tokens with their own contexts (blue). Topics are coloured
chips so that a feature's contexts can be matched with the neuron's at a glance."""

from __future__ import annotations

import html
import re

from ..core.classroom.neuron_data import TOPIC_NAMES, topic_name

_CHIP = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
         "#bcbd22", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
         "#756bb1", "#636363")  # fmt: skip
SPECIAL = re.compile(r"<\|[a-z_]+\|>")
FAINT = 0.1  # a token below this share of the strongest value is not shaded
TOPICS = tuple(TOPIC_NAMES)  # a fixed colour per shipped topic


def topic_color(topic: str) -> str:
    i = TOPICS.index(topic) if topic in TOPICS else sum(map(ord, topic))
    return _CHIP[i % len(_CHIP)]


def chip(topic: str) -> str:
    name = html.escape(topic_name(topic) or "?")
    return f"<span style='background:{topic_color(topic)}; color:white; font-size:small'>&nbsp;{name}&nbsp;</span>"


def _token(t: str) -> str:
    if SPECIAL.fullmatch(t):  # BOS and other special tokens in the dictionary's contexts: shown, muted
        return f"<span style='color:#999; font-size:small'>{html.escape(t)}</span>"
    return html.escape(t.replace("\n", "⏎").replace("\t", "→"))


def tokens_html(tokens, values, vmax: float, rgb: tuple[int, int, int], peak_index: int | None = None) -> str:
    """Tokens with a background whose strength follows the value (below ``FAINT`` of ``vmax``: none); the peak token
    is underlined."""
    vmax = vmax if vmax > 0 else 1.0
    out = []
    for i, (t, v) in enumerate(zip(tokens, values)):
        a = max(0.0, min(1.0, float(v) / vmax))
        bg = f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{0.15 + 0.75 * a:.2f})" if a >= FAINT else "transparent"
        style = f"background:{bg}" + ("; text-decoration:underline; font-weight:bold" if i == peak_index else "")
        out.append(f"<span style='{style}' title='{float(v):.2f}'>{_token(t)}</span>")
    return "".join(out)


NEURON_RGB, FEATURE_RGB = (255, 140, 0), (30, 144, 255)


def contexts_html(contexts: list[dict], dark: bool) -> str:
    """The neuron's top contexts, numbered, each with its topic and peak value."""
    if not contexts:
        return "<p><i>This neuron does not fire (no positive activation) on any of the texts.</i></p>"
    vmax = max(float(c["peak"]) for c in contexts)
    color = "#ddd" if dark else "#222"
    rows = []
    for i, c in enumerate(contexts, 1):
        toks = tokens_html(c["tokens"], c["values"], vmax, NEURON_RGB, c["peak_index"])
        rows.append(
            f"<p style='margin:3px 0 7px 0'><b>{i}</b> {chip(c['topic'])} {toks} "
            f"<small>(peak {float(c['peak']):.2f})</small></p>"
        )
    return f"<div style='color:{color}'>{''.join(rows)}</div>"


def features_html(features: list[dict], contexts: list[dict], dark: bool, clickable: bool) -> str:
    """Each feature: its id and label (a link when ``clickable``), which of the neuron's contexts it fires on, with
    their topics, and its own top contexts from the SAE's dictionary."""
    if not features:
        return "<p><i>No SAE feature fires on these tokens (or no SAE is loaded).</i></p>"
    color, muted = ("#ddd", "#999") if dark else ("#222", "#666")
    blocks = []
    for f in features:
        title = f"<b>#{f['feature']}</b> {html.escape(f.get('label') or '(no label)')}"
        if clickable:
            title = f"<a href='feature:{f['feature']}'>{title}</a>"
        on = ", ".join(str(i + 1) for i in f["contexts"])
        topics = " ".join(chip(t) for t in dict.fromkeys(contexts[i]["topic"] for i in f["contexts"]))
        ex = f.get("examples") or []
        vmax = max((max(e["values"], default=0) for e in ex), default=1.0)
        lines = "".join(
            f"<div style='margin-left:14px'>{tokens_html(e['tokens'], e['values'], vmax, FEATURE_RGB)}</div>"
            for e in ex
        )
        if not ex:
            lines = f"<div style='margin-left:14px; color:{muted}'><i>no contexts recorded for this feature</i></div>"
        blocks.append(
            f"<div style='margin:2px 0 9px 0'>{title} <small style='color:{muted}'>on context"
            f"{'s' if len(f['contexts']) != 1 else ''} {on} · mean {float(f['mean_activation']):.2f}</small> {topics}"
            f"<div style='color:{muted}; margin-left:14px'><small>its own top contexts:</small></div>"
            f"{lines}</div>"
        )
    return f"<div style='color:{color}'>{''.join(blocks)}</div>"
