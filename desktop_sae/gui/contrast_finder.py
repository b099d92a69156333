"""The contrastive finder: texts with a concept against close texts without it -> the SAE features that fire more on
the first set (ranked, with Steer / Inspect / Pin per row) and the mean-difference vector between the two sets (to
steer with or save). The search is a run (``app.contrast_run``); this dialog renders it and forwards."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..app.contrast_examples import EXAMPLES
from ..app.contrast_run import ContrastRun
from ..app.controller import Controller
from ..app.discover import (
    DiscoverError,
    check_texts,
    default_vector_path,
    read_texts_file,
    split_texts,
    steer_found,
    steer_set,
    vector_strength,
)
from ..app.runs import RunChange, RunStatus
from ..core.features.contrast import ContrastResult
from ..core.support.errors import DesktopSAEError
from .feature_hits_table import FeatureHitsTable, name_cell
from .lifetime import bind, own_run

COLUMNS = ("feature", "score", "mean +", "mean −", "fires on +", "fires on −", "label")
COLUMN_TIPS = (
    "Feature id",
    "(mean on positives − mean on negatives) ÷ the feature's max activation",
    "Mean activation over the positive texts (each text's mean over its tokens)",
    "Mean activation over the negative texts",
    "Share of positive texts on which the feature fires at all",
    "Share of negative texts on which the feature fires at all",
    "The feature's name: your label, else its explanation, else its top tokens",
)
SIDES = (
    ("Positive texts", "Texts with the concept: one per line, or paragraphs separated by a blank line"),
    ("Negative texts", "Close texts without it (same style and topic otherwise), one per line or by paragraph"),
)


class ContrastFinder(QDialog):
    steered = Signal(int)  # a feature (or a vector's negative key) was added to the steering set
    inspectRequested = Signal(int)

    def __init__(self, controller: Controller, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctl = ctl = controller
        self.run = ContrastRun(ctl.jobs)
        own_run(self, self.run)
        self.contrast: ContrastResult | None = None  # the search shown
        self.setWindowTitle("Find features by contrast")
        self.resize(980, 760)
        self.example = QComboBox()
        self.example.addItem("Built-in examples…", None)
        for name in EXAMPLES:
            self.example.addItem(name, name)
        self.example.setToolTip("Fill both boxes with an example pair")
        self.example.activated.connect(lambda _i: self.use_example(self.example.currentData()))
        self.boxes, self.counts, boxes = [], [], QWidget()
        grid = QGridLayout(boxes)
        grid.setContentsMargins(0, 0, 0, 0)
        for col, (title, tip) in enumerate(SIDES):
            box = QPlainTextEdit()
            box.setPlaceholderText(tip)
            box.setToolTip(tip)
            load = QPushButton("Load .txt…")
            load.setToolTip(f"Read the {title.lower()} from a text file")
            load.clicked.connect(lambda _=False, b=box: self.load_file_dialog(b))
            count = QLabel("")
            box.textChanged.connect(self._count)
            row = QHBoxLayout()
            row.addWidget(QLabel(f"<b>{title}</b>"))
            row.addStretch(1)
            row.addWidget(count)
            row.addWidget(load)
            grid.addLayout(row, 0, col)
            grid.addWidget(box, 1, col)
            self.boxes.append(box)
            self.counts.append(count)
        self.positives, self.negatives = self.boxes
        self.find_btn = QPushButton("Find features")
        self.find_btn.setDefault(True)
        self.find_btn.setToolTip("Read every text with the model and rank the SAE's features (runs in the background)")
        self.find_btn.clicked.connect(self.search)
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.setEnabled(False)
        self.stop_btn.clicked.connect(self.run.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.vec_label = QLabel("The mean-difference vector appears here after a search.")
        self.vec_label.setWordWrap(True)
        self.vec_steer = QPushButton("Steer with the difference vector")
        self.vec_steer.setToolTip("Add mean(positives) − mean(negatives) at the SAE's hook to the steering set, "
                                  "at the length of the top feature's default steering")
        self.vec_steer.clicked.connect(self.steer_vector)
        self.set_steer = QPushButton("Steer with the top features as a set")
        self.set_steer.setToolTip("Add the first features, each weighted by how much more it fires on the positive "
                                  "texts, together as long as half a typical residual: the way the demo concepts "
                                  "steer (a sparse, named mean difference)")
        self.set_steer.clicked.connect(self.steer_set)
        self.vec_save = QPushButton("Save vector…")
        self.vec_save.setToolTip("Save the vector as a .safetensors file (load it later as a steering vector)")
        self.vec_save.clicked.connect(self.save_vector_dialog)
        vec = QGroupBox("Mean-difference vector")
        vl = QHBoxLayout(vec)
        vl.addWidget(self.vec_label, 1)
        vl.addWidget(self.vec_steer)
        vl.addWidget(self.set_steer)
        vl.addWidget(self.vec_save)
        self.table = FeatureHitsTable()
        self.table.steerRequested.connect(self.steer_feature)
        self.table.inspectRequested.connect(self.inspect)
        self.table.pinRequested.connect(ctl.features.toggle_pin)
        results = QWidget()
        rl = QVBoxLayout(results)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(vec)
        rl.addWidget(self.table, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(boxes)
        split.addWidget(results)
        split.setSizes([260, 500])
        top = QHBoxLayout()
        top.addWidget(QLabel("Which SAE features fire more on the positive texts than on the negative ones?"), 1)
        top.addWidget(self.example)
        act = QHBoxLayout()
        for w in (self.find_btn, self.stop_btn, self.progress):
            act.addWidget(w)
        act.addWidget(self.status, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        lay.addLayout(act)
        bind(ctl.features.pins_changed, self, self.table.show_pinned)
        bind(ctl.model.loaded, self, lambda _i: self._show(None))
        bind(ctl.model.ready_changed, self, lambda _r: self._enable())
        bind(self.run.changed, self, self._on_run)
        self._show(None)

    # --- input --------------------------------------------------------------------------------------------
    def use_example(self, name: str | None) -> None:
        if name in EXAMPLES:
            pos, neg = EXAMPLES[name]
            self.positives.setPlainText("\n".join(pos))
            self.negatives.setPlainText("\n".join(neg))

    def load_file_dialog(self, box: QPlainTextEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load texts", "", "Text files (*.txt);;All files (*)")
        if path:
            self.load_file(box, path)

    def load_file(self, box: QPlainTextEdit, path: str) -> None:
        try:
            box.setPlainText(read_texts_file(path))
        except DiscoverError as e:
            self._say(str(e), error=True)

    def texts(self) -> tuple[list[str], list[str]]:
        return split_texts(self.positives.toPlainText()), split_texts(self.negatives.toPlainText())

    def _count(self) -> None:
        for box, label in zip(self.boxes, self.counts):
            n = len(split_texts(box.toPlainText()))
            label.setText(f"{n} text{'s' * (n != 1)}" if n else "")

    # --- the search ---------------------------------------------------------------------------------------
    def search(self) -> None:
        pos, neg = self.texts()
        try:
            check_texts(pos, neg)
            if not self._has_sae():
                raise DiscoverError("load a model and an SAE first")
        except DiscoverError as e:
            self._say(str(e), error=True)
            return
        self.progress.setValue(0)
        self.progress.show()
        self._say(f"Reading {len(pos) + len(neg)} texts…")
        self.run.start(pos, neg)
        self._enable()

    def _on_run(self, what: RunChange) -> None:
        run = self.run
        if what == RunChange.PROGRESS:
            if run.fraction is not None:
                self.progress.setValue(int(100 * run.fraction))
                self._say(run.message)
            return
        if run.running:
            return
        self.progress.hide()
        if run.status == RunStatus.DONE:
            self._show(run.result)
        elif run.status == RunStatus.FAILED:
            self._say(run.error or "", error=True)
        elif run.status == RunStatus.CANCELLED:
            self._say("Stopped.")
        self._enable()

    def _show(self, res: ContrastResult | None) -> None:
        self.contrast = res
        self._enable()
        if res is None:
            self.table.set_rows(COLUMNS, [])
            self.vec_label.setText("The mean-difference vector appears here after a search.")
            return
        names = [name_cell(self.ctl.model.label(h.feature), h.label) for h in res.hits]
        rows = [(h.feature, (f"{h.score:.3f}", f"{h.pos_mean:.2f}", f"{h.neg_mean:.2f}", f"{h.pos_frac:.0%}",
                             f"{h.neg_frac:.0%}", name), tip)
                for h, (name, tip) in zip(res.hits, names)]
        self.table.set_rows(COLUMNS, rows, numeric=range(1, 6))
        for c, tip in enumerate(COLUMN_TIPS):
            header = self.table.horizontalHeaderItem(c)
            if header is not None:
                header.setToolTip(tip)
        self.table.show_pinned(self.ctl.features.pinned)
        s = vector_strength(self.ctl.model.info, res)
        self.vec_label.setText(
            f"‖mean(positives) − mean(negatives)‖ = {res.vector.norm:.3g} at {res.vector.hook or 'the hook'} "
            f"({res.n_pos} vs {res.n_neg} texts). It steers at {s:g}× its length: as long as the top feature's "
            f"default steering.")
        self._say(f"{len(res.hits)} features fire more on the positive texts." if res.hits else
                  "No feature fires more on the positive texts.")

    # --- actions ------------------------------------------------------------------------------------------
    def steer_feature(self, f: int) -> None:
        try:
            spec = steer_found(self.ctl.steering, f)
        except DesktopSAEError as e:
            self.ctl.notices.report_error("Could not steer", str(e))
            return
        self._say(f"Steering with #{f} at {spec.strength:g}{'×' if spec.unit == 'max' else ' (raw)'}.")
        self.steered.emit(f)

    def steer_vector(self) -> None:
        res = self.contrast
        if res is None:
            return
        try:
            spec = self.ctl.steering.steer_vector(res.vector, vector_strength(self.ctl.model.info, res))
        except DesktopSAEError as e:
            self.ctl.notices.report_error("Could not steer with the vector", str(e))
            return
        self._say(f"Steering with the difference vector at {spec.strength:g}× (row {spec.feature}).")
        self.steered.emit(spec.feature)

    def steer_set(self) -> None:
        res = self.contrast
        if res is None:
            return
        try:
            rows = steer_set(self.ctl.steering, res)
        except DesktopSAEError as e:
            self.ctl.notices.report_error("Could not steer with the feature set", str(e))
            return
        self._say("Steering with the set " + ", ".join(f"#{r.feature} {r.strength:g}×" for r in rows) + ".")
        for r in rows:
            self.steered.emit(r.feature)

    def inspect(self, f: int) -> None:
        self.ctl.features.select(f)
        self.inspectRequested.emit(f)

    def save_vector_dialog(self) -> None:
        if self.contrast is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the steering vector", str(default_vector_path(
            self.contrast.vector)), "Steering vectors (*.safetensors)")
        if path:
            self.save_vector_to(path)

    def save_vector_to(self, path: str) -> Path | None:
        from ..core.steering.vectors import save_vector

        if self.contrast is None:
            return None
        try:
            out = save_vector(self.contrast.vector, path)
        except OSError as e:
            self._say(f"Could not save the vector: {e}", error=True)
            return None
        self._say(f"Vector saved to {out}")
        return out

    # --- state --------------------------------------------------------------------------------------------
    def _has_sae(self) -> bool:
        return self.ctl.model.ready and self.ctl.model.has_sae

    def _enable(self) -> None:
        running = self.run.running
        self.find_btn.setEnabled(not running and self._has_sae())
        self.stop_btn.setEnabled(running)
        for w in (self.vec_steer, self.vec_save, self.set_steer):
            w.setEnabled(self.contrast is not None and not running)
        self.set_steer.setEnabled(self.set_steer.isEnabled() and self.contrast is not None
                                  and self.contrast.set_strength is not None)

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #c0392b" if error else "")
        self.status.setText(text)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.run.cancel()
        super().closeEvent(event)
