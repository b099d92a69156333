"""The main window: chat in the centre, feature panel + dashboard, steering and live plots in docks; menus,
toolbar, status bar; presets; settings and layout persistence. All model work goes through the worker."""

from __future__ import annotations

import time

from PySide6.QtCore import QByteArray, QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCursor, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget, QLabel, QMainWindow, QMessageBox, QProgressBar, QToolTip,
)

from . import theme
from .about import show_about
from .chat_pane import ChatPane
from .feature_panel import FeaturePanel
from .gc_guard import GuiThreadGC
from .presets_ui import PresetActions
from .settings import app_settings, get_bool, get_float, get_int
from .steering_panel import SteeringPanel
from .worker import InferenceClient, LoadRequest, ModelInfo

# torch (via core.generation / core.presets) and pyqtgraph are imported only after the first paint: the window
# shows at once, the plot widgets are built right after it, and torch loads in the worker thread.

MAX_PINNED = 10


class MainWindow(PresetActions, QMainWindow):
    readyChanged = Signal(bool)

    def __init__(self, load: LoadRequest | None = LoadRequest(), loader=None, preset: str | None = None,
                 store=None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Desktop SAE")
        self.resize(1480, 920)
        self.settings = app_settings()
        self._store = store
        self.info: ModelInfo | None = None
        self.catalog = None
        self.ready = False
        self.pinned: list[int] = []
        self.last_error: str | None = None
        self.pending_preset = preset
        self._t_first = None
        self._n_tokens = 0
        self._boxes: list = []

        # the inference thread must never run the cyclic GC (see gc_guard.py); full collections wait while busy
        self.gc_guard = GuiThreadGC(busy=lambda: self.client.busy)
        self.gc_guard.acquire()
        self.client = InferenceClient(loader, self)
        self.chat = ChatPane()
        self.features = FeaturePanel()
        self.steering = SteeringPanel()
        self.detail = self.strip = self.token_view = None  # pyqtgraph widgets: built just after the first paint
        self.setCentralWidget(self.chat)
        self.docks = {}
        for key, title, w, area in (
            ("features", "Features", self.features, Qt.RightDockWidgetArea),
            ("detail", "Feature detail", QLabel("…"), Qt.LeftDockWidgetArea),
            ("steering", "Steering", self.steering, Qt.LeftDockWidgetArea),
            ("strip", "Live activations", QLabel("…"), Qt.BottomDockWidgetArea),
            ("token", "Token features", QLabel("…"), Qt.BottomDockWidgetArea),
        ):
            d = QDockWidget(title, self)
            d.setObjectName(f"dock_{key}")
            d.setWidget(w)
            self.addDockWidget(area, d)
            self.docks[key] = d
        self.splitDockWidget(self.docks["steering"], self.docks["detail"], Qt.Vertical)
        self.splitDockWidget(self.docks["strip"], self.docks["token"], Qt.Horizontal)
        self.resizeDocks([self.docks["features"], self.docks["steering"]], [440, 400], Qt.Horizontal)
        self.resizeDocks([self.docks["strip"]], [230], Qt.Vertical)
        self.resizeDocks([self.docks["steering"], self.docks["detail"]], [260, 480], Qt.Vertical)
        self._build_actions()
        self._build_status()
        self._wire()
        self._restore_settings()
        self._set_ready(False)
        self._load = load
        self._late_done = False
        self.chat.installEventFilter(self)
        QTimer.singleShot(300, self._late)  # fallback if no paint event comes (hidden window)

    @property
    def store(self):
        if self._store is None:
            from ..core.presets import PresetStore

            self._store = PresetStore()
        return self._store

    def eventFilter(self, obj, ev):  # noqa: N802
        if ev.type() == QEvent.Paint and not self._late_done:
            QTimer.singleShot(0, self._late)
        return False

    def _late(self) -> None:
        """After the first paint: build the plot widgets (pyqtgraph) and start loading the model."""
        if self._late_done:
            return
        self._late_done = True
        self.chat.removeEventFilter(self)
        from .feature_detail import FeatureDetail
        from .plots import StripChart, TokenFeatures

        self.detail, self.strip, self.token_view = FeatureDetail(), StripChart(), TokenFeatures()
        for key, w in (("detail", self.detail), ("strip", self.strip), ("token", self.token_view)):
            self.docks[key].setWidget(w)
        self.client.logits.connect(self.detail.set_logits)
        self.detail.steerRequested.connect(self.steer_feature)
        self.detail.pinRequested.connect(self.toggle_pin)
        self.detail.labelChanged.connect(self.set_label)
        self.token_view.featureClicked.connect(lambda f: self.features.select(f))
        if self._load is not None:
            self.client.load(self._load)

    # --- construction ------------------------------------------------------------------------------------
    def _action(self, text, slot, shortcut=None, tip=None, checkable=False) -> QAction:
        a = QAction(text, self)
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setToolTip(tip)
            a.setStatusTip(tip)
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        return a

    def _build_actions(self) -> None:
        A = self._action
        self.act_open = A("&Open preset…", self.open_preset_dialog, "Ctrl+O", "Load a preset file (validated before anything changes)")
        self.act_save = A("&Save preset…", self.save_preset_dialog, "Ctrl+S", "Save steering and sampling as a preset")
        self.act_presets = A("&Presets…", self.show_presets, "Ctrl+P", "Built-in and saved presets: load, rename, delete")
        self.act_quit = A("&Quit", self.close, "Ctrl+Q")
        self.act_send = A("Send", self.chat._send, None, "Send the message (Ctrl+Enter)")
        self.act_stop = A("Stop", self.stop, "Esc", "Stop the answer (Esc)")
        self.act_regen = A("Regenerate", self.regenerate, "Ctrl+R", "Answer the last message again")
        self.act_clear = A("Clear chat", self.clear_chat, "Ctrl+L", "Start a new conversation")
        self.act_compare = A("Side by side", self.chat.compare.setChecked, "Ctrl+D",
                             "Show the steered and the default answer (same seed) together", checkable=True)
        self.act_find = A("Find feature", self.focus_search, "Ctrl+F", "Search features by label, top token or id")
        self.act_about = A("&About Desktop SAE", lambda: self._boxes.append(show_about(self, self.info)))
        m = self.menuBar().addMenu("&File")
        for a in (self.act_open, self.act_save, self.act_presets):
            m.addAction(a)
        self.recent_menu = m.addMenu("Recent presets")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = self.menuBar().addMenu("&Chat")
        for a in (self.act_send, self.act_stop, self.act_regen, self.act_clear, self.act_compare):
            m.addAction(a)
        m = self.menuBar().addMenu("&View")
        m.addAction(self.act_find)
        m.addSeparator()
        for d in self.docks.values():
            m.addAction(d.toggleViewAction())
        m.addSeparator()
        tm = m.addMenu("Theme")
        grp = QActionGroup(self)
        self.theme_actions = {}
        for mode in theme.MODES:
            a = self._action(mode.capitalize(), lambda _=False, md=mode: self.set_theme(md), checkable=True)
            grp.addAction(a)
            tm.addAction(a)
            self.theme_actions[mode] = a
        self.menuBar().addMenu("&Help").addAction(self.act_about)
        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar_main")
        for a in (self.act_stop, self.act_regen, self.act_clear, self.act_compare, None, self.act_open, self.act_save, self.act_presets):
            tb.addSeparator() if a is None else tb.addAction(a)

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setRange(0, 0)
        self.progress.setToolTip("Loading the model in the background; the window stays usable")
        self.status_msg = QLabel("Starting…")
        self.lbl_model = QLabel("model: loading…")
        self.lbl_sae = QLabel("SAE: —")
        self.lbl_speed = QLabel("")
        self.lbl_speed.setToolTip("Generation speed of the last answer (tokens per second)")
        sb.addWidget(self.progress)
        sb.addWidget(self.status_msg, 1)
        for w in (self.lbl_model, self.lbl_sae, self.lbl_speed):
            sb.addPermanentWidget(w)

    def _wire(self) -> None:
        c = self.client
        c.loadProgress.connect(self._on_progress)
        c.loaded.connect(self._on_loaded)
        c.loadFailed.connect(self._on_load_failed)
        c.token.connect(self._on_token)
        c.finished.connect(self._on_finished)
        c.failed.connect(self._on_failed)
        self.chat.sendRequested.connect(self.send)
        self.chat.stopRequested.connect(self.stop)
        self.chat.regenerateRequested.connect(self.regenerate)
        self.chat.clearRequested.connect(self.clear_chat)
        self.chat.tokenHovered.connect(self._on_token_hover)
        self.chat.tokenClicked.connect(self._on_token_click)
        self.chat.compareToggled.connect(self._on_compare)
        self.features.featureSelected.connect(self.select_feature)
        self.features.pinToggled.connect(self.toggle_pin)
        self.features.steerRequested.connect(self.steer_feature)
        self.features.colorRequested.connect(self.color_by)
        self.steering.rerunRequested.connect(self.rerun)

    # --- settings ----------------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        geo, state = s.value("window/geometry"), s.value("window/state")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        mode = str(s.value("view/theme", "system"))
        self.theme_actions.get(mode, self.theme_actions["system"]).setChecked(True)
        self.chat.system.setText(str(s.value("chat/system", "") or ""))
        self.chat.compare.setChecked(get_bool(s, "chat/compare", False))
        self.steering.auto.setChecked(get_bool(s, "steering/auto_rerun", False))
        sb = self.chat.sampling
        sb.temperature.setValue(get_float(s, "sampling/temperature", sb.temperature.value()))
        sb.top_p.setValue(get_float(s, "sampling/top_p", sb.top_p.value()))
        sb.freq.setValue(get_float(s, "sampling/frequency_penalty", sb.freq.value()))
        sb.seed.setValue(get_int(s, "sampling/seed", sb.seed.value()))
        sb.max_tokens.setValue(get_int(s, "sampling/max_new_tokens", sb.max_tokens.value()))

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("view/theme", next((k for k, a in self.theme_actions.items() if a.isChecked()), "system"))
        s.setValue("chat/system", self.chat.system.text())
        s.setValue("chat/compare", self.chat.compare.isChecked())
        s.setValue("steering/auto_rerun", self.steering.auto.isChecked())
        sb = self.chat.sampling
        for k, w in (("temperature", sb.temperature), ("top_p", sb.top_p), ("frequency_penalty", sb.freq),
                     ("seed", sb.seed), ("max_new_tokens", sb.max_tokens)):
            s.setValue(f"sampling/{k}", w.value())
        s.sync()

    def set_theme(self, mode: str) -> None:
        theme.apply_theme(mode)
        self.theme_actions[mode].setChecked(True)
        for w in (self.strip, self.token_view):
            if w is not None:
                w.apply_theme()
        self.chat.rerender()

    # --- loading -----------------------------------------------------------------------------------------
    def _set_ready(self, ready: bool) -> None:
        self.ready = ready
        for w in (self.chat.send_btn, self.act_send, self.act_regen, self.act_open, self.act_save):
            w.setEnabled(ready)
        self.readyChanged.emit(ready)

    def _on_progress(self, frac: float, msg: str) -> None:
        if frac < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(100 * frac))
        self.status_msg.setText(msg)

    def _on_loaded(self, info: ModelInfo) -> None:
        self.info = info
        self.progress.hide()
        m = info.model
        self.lbl_model.setText(f"{m['device']} · {m['dtype']} · {m['name']}")
        self.lbl_model.setToolTip(f"{m['name']}: {m['parameters'] / 1e6:.0f}M parameters, {m['layers']} layers, from {m['location']}")
        if info.sae:
            self.lbl_sae.setText(f"SAE: {info.sae['architecture']} {info.d_sae} @ {info.sae['hook']}")
            self.lbl_sae.setToolTip(str(info.sae.get("path")) + ("" if info.dictionary else "\n(no feature dictionary)"))
        else:
            self.lbl_sae.setText("SAE: none (chat only)")
        self.catalog = info.catalog
        self.features.set_catalog(self.catalog)
        self.detail.set_catalog(self.catalog)
        self.steering.set_sae(info.max_activation, info.dec_norms, info.typical_norm)
        self.status_msg.setText(f"Ready ({info.load_seconds:.1f} s)" + "".join(f" · warning: {w}" for w in info.warnings))
        self._set_ready(True)
        self._refresh_strip()
        if self.pending_preset:
            path, self.pending_preset = self.pending_preset, None
            self.load_preset(path)

    def _on_load_failed(self, msg: str) -> None:
        self.progress.hide()
        self.lbl_model.setText("model: not loaded")
        self.show_error("Could not load the model", msg)

    # --- chat ----------------------------------------------------------------------------------------------
    def send(self, text: str) -> None:
        if not self.ready or self.client.busy:
            return
        self.chat.add_user(text)
        self._start()

    def regenerate(self) -> None:
        if self.ready and not self.client.busy and self.chat.pop_last_answer():
            self._start()

    def rerun(self) -> None:
        """Debounced steering change with auto re-run: the newest request wins (cancels one in flight)."""
        if not self.ready:
            return
        if self.chat.pop_last_answer():
            self._start()

    def _start(self) -> None:
        compare = self.chat.compare.isChecked()
        runs = ("steered", "default") if compare else ("main",)
        watch = tuple(dict.fromkeys([*self.pinned, *([self.chat.color_feature] if self.chat.color_feature is not None else [])]))
        self._refresh_strip(runs)
        self.strip.begin(watch)
        self.chat.begin_answer(runs)
        self.chat.set_busy(True)
        self._t_first, self._n_tokens = None, 0
        self.status_msg.setText("Generating…")
        self.client.submit(
            messages=tuple(dict(m) for m in self.chat.messages), system=self.chat.system_prompt(),
            sampling=self.chat.sampling.full_config(), steering=self.steering.config(), watch=watch, compare=compare,
        )

    def stop(self) -> None:
        if self.client.busy:
            self.client.cancel()
            self.status_msg.setText("Stopping…")

    def clear_chat(self) -> None:
        if self.client.busy:
            self.client.cancel()
        self.chat.clear()
        if self.catalog is not None:
            self.catalog.reset_conversation()
            self.features.activity_changed()
        if self.strip is not None:
            self.strip.begin(())

    def _on_token(self, ev) -> None:
        self.chat.add_event(ev)
        if ev.is_prompt:
            return
        self.strip.append(ev)
        if self.catalog is not None:
            self.catalog.observe(ev)
            self.features.activity_changed()
        self._n_tokens += 1
        now = time.perf_counter()
        if self._t_first is None:
            self._t_first = now
        elif now - self._t_first > 0:
            self.lbl_speed.setText(f"{(self._n_tokens - 1) / (now - self._t_first):.1f} tok/s")
        self.token_view.show_token(ev, self._label)

    def _on_finished(self, results: dict) -> None:
        self.chat.finish_answer(results)
        self.chat.set_busy(False)
        main = results.get("main") or results.get("steered")
        self.lbl_speed.setText(f"{main.tokens_per_second:.1f} tok/s")
        n = len(main.answer_ids)
        extra = " · default answer alongside (same seed)" if "default" in results else ""
        self.status_msg.setText(f"{n} tokens in {main.seconds:.1f} s, stop: {main.stop_reason}{extra}")

    def _on_failed(self, msg: str) -> None:
        self.last_error = msg
        self.chat.add_error(msg)
        self.chat.set_busy(False)
        self.status_msg.setText(f"Error: {msg}")

    # --- features ----------------------------------------------------------------------------------------
    def _label(self, f: int) -> str:
        return self.catalog.label(f) if self.catalog is not None else ""

    def _on_token_hover(self, ev) -> None:
        self.token_view.show_token(ev, self._label)
        if ev.top_ids is not None:
            lines = [f"#{int(i)}  {float(v):.2f}  {self._label(int(i))}"[:70] for i, v in zip(ev.top_ids[:8], ev.top_vals[:8]) if v > 0]
            QToolTip.showText(QCursor.pos(), f"{ev.text!r}\n" + "\n".join(lines), self.chat.main_view)

    def _on_token_click(self, ev) -> None:
        self.token_view.show_token(ev, self._label)
        if ev.top_ids is not None and len(ev.top_ids) and ev.top_vals[0] > 0:
            self.features.select(int(ev.top_ids[0]))

    def select_feature(self, f: int) -> None:
        self.detail.show_feature(f)
        if self.catalog is not None and self.catalog.entry(f) is None:
            self.client.request_logits(f)

    def toggle_pin(self, f: int) -> None:
        if f in self.pinned:
            self.pinned.remove(f)
        else:
            self.pinned = [*self.pinned, f][-MAX_PINNED:]
        self.features.set_pinned(self.pinned)
        self._refresh_strip()

    def _refresh_strip(self, runs=None) -> None:
        if self.strip is None:
            return
        runs = runs or (("steered", "default") if self.chat.compare.isChecked() else ("main",))
        self.strip.set_features(self.pinned, {f: self._label(f) for f in self.pinned}, runs)

    def _on_compare(self, on: bool) -> None:
        self.act_compare.setChecked(on)
        if not self.client.busy:
            self._refresh_strip()

    def steer_feature(self, f: int) -> None:
        if self.catalog is None:
            return
        self.steering.add_feature(f, self._label(f))
        self.docks["steering"].show()
        self.docks["steering"].raise_()

    def color_by(self, f: int) -> None:
        if self.catalog is None:
            return
        vmax = float(self.catalog.max_activation[f]) if self.steering.has_stats(f) else float(self.catalog.conv_max[f])
        self.chat.set_color_feature(f, vmax, self._label(f))

    def set_label(self, f: int, text: str) -> None:
        if self.catalog is None:
            return
        try:
            path = self.catalog.set_label(f, text)
        except OSError as e:
            self.show_error("Could not save the label", str(e))
            return
        self.status_msg.setText(f"Label saved to {path}")
        self.features.refresh()
        self.detail.show_feature(f)

    def focus_search(self) -> None:
        self.docks["features"].show()
        self.docks["features"].raise_()
        self.features.search.setFocus()
        self.features.search.selectAll()

    # --- errors / closing ----------------------------------------------------------------------------------
    def show_error(self, title: str, msg: str) -> None:
        """Tell the user (non-modal box + status bar); the app state is left as it was."""
        self.last_error = msg
        self.status_msg.setText(f"{title}: {msg}")
        box = QMessageBox(QMessageBox.Warning, title, msg, QMessageBox.Ok, self)
        box.open()
        self._boxes = [b for b in self._boxes if b.isVisible()] + [box]

    def closeEvent(self, event) -> None:  # noqa: N802
        self.save_settings()
        self.status_msg.setText("Closing…")
        if self.client.shutdown():
            self.gc_guard.release()  # no inference thread left: automatic collection is safe again
        super().closeEvent(event)
