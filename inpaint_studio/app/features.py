"""The features of the editor, by name, and their installation.

Each module named here has `install(window) -> object` and plugs in only through the window's
hooks (ranked menu sections, add_tool, close guards, the inpainting controller's option
providers and engine sources; see editor/main_window.py), so the order below changes nothing.
What install returns is kept in `window.features[name]`. A feature that fails to install is
reported in the banner, not fatal. The editor knows these modules only by name: the rooms of
features stand above it and are never imported by it."""
from __future__ import annotations

import importlib

FEATURES: dict[str, str] = {
    "source_region": "guidance.source_region",
    "attention_view": "guidance.attention_view",
    "learn_photo": "guidance.learn_photo",
    "scratch_finder": "restoration.scratch_finder",
    "spot_heal": "restoration.spot_heal",
    "clone_stamp": "restoration.clone_stamp",
    "model_manager": "training.model_manager",
    "fine_tune": "training.fine_tune",
}


def install_features(window, names: dict[str, str] | None = None) -> None:
    for name, module in (FEATURES if names is None else names).items():
        try:
            window.features[name] = importlib.import_module(f"{__package__}.{module}").install(window)
        except Exception as exc:  # noqa: BLE001 - one broken feature must not stop the editor
            window.banner.show_message(f"The {name.replace('_', ' ')} feature could not start: {exc}")
