"""File → Open remote model (nnsight / NDIF)…: a model id, where it runs (through nnsight in this process, or on
NDIF's servers), the NDIF host and API key (kept with the app's settings, masked), an SAE folder, and the trust
confirmation NDIF needs: its results are unpickled here (docs/REMOTE.md, "Trust"). Open asks ``ModelSlot.load``;
a refused model (no key, no network, a model NDIF does not run) leaves the loaded one in use."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ..app.loading import LoadRequest
from ..app.model_slot import ModelSlot
from ..core.remote.target import DEFAULT_HOST, Target, Transport
from ..core.support.text_enum import TextEnum
from .settings import get_bool

KEY_PAGE = "https://login.ndif.us"
TRUST_TEXT = (
    "<b>Trust.</b> NDIF sends its results back as pickled Python objects, and nnsight reads them with "
    "<code>torch.load(weights_only=False)</code>: whoever runs the server at this address can run code on this "
    "computer through them. Open a model only on a server you trust."
)
KEY_TEXT = ("The key is kept in the app's settings file (desktop-sae.ini, as plain text), never shown in messages. "
            f"Get one at {KEY_PAGE}.")


class SettingKey(TextEnum):
    """The dialog's entries in the app's settings."""

    MODEL = "remote/model"
    TRANSPORT = "remote/transport"
    HOST = "remote/host"
    API_KEY = "remote/ndif_api_key"
    SAE = "remote/sae"
    TRUSTED_HOST = "remote/trusted_host"  # the host whose trust the user confirmed
    REMEMBER_KEY = "remote/remember_key"


class RemoteModelDialog(QDialog):
    def __init__(self, model: ModelSlot, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.slot, self.settings = model, settings
        self.setWindowTitle("Open a remote model (nnsight / NDIF)")
        self.model_id = QLineEdit(str(settings.value(SettingKey.MODEL, "") or ""))
        self.model_id.setPlaceholderText("a Hugging Face model id, e.g. meta-llama/Llama-3.1-8B")
        self.in_process = QRadioButton("In this process, through nnsight (the weights load here)")
        self.in_process.setToolTip("The model (a hub id or a folder; empty: the bundled model) loads here with "
                                   "transformers, on the CPU in float32, and runs through nnsight: a check of the "
                                   "backend against the app's own engine")
        self.on_ndif = QRadioButton("On NDIF's servers (remote): for models too large for this machine")
        self.where = QButtonGroup(self)
        for b in (self.on_ndif, self.in_process):
            self.where.addButton(b)
        ndif = str(settings.value(SettingKey.TRANSPORT, Transport.NDIF.value)) == Transport.NDIF.value
        (self.on_ndif if ndif else self.in_process).setChecked(True)
        self.host = QLineEdit(str(settings.value(SettingKey.HOST, DEFAULT_HOST) or DEFAULT_HOST))
        self.api_key = QLineEdit(str(settings.value(SettingKey.API_KEY, "") or ""))
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("NDIF API key")
        self.remember_key = QCheckBox("Remember the key")
        self.remember_key.setChecked(get_bool(settings, SettingKey.REMEMBER_KEY, True))
        self.sae = QLineEdit(str(settings.value(SettingKey.SAE, "") or ""))
        self.sae.setPlaceholderText("an SAE folder for this model (empty: no SAE, chat only)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_sae)
        self.trust = QCheckBox("I trust this server to run code on this computer")
        self.trust_note = QLabel(TRUST_TEXT)
        key_note = QLabel(KEY_TEXT)
        for label in (self.trust_note, key_note):
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText if label is self.trust_note else Qt.TextFormat.PlainText)

        form = QFormLayout()
        form.addRow("Model", self.model_id)
        where = QVBoxLayout()
        where.addWidget(self.on_ndif)
        where.addWidget(self.in_process)
        form.addRow("Runs", where)
        form.addRow("NDIF host", self.host)
        key_row = QHBoxLayout()
        key_row.addWidget(self.api_key, 1)
        key_row.addWidget(self.remember_key)
        form.addRow("API key", key_row)
        form.addRow("", key_note)
        sae_row = QHBoxLayout()
        sae_row.addWidget(self.sae, 1)
        sae_row.addWidget(browse)
        form.addRow("SAE", sae_row)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.open_button = self.buttons.button(QDialogButtonBox.StandardButton.Open)
        self.buttons.accepted.connect(self.open_model)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.trust_note)
        layout.addWidget(self.trust)
        layout.addWidget(self.buttons)
        self.ndif_widgets: tuple[QWidget, ...] = (self.host, self.api_key, self.remember_key, key_note,
                                                  self.trust_note, self.trust)
        self.host.textChanged.connect(self._host_changed)
        for signal in (self.on_ndif.toggled, self.model_id.textChanged, self.trust.toggled):
            signal.connect(self._refresh)
        self.setMinimumWidth(620)
        self._host_changed()

    # --- state -------------------------------------------------------------------------------------------------------
    @property
    def transport(self) -> Transport:
        return Transport.NDIF if self.on_ndif.isChecked() else Transport.IN_PROCESS

    def _host(self) -> str:
        return self.host.text().strip() or DEFAULT_HOST

    def _host_changed(self) -> None:
        """The trust confirmation holds for the host it was given for."""
        self.trust.setChecked(str(self.settings.value(SettingKey.TRUSTED_HOST, "") or "") == self._host())
        self._refresh()

    def _refresh(self) -> None:
        ndif = self.transport is Transport.NDIF
        for w in self.ndif_widgets:
            w.setEnabled(ndif)
        ready = not ndif or (bool(self.model_id.text().strip()) and self.trust.isChecked())
        self.open_button.setEnabled(ready)
        self.open_button.setToolTip("" if ready else ("Give the model id and confirm that you trust the server"
                                                      if ndif else ""))

    def request(self) -> LoadRequest:
        """The load request the form describes."""
        model = self.model_id.text().strip()
        sae = self.sae.text().strip()
        if self.transport is Transport.NDIF:
            target = Target(model, Transport.NDIF, self._host(), self.api_key.text().strip())
            return LoadRequest(sae=sae or "none", remote=target)
        # in this process: an empty id is the bundled model, which comes with its SAE unless one is named
        return LoadRequest(model=model or None, sae=sae or (None if not model else "none"),
                           remote=Target(model, Transport.IN_PROCESS))

    # --- actions -----------------------------------------------------------------------------------------------------
    def open_model(self) -> None:
        if not self.open_button.isEnabled():
            return
        self._save()
        self.slot.load(self.request())
        self.accept()

    def _save(self) -> None:
        s, ndif = self.settings, self.transport is Transport.NDIF
        s.setValue(SettingKey.MODEL, self.model_id.text().strip())
        s.setValue(SettingKey.TRANSPORT, self.transport.value)
        s.setValue(SettingKey.SAE, self.sae.text().strip())
        s.setValue(SettingKey.REMEMBER_KEY, self.remember_key.isChecked())
        if ndif:
            s.setValue(SettingKey.HOST, self._host())
            s.setValue(SettingKey.TRUSTED_HOST, self._host())
            s.setValue(SettingKey.API_KEY, self.api_key.text().strip() if self.remember_key.isChecked() else "")
        s.sync()

    def _browse_sae(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "An SAE folder (SAELens, sparsify) for the remote model")
        if path:
            self.sae.setText(path)
