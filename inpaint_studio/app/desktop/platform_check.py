"""Before Qt starts on an X11 display: can its xcb platform plugin load?

PySide6's wheels carry Qt but not the X11 libraries of the system, and when one is missing Qt
aborts with a message that names the wrong package ("xcb-cursor0 or libxcb-cursor0 is needed",
although libxcb-icccm4 and libxcb-keysyms1 were missing). So when the app is going to use xcb
(Linux, DISPLAY set, QT_QPA_PLATFORM unset or xcb, not a Wayland session), `ldd` lists what the
plugin lacks and the app prints one line naming the libraries and the packages to install."""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

PLUGIN_NAME = "libqxcb.so"

# soname -> (Debian/Ubuntu, Fedora, Arch) package; what Qt 6's xcb plugin needs beyond glibc
PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libXau.so.6": ("libxau6", "libXau", "libxau"),
    "libXdmcp.so.6": ("libxdmcp6", "libXdmcp", "libxdmcp"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
}
MANAGERS = (("apt-get", 0, "sudo apt-get install"), ("dnf", 1, "sudo dnf install"), ("pacman", 2, "sudo pacman -S"))
NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")


def uses_xcb(environ=os.environ, platform: str = sys.platform) -> bool:
    """Will Qt pick its xcb plugin? Linux with an X display, unless another platform is asked
    for or the session is Wayland (where Qt 6 prefers its wayland plugin)."""
    if not platform.startswith("linux") or not environ.get("DISPLAY"):
        return False
    asked = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if asked:
        return asked == "xcb"
    return not (environ.get("XDG_SESSION_TYPE") == "wayland" and environ.get("WAYLAND_DISPLAY"))


def xcb_plugin() -> Path | None:
    """PySide6's xcb plugin (a pip wheel's layout), or None (a distribution's PySide6 links
    the system's Qt, whose packages bring their own dependencies)."""
    spec = importlib.util.find_spec("PySide6")
    for root in (spec.submodule_search_locations or []) if spec else []:
        plugin = Path(root) / "Qt" / "plugins" / "platforms" / PLUGIN_NAME
        if plugin.is_file():
            return plugin
    return None


def not_found(ldd_output: str) -> list[str]:
    """The sonames that `ldd` reports as "not found", once each, in its order."""
    found = []
    for line in ldd_output.splitlines():
        match = NOT_FOUND.match(line)
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


def missing_libraries(plugin: Path, environ=os.environ) -> list[str]:
    """What the dynamic linker cannot find for `plugin` (all its dependencies, not only direct
    ones); [] when ldd is not there to ask."""
    ldd = shutil.which("ldd", path=environ.get("PATH"))
    if ldd is None:
        return []
    try:
        done = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=30, env=dict(environ))
    except (OSError, subprocess.TimeoutExpired):
        return []
    return not_found(done.stdout)


def advice(missing: list[str], which=shutil.which) -> str:
    """One line: the missing libraries and the command that installs them with this system's
    package manager (Debian's names when none is recognised)."""
    column, command = 0, "sudo apt-get install"
    for tool, index, install in MANAGERS:
        if which(tool):
            column, command = index, install
            break
    packages, unknown, qt = [], [], []
    for soname in missing:
        if soname.startswith("libQt6") or soname.startswith("libpyside6") or soname.startswith("libshiboken6"):
            qt.append(soname)
        elif soname in PACKAGES:
            name = PACKAGES[soname][column]
            if name not in packages:
                packages.append(name)
        else:
            unknown.append(soname)
    parts = [f"Inpaint Studio cannot open a window: Qt's xcb platform plugin needs {', '.join(missing)}, "
             f"which {'is' if len(missing) == 1 else 'are'} not installed."]
    if packages:
        parts.append(f"Install with: {command} {' '.join(packages)}")
    if unknown:
        parts.append(f"(install the packages that provide {', '.join(unknown)})")
    if qt:
        parts.append("(Qt's own libraries are missing: pip install --force-reinstall PySide6-Essentials)")
    return " ".join(parts)


def check(environ=os.environ, plugin: Path | None = None) -> str | None:
    """The one-line message when the app is going to use xcb and its plugin cannot load, else None."""
    if not uses_xcb(environ):
        return None
    plugin = plugin or xcb_plugin()
    if plugin is None:
        return None
    missing = missing_libraries(plugin, environ)
    return advice(missing) if missing else None
