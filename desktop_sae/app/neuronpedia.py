"""Neuronpedia files through the controller: import one as the current steering and sampling (the caller puts its
prompt in the input box), export the current steering with the last question and answer. The whole file is checked
against the loaded model and SAE before anything changes; errors go to ``report_error``."""

from __future__ import annotations

from pathlib import Path

from ..core.support.errors import DesktopSAEError

TITLE_IN, TITLE_OUT = "Could not import the Neuronpedia file", "Could not export to Neuronpedia"


def target_of(info):
    """The loaded model and SAE as a ``core.neuronpedia.Target``."""
    from ..core.interop.neuronpedia_ids import Target
    from ..core.interop.neuronpedia_read import sae_neuronpedia_id

    return Target(info.model.name if info else "", info.identity if info else None,
                  sae_neuronpedia_id(info.sae_path) if info else "")


def last_exchange(state) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The chat before the last answer (role, content) and that answer: {"STEERED": text[, "DEFAULT": text]}."""
    turns = [t for t in state.turns if t.role in ("user", "assistant")]
    last = max((i for i, t in enumerate(turns) if t.role == "assistant"), default=None)
    if last is None:
        return [(t.role, t.content) for t in turns], {}
    answer = turns[last]
    outputs = {"STEERED": answer.content, **({"DEFAULT": answer.default} if answer.default else {})}
    return [(t.role, t.content) for t in turns[:last]], outputs


def import_neuronpedia(ctl, path):
    """Apply a Neuronpedia steering file's steering, sampling and system prompt; returns the ``Imported`` (its
    ``prompt`` is for the input box) or None when refused (nothing changed)."""
    from ..core.interop.neuronpedia_read import MAX_BYTES, parse_neuronpedia

    state = ctl.state
    if not state.ready or state.info is None:
        ctl.report_error(TITLE_IN, "the model is still loading; import the file once it is ready")
        return None
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
        imp = parse_neuronpedia(raw, target_of(state.info), state.info.max_activation, where=path.name)
    except OSError as e:
        ctl.report_error(TITLE_IN, f"cannot read {path}: {e.strerror or e}")
        return None
    except DesktopSAEError as e:
        ctl.report_error(TITLE_IN, str(e))
        return None
    p = imp.preset
    ctl.set_steering(ctl.labelled(p.steering))
    ctl.set_sampling(p.sampling)
    if p.system is not None:
        ctl.set_system(p.system)
    saved = f" · saved answers: {', '.join(imp.outputs)}" if imp.outputs else ""
    notes = "".join(f" · {n}" for n in imp.notes)
    ctl.set_status(f"Neuronpedia file imported: {len(p.steering.features)} feature(s){saved}{notes}")
    return imp


def export_neuronpedia(ctl, path) -> Path | None:
    """Write the current steering and sampling, the chat before the last answer and that answer (steered, and the
    default one from side by side) as a Neuronpedia JSON file (atomically). Returns its path or None."""
    from ..core.interop.neuronpedia_write import neuronpedia_json, to_neuronpedia
    from ..core.support.atomic import atomic_write_text

    state = ctl.state
    if state.info is None:
        ctl.report_error(TITLE_OUT, "no model is loaded")
        return None
    messages, outputs = last_exchange(state)
    try:
        doc, notes = to_neuronpedia(ctl.current_preset("Desktop SAE export"), target_of(state.info), messages,
                                    outputs, state.info.max_activation)
        atomic_write_text(path, neuronpedia_json(doc))
    except OSError as e:
        ctl.report_error(TITLE_OUT, f"cannot write {path}: {e.strerror or e}")
        return None
    except DesktopSAEError as e:
        ctl.report_error(TITLE_OUT, str(e))
        return None
    ctl.set_status(f"Neuronpedia JSON saved: {path}" + "".join(f" · {n}" for n in notes))
    return Path(path)
