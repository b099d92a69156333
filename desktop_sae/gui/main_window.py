"""The main window: wiring. It builds the controller, the inference thread and the widgets, lays them out in
docks with menus, toolbar and status bar, and connects the controller's signals to the widgets. Widgets send
every user action to the controller; nothing here holds app state of its own beyond the window's layout."""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QStackedWidget, QToolTip

from ..app.controller import Controller
from ..app.jobs import JobRunner
from ..app.state import LoadRequest
from . import theme
from .chat_pane import ChatPane
from .discover_actions import DiscoverActions
from .feature_panel import FeaturePanel
from .gc_guard import GuiThreadGC
from .inference_thread import InferenceThread, OutboxPump
from .lesson_mode import LessonMode
from .menus import build_actions, build_status
from .open_dialogs import OpenActions
from .quiz_panel import QuizPanel
from .settings import app_settings, get_bool, restore_state, save_state
from .steering_panel import SteeringPanel
from .sweep_panel import open_sweep_dialog
from .token_tooltip import as_html
from .view_modes import ViewModes
from .welcome import WelcomePage

# torch (via core) and pyqtgraph are imported only after the first paint: the window shows at once, the plot
# widgets are built right after it, and torch loads in the inference thread.


class MainWindow(OpenActions, ViewModes, LessonMode, DiscoverActions, QMainWindow):
    readyChanged = Signal(bool)

    def __init__(
        self,
        load: LoadRequest | None = LoadRequest(),
        loader=None,
        preset: str | None = None,
        store=None,
        welcome: bool | None = None,
        parent=None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Desktop SAE")
        self.resize(1480, 920)
        self.settings = app_settings()
        self.runner = JobRunner()
        self.controller = ctl = Controller(self.runner, loader=loader, store=store)
        ctl.pending_preset = preset
        self._boxes: list = []
        self._t_first, self._n_tokens = None, 0
        # the inference thread must never run the cyclic GC (see gc_guard.py); full collections wait while busy
        self.gc_guard = GuiThreadGC(busy=lambda: ctl.state.busy)
        self.gc_guard.acquire()
        self.thread = InferenceThread(self.runner, self)
        self.pump = OutboxPump(ctl, self)
        self.chat = ChatPane(ctl)
        self.features = FeaturePanel()
        self.steering = SteeringPanel(ctl)
        self.quiz_panel = QuizPanel(ctl)
        self.detail = self.strip = self.token_view = None  # pyqtgraph widgets: built just after the first paint
        self.welcome = WelcomePage()
        self.pages = QStackedWidget()
        self.pages.addWidget(self.chat)
        self.pages.addWidget(self.welcome)
        self.setCentralWidget(self.pages)
        self.docks = {}
        for key, title, w, area in (
            ("features", "Features", self.features, Qt.RightDockWidgetArea),
            ("detail", "Feature detail", QLabel("…"), Qt.LeftDockWidgetArea),
            ("steering", "Steering", self.steering, Qt.LeftDockWidgetArea),
            ("strip", "Live activations", QLabel("…"), Qt.BottomDockWidgetArea),
            ("token", "Token features", QLabel("…"), Qt.BottomDockWidgetArea),
            ("quiz", "Mystery-feature quiz", self.quiz_panel, Qt.RightDockWidgetArea),
            ("toy", "Toy model lab", QLabel("…"), Qt.RightDockWidgetArea),
            ("neuron", "Neuron view", QLabel("…"), Qt.RightDockWidgetArea),
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
        for key in ("quiz", "toy", "neuron"):  # classroom panels open from the Lessons menu or a lesson step
            self.tabifyDockWidget(self.docks["features"], self.docks[key])
            self.docks[key].hide()
        self.docks["features"].raise_()
        build_actions(self)
        build_status(self)
        self._wire()
        restore_state(self)
        if welcome if welcome is not None else not get_bool(self.settings, "welcome/shown", False):
            self.show_welcome()
        self._on_ready(False)
        self._load = load
        self._late_done = False
        self.thread.start()
        self.chat.installEventFilter(self)
        QTimer.singleShot(300, self._late)  # fallback if no paint event comes (hidden window)

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
        ctl = self.controller
        if self._load is not None:  # first, so torch loads on the worker while the plots are built here
            ctl.load(self._load)
        from .feature_detail import FeatureDetail
        from .plots import StripChart, TokenFeatures

        self.detail, self.strip, self.token_view = FeatureDetail(), StripChart(), TokenFeatures()
        for key, w in (("detail", self.detail), ("strip", self.strip), ("token", self.token_view)):
            self.docks[key].setWidget(w)
        self._classroom_docks()
        if self.pages.currentWidget() is self.chat:
            self.chat.input.setFocus()  # typing goes to the chat
        ctl.logits.connect(self.detail.set_logits)
        ctl.feature_selected.connect(self.detail.show_feature)
        ctl.labels_changed.connect(lambda f: ctl.state.selected == f and self.detail.show_feature(f))
        self.detail.steerRequested.connect(self.steer_feature)
        self.detail.pinRequested.connect(ctl.toggle_pin)
        self.detail.sweepRequested.connect(lambda f: open_sweep_dialog(self, f))
        self.detail.labelChanged.connect(ctl.set_label)
        self.token_view.featureClicked.connect(ctl.select)
        ctl.answer_started.connect(lambda runs, watch: (self._refresh_strip(runs), self.strip.begin(watch)))
        ctl.pins_changed.connect(lambda _p: self._refresh_strip())
        ctl.compare_changed.connect(lambda _c: self._refresh_strip())
        ctl.token.connect(self.strip.append)
        if ctl.state.info is not None:
            self.detail.set_catalog(ctl.state.catalog)

    def _wire(self) -> None:
        ctl = self.controller
        ctl.status.connect(self.status_msg.setText)
        ctl.error.connect(self.show_error)
        ctl.load_progress.connect(self._on_progress)
        ctl.model_loaded.connect(self._on_loaded)
        ctl.ready_changed.connect(self._on_ready)
        ctl.job_finished.connect(lambda m: m.kind == "load" and self.progress.hide())
        ctl.compare_changed.connect(self.act_compare.setChecked)
        ctl.answer_started.connect(self._on_answer_started)
        ctl.token.connect(self._on_token)
        ctl.answer_finished.connect(self._on_answer_finished)
        ctl.conversation_reset.connect(self._on_reset)
        ctl.pins_changed.connect(self.features.set_pinned)
        ctl.feature_selected.connect(lambda f: self.features.select(f, emit=False))
        ctl.labels_changed.connect(lambda _f: self.features.refresh())
        ctl.token_inspected.connect(self._on_inspected)
        self.chat.tokenHovered.connect(self._on_token_hover)
        self.chat.tokenClicked.connect(self._on_token_click)
        self.chat.selectionFeaturesRequested.connect(self.show_selection_features)
        self.features.featureSelected.connect(ctl.select)
        self.features.pinToggled.connect(ctl.toggle_pin)
        self.features.steerRequested.connect(self.steer_feature)
        self.steering.sweepRequested.connect(lambda f: open_sweep_dialog(self, f))
        self.features.colorRequested.connect(ctl.color_by)
        self.features.labelEdited.connect(ctl.set_label)
        self.welcome.chatRequested.connect(self.show_chat)
        self.welcome.demoRequested.connect(self.start_demo)
        self.welcome.lessonRequested.connect(self.start_lesson)

    def set_theme(self, mode: str) -> None:
        theme.apply_theme(mode)
        self.theme_actions[mode].setChecked(True)
        for w in (self.strip, self.token_view):
            if w is not None:
                w.apply_theme()
        self.chat.rerender()

    # --- controller -> window -----------------------------------------------------------------------------
    def _on_ready(self, ready: bool) -> None:
        for w in (self.act_send, self.act_regen, self.act_open, self.act_save, self.act_open_sae,
                  self.act_load_vector, self.act_save_vector):
            w.setEnabled(ready)
        self.chat.set_busy(self.controller.state.busy)
        self.readyChanged.emit(ready)

    def _on_progress(self, frac, msg: str) -> None:
        self.progress.show()
        if frac is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(100 * frac))

    def _on_loaded(self, info) -> None:
        m = info.model
        self.lbl_model.setText(f"{m.device} · {m.dtype} · {m.name}")
        self.lbl_model.setToolTip(
            f"{m.name}: {m.parameters / 1e6:.0f}M parameters, {m.layers} layers, from {m.location}"
        )
        if info.sae:
            self.lbl_sae.setText(f"SAE: {info.sae.architecture} {info.d_sae} @ {info.sae.hook}")
            self.lbl_sae.setToolTip(
                str(info.sae.path) + ("" if info.dictionary else "\n(no feature dictionary)")
            )
        else:
            self.lbl_sae.setText("SAE: none (chat only)")
        self.features.set_catalog(info.catalog)
        if self.detail is not None:
            self.detail.set_catalog(info.catalog)
            self.token_view.clear()
        self._refresh_strip()

    def _on_answer_started(self, runs, watch) -> None:
        self._t_first, self._n_tokens = None, 0

    def _on_token(self, ev) -> None:
        if ev.is_prompt:
            return
        self.features.activity_changed()
        self._n_tokens += 1
        now = time.perf_counter()
        if self._t_first is None:
            self._t_first = now
        elif now - self._t_first > 0:
            self.lbl_speed.setText(f"{(self._n_tokens - 1) / (now - self._t_first):.1f} tok/s")
        if self.token_view is not None:
            self.token_view.show_token(ev, self.controller.state.label)  # follows the stream (not app state)

    def _on_answer_finished(self, turn, result) -> None:
        if result is not None:
            self.lbl_speed.setText(f"{result.tokens_per_second:.1f} tok/s")

    def _on_reset(self) -> None:
        self.features.activity_changed()
        if self.strip is not None and not self.controller.state.busy:
            self.strip.begin(())

    def _refresh_strip(self, runs=None) -> None:
        st = self.controller.state
        if self.strip is None or (runs is None and st.busy):
            return
        shown = tuple(dict.fromkeys((*st.pinned, *(s.feature for s in st.steering.active if not s.is_vector))))
        self.strip.set_features(shown, {f: st.label(f) for f in shown}, runs or st.runs())

    # --- pages ------------------------------------------------------------------------------------------------
    def show_welcome(self) -> None:
        self.welcome.set_demos([e for e in self.controller.store.entries() if e.builtin])
        self.welcome.set_lessons([(i.id, i.title, i.summary) for i in self.lesson_infos()])
        self.pages.setCurrentWidget(self.welcome)

    def show_chat(self) -> None:
        self.settings.setValue("welcome/shown", True)
        self.pages.setCurrentWidget(self.chat)
        self.chat.input.setFocus()

    def start_demo(self, preset_path: str) -> None:
        """A demo from the welcome page: its preset, the simple layout and a prompt ready to send."""
        self.controller.load_preset(preset_path)
        self.set_simple(True)
        self.show_chat()
        if not self.chat.input.toPlainText().strip():
            self.chat.input.setPlainText("What should I do this weekend?")

    # --- feature actions that also move the window's focus ---------------------------------------------------
    def _on_inspected(self, ev) -> None:
        if self.token_view is not None and ev is not None:
            self.token_view.show_token(ev, self.controller.state.label)

    def _on_token_hover(self, ev) -> None:
        self.controller.inspect_token(ev)
        QToolTip.showText(QCursor.pos(), as_html(self.chat.tooltip_for(ev)), self.chat.main_view)

    def _on_token_click(self, ev) -> None:
        self.controller.inspect_token(ev)
        if ev.top_ids is not None and len(ev.top_ids) and ev.top_vals[0] > 0:
            self.controller.select(int(ev.top_ids[0]))

    def steer_feature(self, f: int) -> None:
        if self.controller.state.catalog is None:
            return
        self.controller.steer(f)
        self.docks["steering"].show()
        self.docks["steering"].raise_()

    def _classroom_docks(self) -> None:
        """The toy-model lab (pyqtgraph) and the neuron view, built after the first paint; lessons and the Lessons
        menu open them."""
        from .neuron_view import NeuronView
        from .toy_lab import ToyLab

        self.toy_lab = ToyLab(self.controller, self.docks["toy"])  # parented at once: never a window of its own
        self.docks["toy"].setWidget(self.toy_lab)
        self.neuron_view = NeuronView(self.controller, parent=self.docks["neuron"])
        self.neuron_view.featureClicked.connect(self.controller.select)
        self.docks["neuron"].setWidget(self.neuron_view)

    def show_panel(self, key: str) -> None:
        self.docks[key].show()
        self.docks[key].raise_()

    def focus_search(self) -> None:
        self.docks["features"].show()
        self.docks["features"].raise_()
        self.features.search.setFocus()
        self.features.search.selectAll()

    # --- errors / closing ----------------------------------------------------------------------------------
    def show_error(self, title: str, msg: str) -> None:
        """A non-modal box (the status bar already says it); the app state is left as it was."""
        box = QMessageBox(QMessageBox.Warning, title, msg, QMessageBox.Ok, self)
        box.open()
        self._boxes = [b for b in self._boxes if b.isVisible()] + [box]

    def closeEvent(self, event) -> None:  # noqa: N802
        save_state(self)
        self.status_msg.setText("Closing…")
        self.pump.timer.stop()
        if self.thread.shutdown():
            self.gc_guard.release()  # no inference thread left: automatic collection is safe again
        super().closeEvent(event)
