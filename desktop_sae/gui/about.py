"""The About box: versions, the loaded model and SAE, and their licences."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QMessageBox, QWidget

MODEL_LICENCES = {
    "smollm2": ("Apache-2.0", "SmolLM2 by Hugging Face (HuggingFaceTB/SmolLM2-135M-Instruct)"),
}


def about_html(info=None) -> str:
    import pyqtgraph
    import PySide6
    import torch
    import transformers

    from .. import __version__

    rows = [
        f"<h3>Desktop SAE {html.escape(str(__version__))}</h3>",
        "<p>Chat with a local language model, watch sparse-autoencoder features fire on every token, "
        "and steer the model with them.</p>",
    ]
    if info is not None:
        m = info.model
        name = str(m.get("name", ""))
        lic = next((v for k, v in MODEL_LICENCES.items() if k in name.lower()), None)
        rows.append(
            f"<p><b>Model</b>: {html.escape(name)} ({html.escape(str(m.get('architecture')))}, "
            f"{m.get('parameters', 0) / 1e6:.0f}M parameters) on {html.escape(str(m.get('device')))} "
            f"in {html.escape(str(m.get('dtype')))}<br>Licence: "
            + (f"{lic[0]} — {html.escape(lic[1])}" if lic else "see the model's own card")
            + "</p>"
        )
        if info.sae:
            s = info.sae
            rows.append(
                f"<p><b>SAE</b>: {html.escape(str(s.get('architecture')))}, {s.get('d_sae')} features at "
                f"{html.escape(str(s.get('hook')))}<br>from {html.escape(str(s.get('path')))}<br>"
                "Licence: the bundled SAE and its feature dictionary are Apache-2.0 (trained for this app); "
                "other SAEs keep their own licences.</p>"
            )
    rows.append(
        "<p><b>Licence</b>: Desktop SAE is Apache-2.0. Bundled model SmolLM2-135M-Instruct: Apache-2.0.<br>"
        f"Built with PySide6 {PySide6.__version__} (LGPL-3.0), pyqtgraph {pyqtgraph.__version__} (MIT), "
        f"PyTorch {torch.__version__} (BSD-3-Clause), transformers {transformers.__version__} (Apache-2.0).</p>"
    )
    return "".join(rows)


def show_about(parent: QWidget, info=None) -> QMessageBox:
    box = QMessageBox(parent)
    box.setWindowTitle("About Desktop SAE")
    box.setTextFormat(__import__("PySide6.QtCore", fromlist=["Qt"]).Qt.RichText)
    box.setText(about_html(info))
    box.open()
    return box
