"""The main window's menus, toolbar and status bar: every action ends in a controller call or a window method."""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QProgressBar

from . import theme
from .about import show_about
from .neuronpedia_dialogs import export_neuronpedia_dialog, import_neuronpedia_dialog
from .sweep_panel import open_sweep_dialog


def open_eval_dialog(win):
    """Tools → Evaluate steering… (one dialog per window, kept between openings with its last result)."""
    from .eval_dialog import EvalDialog

    dlg = getattr(win, "eval_dialog", None)
    if dlg is None:
        dlg = win.eval_dialog = EvalDialog(win.controller, win)
    dlg.open()
    return dlg


def _action(win, text, slot, shortcut=None, tip=None, checkable=False) -> QAction:
    a = QAction(text, win)
    if shortcut:
        a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setToolTip(tip)
        a.setStatusTip(tip)
    a.setCheckable(checkable)
    a.triggered.connect(slot)
    return a


def build_actions(win) -> None:
    ctl = win.controller

    def A(*args, **kw) -> QAction:  # noqa: N802
        return _action(win, *args, **kw)

    win.act_open_model = A("Open &model…", win.open_model_dialog, None, "Load another model (and its SAE)")
    win.act_open_sae = A("Open S&AE…", win.open_sae_dialog, None, "Put another SAE on the loaded model")
    win.act_assets = A("Mo&dels and SAEs…", win.show_asset_manager, None,
                       "Download, import and open models and SAEs; see whether a pair fits")
    win.act_train = A("&Train an SAE…", lambda: _train_dialog(win), None, "Train an SAE on the loaded model")
    win.act_open = A(
        "&Open preset…", win.open_preset_dialog, "Ctrl+O", "Load a preset file (validated before anything changes)"
    )
    win.act_save = A("&Save preset…", win.save_preset_dialog, "Ctrl+S", "Save steering and sampling as a preset")
    win.act_presets = A("&Presets…", win.show_presets, "Ctrl+P", "Built-in and saved presets: load, rename, delete")
    win.act_load_vector = A("Load steering &vector…", win.load_vector_dialog, None,
                            "Steer with a vector from a .safetensors or .npy file (checked against the hook width)")
    win.act_save_vector = A("Save steering vector…", win.save_vector_dialog, None,
                            "Save the selected vector row of the steering panel as a .safetensors file")
    win.act_report = A(
        "&Export session report…",
        win.export_report_dialog,
        "Ctrl+E",
        "Transcripts, settings, plots and dashboards as one HTML file, plus a CSV of token features",
    )
    win.act_np_import = A("Import &Neuronpedia JSON…", lambda: import_neuronpedia_dialog(win), None,
                          "A Neuronpedia steering request or saved output as the current steering, sampling and prompt")
    win.act_np_export = A("Export Neuronpedia JSON…", lambda: export_neuronpedia_dialog(win), None,
                          "The current steering, sampling and last answer in Neuronpedia's steering format")
    win.act_quit = A("&Quit", win.close, "Ctrl+Q")
    win.act_send = A("Send", win.chat.send, None, "Send the message (Ctrl+Enter)")
    win.act_stop = A("Stop", ctl.stop, "Esc", "Stop the answer (Esc)")
    win.act_regen = A("Regenerate", ctl.regenerate, "Ctrl+R", "Answer the last message again")
    win.act_clear = A("Clear chat", ctl.clear, "Ctrl+L", "Start a new conversation")
    win.act_compare = A(
        "Side by side",
        ctl.set_compare,
        "Ctrl+D",
        "Show the steered and the default answer (same seed) together",
        checkable=True,
    )
    win.act_sweep = A("Sweep &strength…", lambda: open_sweep_dialog(win), None,
                      "Plot concept, fluency and KL over a range of steering strengths; apply the sweet spot")
    win.act_find = A("Find feature", win.focus_search, "Ctrl+F", "Search features by label, top token or id")
    win.act_about = A("&About Desktop SAE", lambda: win._boxes.append(show_about(win, ctl.state.info)))
    win.act_welcome = A("&Welcome page", win.show_welcome, None, "Lessons, demos and chat: where to start")
    win.act_simple = A(
        "&Simple layout",
        win.set_simple,
        "Ctrl+Shift+S",
        "Only the chat, the steering sliders and the live plot",
        checkable=True,
    )
    win.act_present = A(
        "&Presentation mode",
        win.set_presentation,
        "F11",
        "Full screen, large fonts and high contrast for a projector",
        checkable=True,
    )
    m = win.menuBar().addMenu("&File")
    for a in (win.act_open_model, win.act_open_sae, win.act_assets, win.act_train, None, win.act_open, win.act_save,
              win.act_presets):
        m.addSeparator() if a is None else m.addAction(a)
    win.recent_menu = m.addMenu("Recent presets")
    win.recent_menu.aboutToShow.connect(win._fill_recent)
    m.addSeparator()
    m.addAction(win.act_load_vector)
    m.addAction(win.act_save_vector)
    m.addSeparator()
    m.addAction(win.act_np_import)
    m.addAction(win.act_np_export)
    m.addAction(win.act_report)
    m.addSeparator()
    m.addAction(win.act_quit)
    m = win.menuBar().addMenu("&Chat")
    for a in (win.act_send, win.act_stop, win.act_regen, win.act_clear, win.act_compare, win.act_sweep):
        m.addAction(a)
    m = win.menuBar().addMenu("&View")
    for a in (win.act_find, win.act_simple, win.act_present):
        m.addAction(a)
    m.addSeparator()
    for d in win.docks.values():
        m.addAction(d.toggleViewAction())
    m.addSeparator()
    tm = m.addMenu("Theme")
    grp = QActionGroup(win)
    win.theme_actions = {}
    for mode in theme.MODES:
        a = A(mode.capitalize(), lambda _=False, md=mode: win.set_theme(md), checkable=True)
        grp.addAction(a)
        tm.addAction(a)
        win.theme_actions[mode] = a
    win.act_contrast = A("Find features by &contrast…", win.open_contrast_finder, None,
                         "Features that fire more on some texts than on others, and their mean-difference vector")
    win.act_eval = A("&Evaluate steering…", lambda: open_eval_dialog(win), None,
                     "Judge a demo concept's steering against prompting and a mean-difference vector")
    m = win.menuBar().addMenu("&Tools")
    m.addAction(win.act_contrast)
    m.addAction(win.act_eval)
    win.lessons_menu = win.menuBar().addMenu("&Lessons")
    win.lessons_menu.aboutToShow.connect(lambda: _fill_lessons(win))
    m = win.menuBar().addMenu("&Help")
    m.addAction(win.act_welcome)
    m.addAction(win.act_about)
    tb = win.addToolBar("Main")
    tb.setObjectName("toolbar_main")
    for a in (
        win.act_stop,
        win.act_regen,
        win.act_clear,
        win.act_compare,
        None,
        win.act_open,
        win.act_save,
        win.act_presets,
    ):
        tb.addSeparator() if a is None else tb.addAction(a)


