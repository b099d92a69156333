"""The neuron view (gui/neuron_view.py): a curated neuron from the shipped data, a neuron computed by number through
the controller on the tiny model, feature clicks, and the real model + SAE (integration)."""

import re
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QUrl

import tiny
from desktop_sae.core.classroom import neuron_data as nd
from desktop_sae.core.classroom.neurons import neuron_activations
from desktop_sae.gui.neuron_view import NeuronView

pytestmark = pytest.mark.gui
FOLDER = Path(__file__).resolve().parents[2] / "resources" / "neurons"


def make_view(qtbot, win):
    view = NeuronView(win.controller, data_folder=FOLDER)
    qtbot.addWidget(view)
    view.resize(1300, 800)
    view.show()
    return view


def test_shows_a_curated_neuron_from_the_shipped_data(make_window, tiny_sae_dir, qtbot):
    data = nd.load_view(FOLDER)
    view = make_view(qtbot, make_window(tiny.make_loader(tiny_sae_dir)))
    assert view.picker.count() == len(data["curated"]) and view.shown["neuron"] == data["curated"][0]["neuron"]
    for i in (1, 0):
        view.show_curated(i)
        c = data["curated"][i]
        assert view.picker.currentIndex() == i and view.spin.value() == c["neuron"]
        assert f"neuron #{c['neuron']}" in view.header.text() and c["description"] in view.header.text()
        left = view.contexts.toPlainText()
        assert left.count("(peak ") == len(c["contexts"])
        assert "".join(c["contexts"][0]["tokens"]).replace("\n", "⏎").strip()[:20] in left.replace("\n", "")
        assert view.contexts.toHtml().count("background-color") >= len(c["contexts"])
        right = view.features.toPlainText()
        for f in c["features"]:
            assert f"#{f['feature']}" in right
        assert right.count("its own top contexts") == len(c["features"])
    assert "Load the bundled model and SAE" in view.header.text()  # the tiny SAE is not the shipped one
    with qtbot.assertNotEmitted(view.featureClicked):
        view.features.anchorClicked.emit(QUrl(f"feature:{data['curated'][0]['features'][0]['feature']}"))


def test_computes_a_neuron_by_number_as_a_run(make_window, tiny_sae_dir, qtbot):
    win = make_window(tiny.make_loader(tiny_sae_dir))
    view = make_view(qtbot, win)
    progress = []
    win.controller.jobs.progress.connect(lambda h: h.kind == "neuron" and progress.append((h.fraction, h.message)))
    job = view.show_neuron(5)
    assert job is not None and view.cancel_btn.isEnabled() and view.progress.isVisibleTo(view)
    qtbot.waitUntil(lambda: not view.busy, timeout=120_000)
    assert view.shown["neuron"] == 5 and view.shown["layer"] == 1  # the tiny model has no layer 12: the SAE's
    assert view.picker.currentIndex() == -1 and view.spin.value() == 5 and "neuron #5" in view.header.text()
    assert not view.cancel_btn.isEnabled() and not view.progress.isVisibleTo(view)
    assert progress and progress[-1][0] == 1.0 and any("texts" in m for _f, m in progress)
    # the same top contexts as core computes directly
    texts, topics = nd.load_texts(FOLDER)
    acts = neuron_activations(tiny.tiny_lm().model, tiny.tiny_tokenizer(), texts, 1, topics=topics)
    expect = acts.top_contexts(5, 12)
    assert [c["text_index"] for c in view.shown["contexts"]] == [c.text_index for c in expect]
    assert np.allclose([c["peak"] for c in view.shown["contexts"]], [c.peak for c in expect], atol=0.02)
    feats = view.shown["features"]
    links = {int(f) for f in re.findall(r'href="feature:(\d+)"', view.features.toHtml())}
    assert feats and links == {f["feature"] for f in feats}
    with qtbot.waitSignal(view.featureClicked) as sig:
        view.features.anchorClicked.emit(QUrl(f"feature:{feats[0]['feature']}"))
    assert sig.args == [feats[0]["feature"]]
    # the next neuron reuses the layer's activations: no pass over the texts again
    progress.clear()
    view.show_neuron(6)
    qtbot.waitUntil(lambda: not view.busy, timeout=60_000)
    assert view.shown["neuron"] == 6 and not any("texts" in m for _f, m in progress)


def test_a_missing_neuron_is_reported_and_cancel_stops_a_computation(make_window, tiny_sae_dir, qtbot):
    win = make_window(tiny.make_loader(tiny_sae_dir))
    view = make_view(qtbot, win)
    first = view.shown["neuron"]
    progress = []
    win.controller.jobs.progress.connect(lambda h: h.kind == "neuron" and progress.append((h.fraction, h.message)))
    view.show_neuron(1000)  # the tiny model's MLPs have 128 neurons: refused before any pass over the texts
    qtbot.waitUntil(lambda: not view.busy, timeout=60_000)
    assert "does not exist" in view.status.text() and "0..127" in view.status.text()
    assert view.shown["neuron"] == first and not progress
    view.show_neuron(3)
    view.cancel_btn.click()
    qtbot.waitUntil(lambda: not view.busy, timeout=60_000)
    assert view.status.text() == "Cancelled." and view.shown["neuron"] == first
    assert not view.cancel_btn.isEnabled() and not view.progress.isVisibleTo(view)


@pytest.mark.integration
def test_real_model_opens_a_curated_neuron_with_clickable_features(make_window, qtbot):
    view = make_view(qtbot, make_window())
    f = view.shown["features"][0]["feature"]
    assert "Load the bundled" not in view.header.text()
    with qtbot.waitSignal(view.featureClicked) as sig:
        view.features.anchorClicked.emit(QUrl(f"feature:{f}"))
    assert sig.args == [f]
    assert view.show_neuron(view.shown["neuron"]) is None  # the shipped result, no recomputation
