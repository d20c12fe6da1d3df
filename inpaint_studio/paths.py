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
WHEEL_DATA_DIR = Path("share") / "inpaint-studio"    # pyproject's data-files: <prefix>/share/inpaint-studio/...
WHEEL_MODELS_SUBDIR = WHEEL_DATA_DIR / "models"
WHEEL_RESOURCES_SUBDIR = WHEEL_DATA_DIR / "resources"


def _shipped_dir(name: str) -> Path:
    """A top-level folder of the project that ships with the app (models/, resources/): the
    folder beside the package in a source checkout or an editable install; in an installed
    wheel, the copy pip put under the install prefix (<prefix>/share/inpaint-studio/<name>, the
    user base for --user installs)."""
    checkout = PACKAGE_ROOT.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / name
    for prefix in (sys.prefix, site.getuserbase()):
        if (Path(prefix) / WHEEL_DATA_DIR / name).is_dir():
            return Path(prefix) / WHEEL_DATA_DIR / name
    return Path(sys.prefix) / WHEEL_DATA_DIR / name


def bundled_models_dir() -> Path:
    """The read-only models that ship with the app (see _shipped_dir)."""
    return _shipped_dir("models")


def resources_dir() -> Path:
    """The app's read-only resources: icons, style sheets, sample photos (see _shipped_dir)."""
    return _shipped_dir("resources")


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
