"""Persistent settings (QSettings, an INI file in the user data directory so that tests and
portable installs, via INPAINT_STUDIO_HOME, each get their own)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from ...paths import user_data_root

MAX_RECENT = 10


class AppSettings:
    """Typed access to the values the app keeps between runs."""

    def __init__(self, path: Path | None = None):
        path = path or user_data_root() / "settings.ini"
        self.qsettings = QSettings(str(path), QSettings.IniFormat)

    def _get(self, key: str, default, kind):
        value = self.qsettings.value(key, default)
        try:
            if kind is bool and isinstance(value, str):
                return value.lower() in ("1", "true", "yes")
            return kind(value)
        except (TypeError, ValueError):
            return default

    def _set(self, key: str, value) -> None:
        self.qsettings.setValue(key, value)

    # tools
    brush_size = property(lambda s: s._get("tools/brush_size", 60, int), lambda s, v: s._set("tools/brush_size", int(v)))
    brush_hardness = property(lambda s: s._get("tools/brush_hardness", 1.0, float),
                              lambda s, v: s._set("tools/brush_hardness", float(v)))
    tool = property(lambda s: s._get("tools/current", "brush", str), lambda s, v: s._set("tools/current", v))
    mask_opacity = property(lambda s: s._get("mask/opacity", 0.55, float), lambda s, v: s._set("mask/opacity", float(v)))

    @property
    def mask_color(self) -> tuple[int, int, int]:
        text = self._get("mask/color", "#ff4060", str).lstrip("#")
        try:
            return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))
        except ValueError:
            return 255, 64, 96

    @mask_color.setter
    def mask_color(self, rgb) -> None:
        self._set("mask/color", "#%02x%02x%02x" % tuple(rgb))

    # inpainting
    engine_id = property(lambda s: s._get("inpaint/engine", "", str), lambda s, v: s._set("inpaint/engine", v))
    device = property(lambda s: s._get("inpaint/device", "auto", str), lambda s, v: s._set("inpaint/device", v))
    strategy = property(lambda s: s._get("inpaint/strategy", "crop", str), lambda s, v: s._set("inpaint/strategy", v))
    feather = property(lambda s: s._get("inpaint/feather", 0, int), lambda s, v: s._set("inpaint/feather", int(v)))
    colour_adaptation = property(lambda s: s._get("inpaint/colour_adaptation", True, bool),
                                 lambda s, v: s._set("inpaint/colour_adaptation", bool(v)))

    # files
    last_dir = property(lambda s: s._get("files/last_dir", str(Path.home()), str), lambda s, v: s._set("files/last_dir", str(v)))
    jpeg_quality = property(lambda s: s._get("files/jpeg_quality", 92, int), lambda s, v: s._set("files/jpeg_quality", int(v)))
    autosave_minutes = property(lambda s: s._get("recovery/autosave_minutes", 3.0, float),
                                lambda s, v: s._set("recovery/autosave_minutes", float(v)))

    @property
    def recent_files(self) -> list[str]:
        value = self.qsettings.value("files/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        items = [p for p in self.recent_files if p != path]
        self._set("files/recent", ([path] + items)[:MAX_RECENT])

    def clear_recent(self) -> None:
        self._set("files/recent", [])

    # window
    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        return self.qsettings.value("window/geometry"), self.qsettings.value("window/state")

    def save_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self._set("window/geometry", geometry)
        self._set("window/state", state)

    def sync(self) -> None:
        self.qsettings.sync()
