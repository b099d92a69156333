"""The main window: lays the widgets out in docks with menus, toolbar and status bar and connects the sub-models'
signals to them. ``gui/app.py`` assembles it (runner, controller, inference worker); the window holds no app state
of its own beyond its layout. File dialogs, view modes, lessons and the finders are objects that hold the window
(``files``, ``views``, ``lessons``, ``finders``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QCursor
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QStackedWidget, QToolTip, QWidget

from ..app.attribution_run import AnswerToken, last_answer_token
from ..app.controller import Controller
from ..app.loading import LoadRequest, ModelInfo
from ..app.quiz_run import QuizRun
from ..core.engine.run_names import Run
from . import theme
from .chat_pane import ChatPane
from .discover_actions import DiscoverActions
from .feature_panel import FeaturePanel
from .inference_thread import InferenceWorker
from .lesson_mode import LessonMode
from .lifetime import bind
from .menus import build_actions, build_status, model_place, open_sweep
from .open_dialogs import FileDialogs
from .quiz_panel import QuizPanel
from .settings import app_settings, get_bool, restore_state, save_state
from .steering_panel import SteeringPanel
from .token_tooltip import as_html
from .view_modes import ViewModes
from .welcome import WelcomePage

if TYPE_CHECKING:
    from ..core.engine.generation import GenerationResult, TokenEvent
    from .eval_dialog import EvalDialog
    from .explain_dialog import ExplainDialog
    from .feature_detail import FeatureDetail
    from .graph_view import GraphView
    from .neuron_view import NeuronView
    from .plots import StripChart, TokenFeatures
    from .toy_lab import ToyLab
    from .train_dialog import TrainDialog

# torch (via core) and pyqtgraph are imported only after the first paint: the window shows at once, the plot
# widgets are built right after it, and torch loads in the inference thread.
_LEFT, _RIGHT, _BOTTOM = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea,
                          Qt.DockWidgetArea.BottomDockWidgetArea)
DOCKS = (("features", "Features", _RIGHT), ("detail", "Feature detail", _LEFT),
         ("steering", "Steering", _LEFT), ("strip", "Live activations", _BOTTOM),
         ("token", "Token features", _BOTTOM), ("quiz", "Mystery-feature quiz", _RIGHT),
         ("toy", "Toy model lab", _RIGHT), ("neuron", "Neuron view", _RIGHT))


class MainWindow(QMainWindow):
    readyChanged = Signal(bool)

    def __init__(self, controller: Controller, worker: InferenceWorker, welcome: bool | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Desktop SAE")
        self.resize(1480, 920)
        self.settings = app_settings()
        self.controller = ctl = controller
        self.worker = worker
        self._boxes: list[QWidget] = []
        self._t_first: float | None = None
        self._n_tokens = 0
        self.chat = ChatPane(ctl.conversation, ctl.features)
        self.features = FeaturePanel()
        self.steering = SteeringPanel(ctl.steering, ctl.notices)
        self.quiz = QuizRun(ctl)
        self.quiz_panel = QuizPanel(self.quiz)
        self.detail: FeatureDetail | None = None  # pyqtgraph widgets: built just after the first paint
        self.strip: StripChart | None = None
        self.token_view: TokenFeatures | None = None
        self.toy_lab: ToyLab | None = None
        self.neuron_view: NeuronView | None = None
        self.eval_dialog: EvalDialog | None = None
        self.explain_dialog: ExplainDialog | None = None
        self.train_dialog: TrainDialog | None = None
        self.graph_view: GraphView | None = None  # "Why this token?": built on first use
        self.welcome = WelcomePage()
        self.pages = QStackedWidget()
        self.pages.addWidget(self.chat)
        self.pages.addWidget(self.welcome)
        self.setCentralWidget(self.pages)
        self.docks: dict[str, QDockWidget] = {}
        widgets = {"features": self.features, "steering": self.steering, "quiz": self.quiz_panel}
        for key, title, area in DOCKS:
            d = QDockWidget(title, self)
            d.setObjectName(f"dock_{key}")
            d.setWidget(widgets.get(key) or QLabel("…"))
            self.addDockWidget(area, d)
            self.docks[key] = d
        self._arrange_docks()
        self.files, self.views = FileDialogs(self), ViewModes(self)
        self.lessons, self.finders = LessonMode(self), DiscoverActions(self)
        self.menu_actions = build_actions(self)
        self.status = build_status(self)
        self._wire()
        restore_state(self)
        if welcome if welcome is not None else not get_bool(self.settings, "welcome/shown", False):
            self.show_welcome()
        self._on_ready(False)
        self._load: LoadRequest | None = None
        self._late_done = False

    def _arrange_docks(self) -> None:
        d = self.docks
        self.splitDockWidget(d["steering"], d["detail"], Qt.Orientation.Vertical)
        self.splitDockWidget(d["strip"], d["token"], Qt.Orientation.Horizontal)
        self.resizeDocks([d["features"], d["steering"]], [440, 400], Qt.Orientation.Horizontal)
        self.resizeDocks([d["strip"]], [230], Qt.Orientation.Vertical)
        self.resizeDocks([d["steering"], d["detail"]], [260, 480], Qt.Orientation.Vertical)
        for key in ("quiz", "toy", "neuron"):  # classroom panels open from the Lessons menu or a lesson step
            self.tabifyDockWidget(d["features"], d[key])
            d[key].hide()
        d["features"].raise_()

    def start(self, load: LoadRequest | None = LoadRequest()) -> None:
        """Start the inference thread; the model loads (``load``) right after the first paint."""
        self._load = load
        self.worker.start()
        self.chat.installEventFilter(self)
        QTimer.singleShot(300, self._late)  # fallback if no paint event comes (hidden window)

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802 - Qt's name
        if ev.type() == QEvent.Type.Paint and not self._late_done:
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
            ctl.model.load(self._load)
        from .feature_detail import FeatureDetail
        from .plots import StripChart, TokenFeatures

        detail, strip, tokens = FeatureDetail(), StripChart(), TokenFeatures()
        self.detail, self.strip, self.token_view = detail, strip, tokens
        for key, w in (("detail", detail), ("strip", strip), ("token", tokens)):
            self.docks[key].setWidget(w)
        self._classroom_docks()
        if self.pages.currentWidget() is self.chat:
            self.chat.input.setFocus()  # typing goes to the chat
        focus, conv = ctl.features, ctl.conversation
        bind(focus.logits, detail, detail.set_logits)
        bind(focus.selected_changed, detail, detail.show_feature)

        def relabelled(f: int) -> None:
            if focus.selected == f:
                detail.show_feature(f)

        bind(focus.labels_changed, detail, relabelled)
        detail.steerRequested.connect(self.steer_feature)
        detail.pinRequested.connect(focus.toggle_pin)
        detail.sweepRequested.connect(lambda f: open_sweep(self, f))
        detail.labelChanged.connect(focus.set_label)
        tokens.featureClicked.connect(focus.select)

        def answer_started(runs: tuple[Run, ...], watch: tuple[int, ...]) -> None:
            self._refresh_strip(runs)
            strip.begin(watch)

        bind(conv.answer_started, strip, answer_started)
        bind(focus.pins_changed, strip, lambda _p: self._refresh_strip())
        bind(conv.compare_changed, strip, lambda _c: self._refresh_strip())
        bind(conv.token, strip, strip.append)
        if ctl.model.catalog is not None:
            detail.set_catalog(ctl.model.catalog, ctl.model.info.explained if ctl.model.info else None)

    def _wire(self) -> None:
        ctl, a = self.controller, self.menu_actions
        conv, focus, model = ctl.conversation, ctl.features, ctl.model
        bind(ctl.notices.status_changed, self, self.status.message.setText)
        bind(ctl.notices.error, self, self.show_error)
        bind(model.progress, self, self._on_progress)
        bind(model.loaded, self, self._on_loaded)
        bind(model.explanations_changed, self, self._on_explanations)
        bind(model.ready_changed, self, self._on_ready)
        bind(model.load_finished, self, self.status.progress.hide)
        bind(conv.compare_changed, self, a.compare.setChecked)
        bind(conv.answer_started, self, self._on_answer_started)
        bind(conv.token, self, self._on_token)
        bind(conv.answer_finished, self, self._on_answer_finished)
        bind(conv.reset, self, self._on_reset)
        bind(focus.pins_changed, self, self.features.set_pinned)
        bind(focus.selected_changed, self, lambda f: self.features.select(f, emit=False))
        bind(focus.labels_changed, self, lambda _f: self.features.refresh())
        bind(focus.token_inspected, self, self._on_inspected)
        self.chat.tokenHovered.connect(self._on_token_hover)
        self.chat.tokenClicked.connect(self._on_token_click)
        self.chat.selectionFeaturesRequested.connect(self.finders.show_selection_features)
        self.chat.whyRequested.connect(self.why_this_token)
        self.features.featureSelected.connect(focus.select)
        self.features.pinToggled.connect(focus.toggle_pin)
        self.features.steerRequested.connect(self.steer_feature)
        self.steering.sweepRequested.connect(lambda f: open_sweep(self, f))
        self.features.colorRequested.connect(focus.color_by)
        self.features.labelEdited.connect(focus.set_label)
        self.welcome.chatRequested.connect(self.show_chat)
        self.welcome.demoRequested.connect(self.start_demo)
        self.welcome.lessonRequested.connect(self.lessons.start)

    def set_theme(self, mode: str) -> None:
        theme.apply_theme(mode)
        self.menu_actions.themes[mode].setChecked(True)
        for w in (self.strip, self.token_view):
            if w is not None:
                w.apply_theme()
        self.chat.rerender()

    # --- sub-models -> window ------------------------------------------------------------------------------
    def _on_ready(self, ready: bool) -> None:
        for w in self.menu_actions.needing_a_model():
            w.setEnabled(ready)
        self.chat.set_busy(self.controller.conversation.busy)
        self.readyChanged.emit(ready)

    def _on_progress(self, frac: float | None, _msg: str) -> None:
        bar = self.status.progress
        bar.show()
        if frac is None:
            bar.setRange(0, 0)
        else:
            bar.setRange(0, 100)
            bar.setValue(int(100 * frac))

    def _on_loaded(self, info: ModelInfo) -> None:
        m = info.model
        self.status.model.setText(model_place(m))
        self.status.model.setToolTip(f"{m.name}: {m.parameters / 1e6:.0f}M parameters, {m.layers} layers, "
                                     f"from {m.location}")
        if info.sae:
            self.status.sae.setText(f"SAE: {info.sae.architecture} {info.d_sae} @ {info.sae.hook}")
            self.status.sae.setToolTip(str(info.sae.path) + ("" if info.dictionary else "\n(no feature dictionary)"))
        else:
            self.status.sae.setText("SAE: none (chat only)")
        self.features.set_catalog(info.catalog)
        if self.detail is not None and self.token_view is not None:
            self.detail.set_catalog(info.catalog, info.explained)
            self.token_view.clear()
        self._refresh_strip()

    def _on_explanations(self) -> None:
        """New explanations beside the SAE: the list, the dashboard and the token view name features by them."""
        info = self.controller.model.info
        if info is None:
            return
        self.features.refresh()
        if self.detail is not None:
            shown = self.detail.feature
            self.detail.set_catalog(info.catalog, info.explained)
            if shown is not None:
                self.detail.show_feature(shown)

    def _on_answer_started(self, _runs: tuple[Run, ...], _watch: tuple[int, ...]) -> None:
        self._t_first, self._n_tokens = None, 0

    def _on_token(self, ev: TokenEvent) -> None:
        if ev.is_prompt:
            return
        self.features.activity_changed()
        self._n_tokens += 1
        now = time.perf_counter()
        if self._t_first is None:
            self._t_first = now
        elif now - self._t_first > 0:
            self.status.speed.setText(f"{(self._n_tokens - 1) / (now - self._t_first):.1f} tok/s")
        if self.token_view is not None:
            self.token_view.show_token(ev, self.controller.features.label)  # follows the stream

    def _on_answer_finished(self, _turn: object, result: GenerationResult | None) -> None:
        if result is not None:
            self.status.speed.setText(f"{result.tokens_per_second:.1f} tok/s")

    def _on_reset(self) -> None:
        self.features.activity_changed()
        if self.strip is not None and not self.controller.conversation.busy:
            self.strip.begin(())

    def _refresh_strip(self, runs: tuple[Run, ...] | None = None) -> None:
        ctl = self.controller
        if self.strip is None or (runs is None and ctl.conversation.busy):
            return
        shown = tuple(dict.fromkeys((*ctl.features.pinned, *ctl.steering.watched())))
        self.strip.set_features(shown, {f: ctl.features.label(f) for f in shown}, runs or ctl.conversation.runs())

    # --- pages ------------------------------------------------------------------------------------------------
    def show_welcome(self) -> None:
        self.welcome.set_demos([e for e in self.controller.presets.store.entries() if e.builtin])
        self.welcome.set_lessons([(i.id, i.title, i.summary) for i in self.lessons.infos()])
        self.pages.setCurrentWidget(self.welcome)
        self.views.hide_panels()  # the page fills the window

    def show_chat(self) -> None:
        self.settings.setValue("welcome/shown", True)
        self.pages.setCurrentWidget(self.chat)
        self.views.show_panels()
        self.chat.input.setFocus()

    def start_demo(self, preset_path: str) -> None:
        """A demo from the welcome page: its preset, the simple layout and a prompt ready to send."""
        self.controller.presets.load(preset_path)
        self.show_chat()
        self.views.set_simple(True)
        if not self.chat.input.toPlainText().strip():
            self.chat.input.setPlainText("What should I do this weekend?")

    # --- feature actions that also move the window's focus ---------------------------------------------------
    def _on_inspected(self, ev: TokenEvent) -> None:
        if self.token_view is not None and ev is not None:
            self.token_view.show_token(ev, self.controller.features.label)

    def _on_token_hover(self, ev: TokenEvent) -> None:
        self.controller.features.inspect_token(ev)
        QToolTip.showText(QCursor.pos(), as_html(self.chat.tooltip_for(ev)), self.chat.main_view)

    def _on_token_click(self, ev: TokenEvent) -> None:
        self.controller.features.inspect_token(ev)
        if ev.top_ids is not None and ev.top_vals is not None and len(ev.top_ids) and ev.top_vals[0] > 0:
            self.controller.features.select(int(ev.top_ids[0]))

    def why_this_token(self, token: AnswerToken | None = None) -> int | None:
        """The attribution graph of an answer token (None: the last answer's last token) in the graph view."""
        from .graph_view import why_this_token

        return why_this_token(self, token if token is not None else last_answer_token(self.controller.conversation))

    def open_dashboard(self, f: int) -> None:
        """Feature ``f`` of the loaded SAE selected and its dashboard shown."""
        self.controller.features.select(f)
        self.show_panel("detail")

    def steer_feature(self, f: int) -> None:
        if self.controller.model.catalog is None:
            return
        self.controller.steering.steer(f)
        self.show_panel("steering")

    def _classroom_docks(self) -> None:
        """The toy-model lab (pyqtgraph) and the neuron view, built after the first paint; lessons and the Lessons
        menu open them."""
        from .neuron_view import NeuronView
        from .toy_lab import ToyLab

        self.toy_lab = ToyLab(self.controller.jobs, self.docks["toy"])  # parented at once: never its own window
        self.docks["toy"].setWidget(self.toy_lab)
        self.neuron_view = NeuronView(self.controller, parent=self.docks["neuron"])
        self.neuron_view.featureClicked.connect(self.controller.features.select)
        self.docks["neuron"].setWidget(self.neuron_view)

    def show_panel(self, key: str) -> None:
        if self.views.welcoming:
            self.show_chat()
        self.docks[key].show()
        self.docks[key].raise_()

    def focus_search(self) -> None:
        self.show_panel("features")
        self.features.search.setFocus()
        self.features.search.selectAll()

    # --- errors / closing ----------------------------------------------------------------------------------
    def keep_box(self, box: QWidget) -> None:
        """Keep a reference to a non-modal box while it is shown (and let go of closed ones)."""
        self._boxes = [b for b in self._boxes if b.isVisible()] + [box]

    def show_error(self, title: str, msg: str) -> None:
        """A non-modal box (the status bar already says it); the app state is left as it was."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, msg, QMessageBox.StandardButton.Ok, self)
        box.open()
        self.keep_box(box)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        save_state(self)
        self.status.message.setText("Closing…")
        self.worker.shutdown()
        super().closeEvent(event)
