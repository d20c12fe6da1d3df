"""The files of the top-level resources/ folder (paths.resources_dir: beside the package in a
checkout, under the install prefix from a wheel): the app icon, the style sheets and the sample
photos with their ready masks and licences. No Qt here: the desktop entry is written before Qt
starts."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .paths import resources_dir

APP_ID = "inpaint-studio"     # the icon's theme name, the desktop entry's file name
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)   # hicolor sizes (Linux), taskbars, docks


class ResourceError(OSError):
    """A resource file that is missing or unreadable (a broken install); names the file."""


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ResourceError(f"{path}: missing from the app's resources (reinstall Inpaint Studio)")
    return path


def icon_svg() -> Path:
    return _existing(resources_dir() / "icons" / f"{APP_ID}.svg")


def icon_png(size: int) -> Path:
    """The icon rendered at size x size pixels (tools/render_icons.py writes them)."""
    if size not in ICON_SIZES:
        raise ValueError(f"no {size} px icon; sizes: {ICON_SIZES}")
    return _existing(resources_dir() / "icons" / f"{APP_ID}-{size}.png")


def stylesheet(name: str = "dark") -> Path:
    return _existing(resources_dir() / "styles" / f"{name}.qss")


def openraster_mime_xml() -> Path:
    """A shared-mime-info package that defines image/openraster (*.ora), for systems without it."""
    return _existing(resources_dir() / "desktop" / "openraster-mime.xml")


@dataclass(frozen=True)
class Sample:
    """A sample photo with a ready mask (the hole to fill), and where the photo comes from."""
    id: str
    title: str
    photo: Path
    mask: Path
    task: str                     # what the mask covers, in a sentence
    origin: str
    licence: str
    licence_files: tuple[Path, ...]


def samples() -> list[Sample]:
    """The sample photos listed in resources/samples/samples.json, in its order."""
    folder = resources_dir() / "samples"
    listing = _existing(folder / "samples.json")
    try:
        entries = json.loads(listing.read_text(encoding="utf-8"))
        found = [Sample(e["id"], e["title"], _existing(folder / e["photo"]), _existing(folder / e["mask"]),
                        e["task"], e["origin"], e["licence"],
                        tuple(_existing(folder / f) for f in e["licence_files"])) for e in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise ResourceError(f"{listing}: not a list of samples ({exc})") from None
    return found
