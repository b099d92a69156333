"""The settings half of the "Train an SAE" dialog: the corpus (the built-in recipe or the user's files and folders),
the hook point, width, k, token budget, passes, device and the output name; ``spec()`` turns them into a
``RunSpec``. The name follows the settings (model, layer, width, date) until the user types one."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.engine.hooks import SITES, parse_hook_name
from ..core.support.errors import HookPointError
from ..core.training.builtin_corpus import installed_sources
from ..core.training.run_specs import RunSpec, default_name, training_devices

SOURCE_NAMES = {"python_stdlib": "Python standard library (code and docstrings)", "wordnet": "WordNet glosses",
                "gcide": "GCIDE dictionary", "fortunes": "fortune cookies", "bible": "King James Bible"}
CORPUS_FILTER = "Text and JSONL (*.txt *.md *.rst *.text *.jsonl *.json *.py *.html);;All files (*)"


def _spin(lo: int, hi: int, value: int, step: int = 1, tip: str = "", suffix: str = "") -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setValue(value)
    s.setGroupSeparatorShown(True)
    s.setSuffix(suffix)
    s.setToolTip(tip)
    return s


class TrainForm(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model_name, self.n_layers, self.d_model = "", 0, 0
        self._auto_name: str | None = ""  # None once the user typed a name
        # --- corpus
        self.builtin = QRadioButton("Built-in recipe (no downloads)")
        self.files_choice = QRadioButton("My files and folders")
        self.builtin.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.builtin)
        group.addButton(self.files_choice)
        found = installed_sources()
        extra = [SOURCE_NAMES[s] for s in found if s != "python_stdlib"]
        self.builtin_note = QLabel(
            "Text already on this machine: " + ", ".join(SOURCE_NAMES[s] for s in found) + "."
            + ("" if extra else " Debian's wordnet-base, dict-gcide, fortunes and bible-kjv add English prose "
                                "when installed."))
        self.builtin_note.setWordWrap(True)
        self.builtin_note.setStyleSheet("color: palette(placeholder-text);")
        self.files = QListWidget()
        self.files.setMaximumHeight(90)
        self.files.setToolTip("Text files (one document each, long ones cut into pieces), .jsonl files (one "
                              "document per line, field 'text') and folders of them")
        self.add_files = QPushButton("Add files…")
        self.add_folder = QPushButton("Add folder…")
        self.remove = QPushButton("Remove")
        self.add_files.clicked.connect(self._pick_files)
        self.add_folder.clicked.connect(self._pick_folder)
        self.remove.clicked.connect(self._remove_selected)
        buttons = QHBoxLayout()
        for b in (self.add_files, self.add_folder, self.remove):
            buttons.addWidget(b)
        corpus = QGroupBox("Corpus")
        lay = QVBoxLayout(corpus)
        lay.addWidget(self.builtin)
        lay.addWidget(self.builtin_note)
        lay.addWidget(self.files_choice)
        lay.addWidget(self.files)
        lay.addLayout(buttons)
        # --- what to train
        self.layer = _spin(0, 0, 0, tip="The model layer whose activations the SAE learns to reconstruct")
        self.site = QComboBox()
        self.site.addItems([s.removeprefix("hook_") for s in SITES])
        self.site.setCurrentText("resid_post")
        self.site.setToolTip("resid_post: the residual stream after the layer (what the bundled SAE reads)")
        hook = QHBoxLayout()
        hook.addWidget(QLabel("layer"))
        hook.addWidget(self.layer)
        hook.addWidget(self.site, 1)
        self.width_spin = _spin(16, 131_072, 1024, 256, "Number of latents (features) the SAE learns")
        self.k = _spin(1, 1024, 32, 1, "Active latents per token (TopK)")
        self.tokens = _spin(2048, 100_000_000, 200_000, 50_000, "Activations collected from the corpus", " tokens")
        self.passes = _spin(1, 20, 2, 1, "How many times training goes over the collected activations")
        self.device = QComboBox()
        self.device.addItems(training_devices())
        self.device.setToolTip("Where the SAE trains; the model collects activations and evaluates on its own device")
        self.name = QLineEdit()
        self.name.setToolTip("The SAE's folder name in the app's 'saes' folder")
        self.name.textEdited.connect(lambda _t: setattr(self, "_auto_name", None))  # the user's name stays
        self.estimate = QLabel("")
        self.estimate.setWordWrap(True)
        self.estimate.setStyleSheet("color: palette(placeholder-text);")
        what = QGroupBox("The SAE")
        form = QFormLayout(what)
        form.addRow("Hook point", hook)
        form.addRow("Width", self.width_spin)
        form.addRow("k", self.k)
        form.addRow("Token budget", self.tokens)
        form.addRow("Passes", self.passes)
        form.addRow("Device", self.device)
        form.addRow("Name", self.name)
        form.addRow(self.estimate)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(corpus)
        outer.addWidget(what)
        outer.addStretch(1)
        for w in (self.layer, self.width_spin, self.k, self.tokens, self.passes):
            w.valueChanged.connect(self._on_change)
        self.site.currentTextChanged.connect(self._on_change)
        self.device.currentTextChanged.connect(self._on_change)
        group.buttonToggled.connect(lambda *_: self._on_change())
        self._on_change()

    # --- the model ---------------------------------------------------------------------------------------------
    def set_model(self, name: str, n_layers: int, d_model: int, hook: str | None = None) -> None:
        """Layers of the loaded model; the layer starts at the loaded SAE's (else the middle one)."""
        first = self.n_layers == 0
        self.model_name, self.n_layers, self.d_model = name, n_layers, d_model
        self.layer.setRange(0, max(0, n_layers - 1))
        if first:
            try:
                hp = parse_hook_name(hook) if hook else None
            except HookPointError:
                hp = None
            self.layer.setValue(hp.layer if hp else n_layers // 2)
            if hp:
                self.site.setCurrentText(hp.site.removeprefix("hook_"))
        self._on_change()

    def hook(self) -> str:
        return f"blocks.{self.layer.value()}.hook_{self.site.currentText()}"

    # --- the corpus --------------------------------------------------------------------------------------------
    def corpus(self) -> tuple[str, ...]:
        if self.builtin.isChecked():
            return ()
        return tuple(self.files.item(i).text() for i in range(self.files.count()))

    def add_paths(self, paths) -> None:
        have = {self.files.item(i).text() for i in range(self.files.count())}
        for p in paths:
            if p and p not in have:
                self.files.addItem(p)
                have.add(p)
        if self.files.count():
            self.files_choice.setChecked(True)
        self._on_change()

    def _pick_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Corpus files", "", CORPUS_FILTER)
        self.add_paths(paths)

    def _pick_folder(self) -> None:
        self.add_paths([QFileDialog.getExistingDirectory(self, "A folder of text or .jsonl files")])

    def _remove_selected(self) -> None:
        for item in self.files.selectedItems():
            self.files.takeItem(self.files.row(item))
        self._on_change()

    # --- the request -------------------------------------------------------------------------------------------
    def spec(self) -> RunSpec:
        return RunSpec(self.name.text().strip(), self.hook(), self.corpus(), self.width_spin.value(), self.k.value(),
                       self.tokens.value(), self.passes.value(), self.device.currentText())

    def set_values(self, **kw) -> None:
        """Set fields by name (layer, site, width, k, tokens, passes, device, name) as a user would."""
        for key, value in kw.items():
            w = self.width_spin if key == "width" else getattr(self, key)
            if isinstance(w, QSpinBox):
                w.setValue(int(value))
            elif isinstance(w, QComboBox):
                w.setCurrentText(str(value))
            else:
                w.setText(str(value))
                self._auto_name = None

    def refresh_name(self) -> None:
        """The automatic name for the current settings (unless the user typed one)."""
        if self._auto_name is not None and self.model_name:
            self._auto_name = default_name(self.model_name, self.hook(), self.width_spin.value())
            self.name.setText(self._auto_name)

    def _on_change(self, *_args) -> None:
        self.refresh_name()
        disk = f"; the activations take about {self.tokens.value() * 2 * self.d_model / 1e6:,.0f} MB of disk " \
            "while it runs (deleted at the end)" if self.d_model else ""
        self.estimate.setText(f"Trains on {self.tokens.value() * self.passes.value():,} tokens{disk}.")
        self.files.setEnabled(self.files_choice.isChecked())
        self.remove.setEnabled(self.files_choice.isChecked() and self.files.count() > 0)
        self.changed.emit()