def build_status(win) -> None:
    sb = win.statusBar()
    win.progress = QProgressBar()
    win.progress.setMaximumWidth(260)
    win.progress.setRange(0, 0)
    win.progress.setToolTip("Loading in the background; the window stays usable")
    win.status_msg = QLabel("Starting…")
    win.lbl_model = QLabel("model: loading…")
    win.lbl_sae = QLabel("SAE: —")
    win.lbl_speed = QLabel("")
    win.lbl_speed.setToolTip("Generation speed of the last answer (tokens per second)")
    sb.addWidget(win.progress)
    sb.addWidget(win.status_msg, 1)
    for w in (win.lbl_model, win.lbl_sae, win.lbl_speed):
        sb.addPermanentWidget(w)


def _train_dialog(win) -> None:
    from .train_dialog import open_train_dialog  # pyqtgraph and torch load on first use

    open_train_dialog(win)


def _fill_lessons(win) -> None:
    m = win.lessons_menu
    m.clear()
    for info in win.lesson_infos():
        a = m.addAction(f"{info.title}  ({info.steps} steps, ~{info.est_minutes} min)")
        a.setToolTip(info.summary)
        a.triggered.connect(lambda _=False, lid=info.id: win.start_lesson(lid))
    m.addSeparator()
    m.addAction("Toy model lab", lambda: win.show_panel("toy"))
    m.addAction("Neuron view (polysemantic neurons)", lambda: win.show_panel("neuron"))
    m.addAction("Mystery-feature quiz", lambda: win.show_panel("quiz"))
    if win.lesson_runner is not None:
        m.addSeparator()
        m.addAction("Exit lesson", win.end_lesson)
    if not m.actions():
        m.addAction("(no lessons installed)").setEnabled(False)
