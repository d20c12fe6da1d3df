"""Features that plug into the main window through its public hooks (Model menu, tools,
overlays, close guards). Each module named here has `install(window) -> None`, called once the
window is built; a feature that fails to install is reported in the banner, not fatal."""
from __future__ import annotations

import importlib

EXTENSIONS: list[str] = [
    "guidance.source_region",
    "guidance.attention_view",
    "guidance.learn_photo",
    "restoration.scratch_finder",
    "training.model_manager",
    "training.feature",
]


def install_extensions(window) -> None:
    for name in EXTENSIONS:
        try:
            importlib.import_module(f"{__package__}.{name}").install(window)
        except Exception as exc:  # noqa: BLE001 - one broken feature must not stop the editor
            window.banner.show_message(f"The {name.rsplit('.', 1)[-1].replace('_', ' ')} feature could not start: {exc}")
