"""The toy lab: three hands-on toy models for a classroom, each trained as a run on the inference thread.

1. **Superposition** (Elhage et al. 2022): n features in a 2-D hidden space; the columns of W drawn as arrows
   while it trains, then a plain-language summary of their shape.
2. **Autoencoder vs sparse autoencoder**: the rainbow analogy.
3. **SAE recovers the features**: a toy model, then an SAE on its hidden vectors, drawn together.

``ToyLab(jobs)`` is a plain widget: the main window or a lesson places it. Lessons call ``show_tab``,
``train_superposition``, ``run_rainbow``, ``train_toy_sae`` and ``cancel``, and ``widget_for(highlight)`` finds
what a lesson step highlights; tests read ``toy_geometry``, ``summary``, ``arrow_updates`` and ``recovery``.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from ..app.job_handles import Jobs
from .toy_tab_rainbow import RainbowTab
from .toy_tab_sae import SAETab
from .toy_tab_superposition import SlowMotionBox, SuperpositionTab

TABS = ("superposition", "rainbow", "sae")
TAB_TITLES = ("Superposition", "Autoencoder vs sparse autoencoder", "SAE recovers the features")


class ToyLab(QWidget):
    """Tabs of toy models; ``finished(tab, outcome)`` after each run ("done" | "cancelled" | "failed")."""

    finished = Signal(str, str)

    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self.setObjectName("toy_lab")
        self.slow_motion = SlowMotionBox()
        slow = self.slow_motion.isChecked
        self.superposition = SuperpositionTab(jobs, slow)
        self.rainbow = RainbowTab(jobs)
        self.sae = SAETab(jobs, slow)
        self.tabs = QTabWidget()
        for tab, title in zip(self.tab_widgets(), TAB_TITLES):
            self.tabs.addTab(tab, title)
        self.tabs.setCornerWidget(self.slow_motion)
        for name, tab in zip(TABS, self.tab_widgets()):
            tab.finished.connect(lambda outcome, name=name: self.finished.emit(name, outcome))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.tabs)

    def tab_widgets(self) -> tuple[SuperpositionTab, RainbowTab, SAETab]:
        return self.superposition, self.rainbow, self.sae

    # --- actions (lessons, menus, tests) ------------------------------------------------------------------------
    def show_tab(self, name: str) -> None:
        """Bring a tab to the front: "superposition", "rainbow" or "sae"."""
        if name not in TABS:
            raise ValueError(f"unknown toy lab tab {name!r}; expected one of {', '.join(TABS)}")
        self.tabs.setCurrentIndex(TABS.index(name))

    def current_tab(self) -> str:
        return TABS[self.tabs.currentIndex()]

    def train_superposition(
        self, n: int = 5, sparsity: float = 0.95, decay: float = 0.9, seed: int = 0, steps: int | None = None
    ) -> int:
        """Set the Superposition tab's controls, show it and train; returns the job id."""
        self.show_tab("superposition")
        self.superposition.set_values(n=n, sparsity=sparsity, decay=decay, seed=seed)
        return self.superposition.start(steps=steps)

    def run_rainbow(self, colours: int = 16, seed: int = 0) -> int:
        """Show the rainbow tab and train both of its models; returns the job id."""
        self.show_tab("rainbow")
        return self.rainbow.start(colours=colours, seed=seed)

    def train_toy_sae(
        self,
        n: int = 5,
        sparsity: float = 0.95,
        decay: float = 0.9,
        seed: int = 0,
        latents: int | None = None,
        l1: float = 1.0,
        steps: int | None = None,
    ) -> int:
        """Show the SAE tab, train a toy model and then an SAE on its hidden vectors; returns the job id."""
        self.show_tab("sae")
        self.sae.set_values(n=n, sparsity=sparsity, latents=latents or 2 * n, seed=seed)
        return self.sae.start(decay=decay, l1=l1, steps=steps)

    def cancel(self) -> None:
        """Stop whatever the lab is training (each tab keeps what it had drawn)."""
        for tab in self.tab_widgets():
            tab.cancel()

    # --- read-only state ----------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return any(t.busy for t in self.tab_widgets())

    @property
    def toy_geometry(self):
        """The ``Geometry`` of the last finished superposition run (None before one)."""
        return self.superposition.toy_geometry

    @property
    def summary(self) -> str:
        """The plain-language summary of the last finished superposition run."""
        return self.superposition.summary_text

    @property
    def arrow_updates(self) -> int:
        """How many times the superposition arrows were redrawn (``live_arrow_updates``: while training)."""
        return self.superposition.arrow_updates

    @property
    def live_arrow_updates(self) -> int:
        return self.superposition.live_updates

    @property
    def recovery(self):
        """The SAE tab's last ``Recovery`` (fraction, best cosines), None before one."""
        return self.sae.recovery

    @property
    def rainbow_result(self):
        return self.rainbow.result

    def widget_for(self, highlight: str) -> QWidget | None:
        """The widget a lesson step's ``highlight`` names, if the lab has it."""
        return {
            "toy_plot": self.superposition.arrows,
            "toy_train_button": self.superposition.run_button,
            "sparsity_slider": self.superposition.sparsity,
            "sae_plot": self.sae.arrows,
            "rainbow_plot": self.rainbow.codes_plot,
        }.get(highlight)
