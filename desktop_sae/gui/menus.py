"""The main window's menus, toolbar and status bar: every action ends in a sub-model call or a window method.
``build_actions`` returns the actions as a ``WindowActions`` (the window keeps it as ``actions``); ``build_status``
returns the status bar's widgets as a ``StatusWidgets``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QMenu, QProgressBar

from ..core.remote.target import Transport
from . import theme
from .about import show_about

if TYPE_CHECKING:
    from ..core.engine.models import ModelDescription
    from .eval_dialog import EvalDialog
    from .explain_dialog import ExplainDialog
    from .main_window import MainWindow


@dataclass
class WindowActions:
    open_model: QAction
    open_remote: QAction
    open_sae: QAction
    assets: QAction
    train: QAction
    open: QAction
    save: QAction
    presets: QAction
    load_vector: QAction
    save_vector: QAction
    export_steering: QAction
    report: QAction
    np_import: QAction
    np_export: QAction
    quit: QAction
    send: QAction
    stop: QAction
    regen: QAction
    clear: QAction
    compare: QAction
    sweep: QAction
    find: QAction
    about: QAction
    welcome: QAction
    simple: QAction
    present: QAction
    contrast: QAction
    eval: QAction
    explain: QAction
    why: QAction
    themes: dict[str, QAction] = field(default_factory=dict)
    recent_menu: QMenu | None = None
    lessons_menu: QMenu | None = None

    def needing_a_model(self) -> tuple[QAction, ...]:
        """Actions that do nothing useful until a model is loaded."""
        return (self.send, self.regen, self.open, self.save, self.open_sae, self.load_vector, self.save_vector,
                self.export_steering, self.why)


@dataclass
class StatusWidgets:
    progress: QProgressBar
    message: QLabel
    model: QLabel
    sae: QLabel
    speed: QLabel


def _action(win: MainWindow, text: str, slot: Callable[..., object], shortcut: str | None = None,
            tip: str | None = None, checkable: bool = False) -> QAction:
    a = QAction(text, win)
    if shortcut:
        a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setToolTip(tip)
        a.setStatusTip(tip)
    a.setCheckable(checkable)
    a.triggered.connect(slot)
    return a


def build_actions(win: MainWindow) -> WindowActions:
    ctl, files, views, conv = win.controller, win.files, win.views, win.controller.conversation

    def act(text: str, slot: Callable[..., object], shortcut: str | None = None, tip: str | None = None,
            checkable: bool = False) -> QAction:
        return _action(win, text, slot, shortcut, tip, checkable)

    acts = WindowActions(
        open_model=act("Open &model…", files.open_model_dialog, None, "Load another model (and its SAE)"),
        open_remote=act("Open &remote model (nnsight / NDIF)…", files.open_remote_dialog, None,
                        "Run a model through nnsight: in this process, or on NDIF's servers for models too large "
                        "for this machine"),
        open_sae=act("Open S&AE…", files.open_sae_dialog, None, "Put another SAE on the loaded model"),
        assets=act("Mo&dels and SAEs…", files.show_asset_manager, None,
                   "Download, import and open models and SAEs; see whether a pair fits"),
        train=act("&Train an SAE…", lambda: _train_dialog(win), None, "Train an SAE on the loaded model"),
        open=act("&Open preset…", files.open_preset_dialog, "Ctrl+O",
                 "Load a preset file (validated before anything changes)"),
        save=act("&Save preset…", files.save_preset_dialog, "Ctrl+S", "Save steering and sampling as a preset"),
        presets=act("&Presets…", files.show_presets, "Ctrl+P", "Built-in and saved presets: load, rename, delete"),
        load_vector=act("Load steering &vector…", files.load_vector_dialog, None,
                        "Steer with a vector from a .safetensors or .npy file (checked against the hook width)"),
        save_vector=act("Save steering vector…", files.save_vector_dialog, None,
                        "Save the selected vector row of the steering panel as a .safetensors file"),
        export_steering=act("Export steering for &llama.cpp…", files.export_steering_dialog, None,
                            "The current additive steering as one vector: a llama.cpp control vector (.gguf) or a "
                            "steering-vector file (.safetensors)"),
        report=act("&Export session report…", files.export_report_dialog, "Ctrl+E",
                   "Transcripts, settings, plots and dashboards as one HTML file, plus a CSV of token features"),
        np_import=act("Import &Neuronpedia JSON…", lambda: _neuronpedia(win, "import"), None,
                      "A Neuronpedia steering request or saved output as the current steering, sampling and prompt"),
        np_export=act("Export Neuronpedia JSON…", lambda: _neuronpedia(win, "export"), None,
                      "The current steering, sampling and last answer in Neuronpedia's steering format"),
        quit=act("&Quit", win.close, "Ctrl+Q"),
        send=act("Send", win.chat.send, None, "Send the message (Ctrl+Enter)"),
        stop=act("Stop", conv.stop, "Esc", "Stop the answer (Esc)"),
        regen=act("Regenerate", conv.regenerate, "Ctrl+R", "Answer the last message again"),
        clear=act("Clear chat", conv.clear, "Ctrl+L", "Start a new conversation"),
        compare=act("Side by side", conv.set_compare, "Ctrl+D",
                    "Show the steered and the default answer (same seed) together", checkable=True),
        sweep=act("Sweep &strength…", lambda: open_sweep(win), None,
                  "Plot concept, fluency and KL over a range of steering strengths; apply the sweet spot"),
        find=act("Find feature", win.focus_search, "Ctrl+F", "Search features by label, top token or id"),
        about=act("&About Desktop SAE", lambda: win.keep_box(show_about(win, ctl.model.info))),
        welcome=act("&Welcome page", win.show_welcome, None, "Lessons, demos and chat: where to start"),
        simple=act("&Simple layout", views.set_simple, "Ctrl+Shift+S",
                   "Only the chat, the steering sliders and the live plot", checkable=True),
        present=act("&Presentation mode", views.set_presentation, "F11",
                    "Full screen, large fonts and high contrast for a projector", checkable=True),
        contrast=act("Find features by &contrast…", win.finders.open_contrast_finder, None,
                     "Features that fire more on some texts than on others, and their mean-difference vector"),
        eval=act("&Evaluate steering…", lambda: open_eval_dialog(win), None,
                 "Judge a demo concept's steering against prompting and a mean-difference vector"),
        explain=act("E&xplain features…", lambda: open_explain_dialog(win), None,
                    "Explain and score the SAE's features with an OpenAI-compatible chat endpoint"),
        why=act("&Why this token?", lambda: win.why_this_token(), "Ctrl+Shift+Y",
                "The attribution graph of the last answer's last token (right-click any answer token for its own)"),
    )
    _build_menus(win, acts)
    return acts


def _build_menus(win: MainWindow, a: WindowActions) -> None:
    m = win.menuBar().addMenu("&File")
    for x in (a.open_model, a.open_remote, a.open_sae, a.assets, a.train, None, a.open, a.save, a.presets):
        m.addSeparator() if x is None else m.addAction(x)
    a.recent_menu = m.addMenu("Recent presets")
    a.recent_menu.aboutToShow.connect(win.files.fill_recent)
    for x in (None, a.load_vector, a.save_vector, a.export_steering, None, a.np_import, a.np_export, a.report, None,
              a.quit):
        m.addSeparator() if x is None else m.addAction(x)
    m = win.menuBar().addMenu("&Chat")
    for x in (a.send, a.stop, a.regen, a.clear, a.compare, a.sweep, a.why):
        m.addAction(x)
    m = win.menuBar().addMenu("&View")
    for x in (a.find, a.simple, a.present):
        m.addAction(x)
    m.addSeparator()
    for d in win.docks.values():
        m.addAction(d.toggleViewAction())
    m.addSeparator()
    tm = m.addMenu("Theme")
    grp = QActionGroup(win)
    for mode in theme.MODES:
        t = _action(win, mode.capitalize(), lambda _=False, md=mode: win.set_theme(md), checkable=True)
        grp.addAction(t)
        tm.addAction(t)
        a.themes[mode] = t
    m = win.menuBar().addMenu("&Tools")
    m.addAction(a.contrast)
    m.addAction(a.eval)
    m.addAction(a.explain)
    m.addAction(a.why)
    a.lessons_menu = win.menuBar().addMenu("&Lessons")
    a.lessons_menu.aboutToShow.connect(lambda: _fill_lessons(win))
    m = win.menuBar().addMenu("&Help")
    m.addAction(a.welcome)
    m.addAction(a.about)
    tb = win.addToolBar("Main")
    tb.setObjectName("toolbar_main")
    for x in (a.stop, a.regen, a.clear, a.compare, a.why, None, a.open, a.save, a.presets):
        tb.addSeparator() if x is None else tb.addAction(x)


def build_status(win: MainWindow) -> StatusWidgets:
    sb = win.statusBar()
    w = StatusWidgets(QProgressBar(), QLabel("Starting…"), QLabel("model: loading…"), QLabel("SAE: —"), QLabel(""))
    w.progress.setMaximumWidth(260)
    w.progress.setRange(0, 0)
    w.progress.setToolTip("Loading in the background; the window stays usable")
    w.speed.setToolTip("Generation speed of the last answer (tokens per second)")
    sb.addWidget(w.progress)
    sb.addWidget(w.message, 1)
    for x in (w.model, w.sae, w.speed):
        sb.addPermanentWidget(x)
    return w


def model_place(m: ModelDescription) -> str:
    """The status bar's model label: where the model runs, and its name."""
    if m.source == Transport.NDIF:
        return f"NDIF ({m.location}) · {m.name}"
    if m.source == Transport.IN_PROCESS:
        return f"nnsight · {m.name}"
    return f"{m.device} · {m.dtype} · {m.name}"


