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


def user_models_dir() -> Path:
    path = user_data_root() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def recovery_dir() -> Path:
    path = user_data_root() / "recovery"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    path = user_data_root() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path
