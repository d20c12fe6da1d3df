"""Where user-level state lives: platformdirs, or $INPAINT_STUDIO_HOME when set (tests, portable
installs). Never inside the installed package."""
from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

APP_NAME = "InpaintStudio"
PACKAGE_ROOT = Path(__file__).resolve().parent
BUNDLED_MODELS_DIR = PACKAGE_ROOT.parent / "models"


def user_data_root() -> Path:
    home = os.environ.get("INPAINT_STUDIO_HOME")
    root = Path(home) if home else Path(user_data_dir(APP_NAME, appauthor=False))
    root.mkdir(parents=True, exist_ok=True)
    return root


def _subdir(name: str) -> Path:
    path = user_data_root() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_models_dir() -> Path:
    return _subdir("models")


def recovery_dir() -> Path:
    return _subdir("recovery")


def runs_dir() -> Path:
    return _subdir("runs")
