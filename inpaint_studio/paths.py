"""Where user-level state lives: platformdirs, or $INPAINT_STUDIO_HOME when set (tests, portable
installs). Never inside the installed package."""
from __future__ import annotations

import os
import site
import sys
from pathlib import Path

from platformdirs import user_data_dir

APP_NAME = "InpaintStudio"
PACKAGE_ROOT = Path(__file__).resolve().parent
WHEEL_MODELS_SUBDIR = Path("share") / "inpaint-studio" / "models"  # pyproject's data-files


def bundled_models_dir() -> Path:
    """The read-only models that ship with the app: models/ beside the package in a source
    checkout or an editable install; in an installed wheel, the copy pip put under the install
    prefix (<prefix>/share/inpaint-studio/models, the user base for --user installs)."""
    checkout = PACKAGE_ROOT.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / "models"
    for prefix in (sys.prefix, site.getuserbase()):
        if (Path(prefix) / WHEEL_MODELS_SUBDIR).is_dir():
            return Path(prefix) / WHEEL_MODELS_SUBDIR
    return Path(sys.prefix) / WHEEL_MODELS_SUBDIR


BUNDLED_MODELS_DIR = bundled_models_dir()


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
