"""Neuronpedia files in the app: import one as the current steering and sampling (the caller puts its prompt in the
input box), export the current steering with the last question and answer. The whole file is checked against the
loaded model and SAE before anything changes; errors go to the notices."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..core.support.errors import DesktopSAEError
from .conversation import Role, Turn

if TYPE_CHECKING:
    from ..core.interop.neuronpedia_ids import Target
    from ..core.interop.neuronpedia_read import Imported
    from .controller import Controller
    from .loading import ModelInfo

TITLE_IN, TITLE_OUT = "Could not import the Neuronpedia file", "Could not export to Neuronpedia"


def target_of(info: ModelInfo | None) -> Target:
    """The loaded model and SAE as a Neuronpedia ``Target``."""
    from ..core.interop.neuronpedia_ids import Target
    from ..core.interop.neuronpedia_read import sae_neuronpedia_id

    return Target(info.model.name if info else "", info.identity if info else None,
                  sae_neuronpedia_id(info.sae_path) if info else "")


def last_exchange(all_turns: tuple[Turn, ...]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The chat before the last answer (role, content) and that answer: {"STEERED": text[, "DEFAULT": text]}."""
    turns = [t for t in all_turns if t.role != Role.ERROR]
    last = max((i for i, t in enumerate(turns) if t.role == Role.ASSISTANT), default=None)
    if last is None:
        return [(str(t.role), t.content) for t in turns], {}
    answer = turns[last]
    outputs = {"STEERED": answer.content, **({"DEFAULT": answer.default} if answer.default else {})}
    return [(str(t.role), t.content) for t in turns[:last]], outputs


def import_neuronpedia(ctl: Controller, path: str | Path) -> Imported | None:
    """Apply a Neuronpedia steering file's steering, sampling and system prompt; returns the ``Imported`` (its
    ``prompt`` is for the input box) or None when refused (nothing changed)."""
    from ..core.interop.neuronpedia_read import MAX_BYTES, parse_neuronpedia

    info = ctl.model.info
    if not ctl.model.ready or info is None:
        ctl.notices.report_error(TITLE_IN, "the model is still loading; import the file once it is ready")
        return None
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
        imp = parse_neuronpedia(raw, target_of(info), info.max_activation, where=path.name)
    except OSError as e:
        ctl.notices.report_error(TITLE_IN, f"cannot read {path}: {e.strerror or e}")
        return None
    except DesktopSAEError as e:
        ctl.notices.report_error(TITLE_IN, str(e))
        return None
    p = imp.preset
    ctl.steering.set_steering(ctl.steering.labelled(p.steering))
    ctl.conversation.set_sampling(p.sampling)
    if p.system is not None:
        ctl.conversation.set_system(p.system)
    saved = f" · saved answers: {', '.join(imp.outputs)}" if imp.outputs else ""
    notes = "".join(f" · {n}" for n in imp.notes)
    ctl.notices.set_status(f"Neuronpedia file imported: {len(p.steering.features)} feature(s){saved}{notes}")
    return imp


def export_neuronpedia(ctl: Controller, path: str | Path) -> Path | None:
    """Write the current steering and sampling, the chat before the last answer and that answer (steered, and the
    default one from side by side) as a Neuronpedia JSON file (atomically). Returns its path or None."""
    from ..core.interop.neuronpedia_write import neuronpedia_json, to_neuronpedia
    from ..core.support.atomic import atomic_write_text

    info = ctl.model.info
    if info is None:
        ctl.notices.report_error(TITLE_OUT, "no model is loaded")
        return None
    messages, outputs = last_exchange(ctl.conversation.turns)
    try:
        doc, notes = to_neuronpedia(ctl.presets.current("Desktop SAE export"), target_of(info), messages, outputs,
                                    info.max_activation)
        atomic_write_text(path, neuronpedia_json(doc))
    except OSError as e:
        ctl.notices.report_error(TITLE_OUT, f"cannot write {path}: {e.strerror or e}")
        return None
    except DesktopSAEError as e:
        ctl.notices.report_error(TITLE_OUT, str(e))
        return None
    ctl.notices.set_status(f"Neuronpedia JSON saved: {path}" + "".join(f" · {n}" for n in notes))
    return Path(path)
