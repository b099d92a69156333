"""Tools → Explain features… on the tiny model and SAE against the fake OpenAI-compatible server on 127.0.0.1: the
estimate before a run, progress, Stop keeps what is done, the next run resumes (and scores), the files beside the
SAE, the reload hook, the endpoint remembered (the key only when asked), and a refused URL ends with a message."""

import shutil

import pytest
from PySide6.QtCore import Qt

from desktop_sae.app.explain_run import FeatureChoice, choose_features
from desktop_sae.core.explanations.store import ExplanationStore, ScoreStore
from desktop_sae.gui.menus import open_explain_dialog
from desktop_sae.gui.settings import app_settings
from fake_llm_server import FakeLLM
from tiny import make_loader


@pytest.fixture
def fake(monkeypatch):
    server = FakeLLM()
    monkeypatch.setenv("DESKTOP_SAE_LLM_URL", server.url)
    monkeypatch.setenv("DESKTOP_SAE_LLM_MODEL", "fake-model")
    monkeypatch.delenv("DESKTOP_SAE_LLM_KEY", raising=False)
    yield server
    server.close()


def test_explain_stop_resume_and_score_from_the_window(make_window, tiny_sae_dir, fake, qtbot, tmp_path):
    sae = shutil.copytree(tiny_sae_dir, tmp_path / "sae")
    win = make_window(make_loader(sae))
    reloads = []
    win.controller.model.explanations_changed.connect(lambda: reloads.append(1))
    dlg = open_explain_dialog(win)
    assert open_explain_dialog(win) is dlg
    assert dlg.url.text() == fake.url and dlg.model.text() == "fake-model"  # defaults from the environment
    assert dlg.key.echoMode() == dlg.key.EchoMode.Password
    dlg.choice.setCurrentIndex(dlg.choice.findData(FeatureChoice.RANGE))
    dlg.features.setText("0-11")
    assert dlg.estimate.text().startswith(f"About 12 calls to {fake.url}/v1/chat/completions (fake-model)")
    dlg.choice.setCurrentIndex(dlg.choice.findData(FeatureChoice.ALL))
    assert dlg.estimate.text().startswith("About 256 calls") and not dlg.features.isEnabled()
    dlg.parallel.setValue(1)
    dlg.windows.setValue(256)
    dlg.key.setText("secret")
    fake.mode, fake.hang_s = "hang", 0.4  # slow answers, so that Stop lands midway

    seen = []
    dlg.run.changed.connect(lambda _what: seen.append((dlg.run.fraction, dlg.status.text())))
    qtbot.mouseClick(dlg.run_btn, Qt.LeftButton)
    assert dlg.stop_btn.isEnabled() and not dlg.run_btn.isEnabled()
    qtbot.waitUntil(lambda: len(ExplanationStore.beside(sae).explanations) >= 2, timeout=120_000)
    qtbot.mouseClick(dlg.stop_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not dlg.run.running, timeout=60_000)
    first = ExplanationStore.beside(sae)
    k = len(first.explanations)
    assert dlg.status.text().startswith("Stopped; run again to resume.") and f"Explained {k}," in dlg.status.text()
    assert 2 <= k < 20 and reloads and fake.auth[-1] == "Bearer secret"
    assert set(first.explanations) == set(fake.explained)  # the call in flight was kept, nothing after it
    texts = [t for _f, t in seen]
    assert any(t.startswith("reading contexts") for t in texts) and any(t.startswith("about ") for t in texts)
    assert any(t.startswith("explained 1, failed 0 of") for t in texts)  # then per feature
    fractions = [f for f, _t in seen if f is not None]
    assert fractions == sorted(fractions) and 0 < fractions[-1] < 1

    fake.mode = "ok"
    dlg.score.setChecked(True)
    qtbot.mouseClick(dlg.run_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not dlg.run.running, timeout=120_000)
    out = dlg.run.outcome
    assert out is not None and out.explained is not None and out.scored is not None, dlg.status.text()
    done = ExplanationStore.beside(sae)
    assert out.explained.done == len(done.explanations) - k > 0 and out.explained.failed == 0
    assert max(fake.explained.values()) == 1 and set(done.explanations) == set(fake.explained)  # resumed
    assert all(e.explainer == "fake-model" for e in done.explanations.values())
    assert dlg.status.text().startswith(f"Explained {out.explained.done}, failed 0") and dlg.progress.value() == 100
    assert 0 < len(ScoreStore.beside(sae).done("own")) == out.scored.done
    assert len(reloads) == 2
    # the window names features by the new explanations: the catalog, the list and its search, the dashboard
    cat, f = win.controller.model.catalog, next(iter(done.explanations))
    assert cat.label(f) == done.explanations[f].text and f in list(cat.search(done.explanations[f].text))
    win.controller.features.select(f)
    assert done.explanations[f].text in win.detail.title.text()
    assert "not scored" not in win.detail.about.text() or f not in ScoreStore.beside(sae).done("own")
    dlg.score.setChecked(False)
    assert dlg.estimate.text().startswith("About 0 calls")

    s = app_settings()
    assert s.value("explain/url") == fake.url and s.value("explain/model") == "fake-model"
    assert s.value("explain/key") is None  # not asked to remember it
    dlg.close()


def test_a_refused_url_ends_with_a_clear_message(make_window, tiny_sae_dir, fake, qtbot, tmp_path):
    sae = shutil.copytree(tiny_sae_dir, tmp_path / "sae")
    win = make_window(make_loader(sae))
    dlg = open_explain_dialog(win)
    dlg.url.setText("http://127.0.0.1:9")  # nothing listens there
    dlg.features.setText("0-39")
    dlg.choice.setCurrentIndex(dlg.choice.findData(FeatureChoice.RANGE))
    dlg.windows.setValue(128)
    dlg.remember.setChecked(True)
    dlg.key.setText("kept")
    qtbot.mouseClick(dlg.run_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not dlg.run.running, timeout=120_000)
    text = dlg.status.text()
    assert text.startswith("The endpoint did not answer well, so the run stopped: explained 0, failed 4,"), text
    assert "refused" in text and fake.requests == 0
    assert ExplanationStore.beside(sae).explanations == {} and len(ExplanationStore.beside(sae).failures) == 4
    dlg.url.setText(fake.url)  # a server answering garbage: its failures counted and shown, the reason too
    fake.mode = "garbage"
    qtbot.mouseClick(dlg.run_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not dlg.run.running, timeout=120_000)
    text = dlg.status.text()
    assert text.startswith("The endpoint did not answer well, so the run stopped: explained 0, failed 4,"), text
    assert "malformed answer" in text and fake.requests == 12  # three tries for each of the four
    assert app_settings().value("explain/key") == "kept"
    assert win.controller.model.ready  # the app runs on
    dlg.choice.setCurrentIndex(dlg.choice.findData(FeatureChoice.PINNED))
    assert dlg.estimate.text() == "No pinned features: pin some in the feature list." and not dlg.features.isEnabled()
    dlg.close()


def test_feature_choices():
    assert choose_features(FeatureChoice.ALL, 4) == (0, 1, 2, 3)
    assert choose_features(FeatureChoice.RANGE, 100, "3,7-9") == (3, 7, 8, 9)
    assert choose_features(FeatureChoice.PINNED, 100, "", (5, 2)) == (5, 2)
    for choice, text, error in ((FeatureChoice.RANGE, "7-200", "feature 100 is not in this SAE"),
                                (FeatureChoice.RANGE, "x", "give a range"), (FeatureChoice.PINNED, "", "no pinned")):
        with pytest.raises(ValueError, match=error):
            choose_features(choice, 100, text)