def open_eval_dialog(win: MainWindow) -> EvalDialog:
    """Tools → Evaluate steering… (one dialog per window, kept between openings with its last result)."""
    from .eval_dialog import EvalDialog

    if win.eval_dialog is None:
        win.eval_dialog = EvalDialog(win.controller, win)
    win.eval_dialog.open()
    return win.eval_dialog


def open_explain_dialog(win: MainWindow) -> ExplainDialog:
    """Tools → Explain features… (one dialog per window, kept between openings with its form)."""
    from .explain_dialog import ExplainDialog

    if win.explain_dialog is None:
        win.explain_dialog = ExplainDialog(win.controller, win)
    win.explain_dialog.update_estimate()
    win.explain_dialog.open()
    return win.explain_dialog


def open_sweep(win: MainWindow, feature: int | None = None) -> None:
    """The strength-sweep dialog (its module, and pyqtgraph, load on first use)."""
    from .sweep_panel import open_sweep_dialog

    open_sweep_dialog(win, feature)


def _neuronpedia(win: MainWindow, direction: str) -> None:
    from .neuronpedia_dialogs import export_neuronpedia_dialog, import_neuronpedia_dialog

    (import_neuronpedia_dialog if direction == "import" else export_neuronpedia_dialog)(win)


def _train_dialog(win: MainWindow) -> None:
    from .train_dialog import open_train_dialog  # pyqtgraph and torch load on first use

    open_train_dialog(win)


def _fill_lessons(win: MainWindow) -> None:
    m = win.menu_actions.lessons_menu
    if m is None:
        return
    m.clear()
    for info in win.lessons.infos():
        a = m.addAction(f"{info.title}  ({info.steps} steps, ~{info.est_minutes} min)")
        a.setToolTip(info.summary)
        a.triggered.connect(lambda _=False, lid=info.id: win.lessons.start(lid))
    m.addSeparator()
    m.addAction("Toy model lab", lambda: win.show_panel("toy"))
    m.addAction("Neuron view (polysemantic neurons)", lambda: win.show_panel("neuron"))
    m.addAction("Mystery-feature quiz", lambda: win.show_panel("quiz"))
    if win.lessons.runner is not None:
        m.addSeparator()
        m.addAction("Exit lesson", win.lessons.end)
    if not m.actions():
        m.addAction("(no lessons installed)").setEnabled(False)
