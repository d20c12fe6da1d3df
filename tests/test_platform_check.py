"""Before Qt aborts on a machine without the X11 libraries that its xcb plugin needs, the app
prints one line naming them and the packages to install, and exits non-zero: parsing ldd, the
package names per system, when xcb is going to be used, and a real ldd run on a plugin whose
libraries are hidden (a copy of PySide6's plugin outside its install, started as `python main.py`)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inpaint_studio.app.desktop import platform_check as pc

REPO = Path(__file__).resolve().parents[1]

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd1a3f0000)
\tlibQt6XcbQpa.so.6 => /opt/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f1c9a000000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f1c99f00000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f1c99e00000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
"""


def test_ldd_output_gives_each_missing_library_once():
    assert pc.not_found(LDD_OUTPUT) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert pc.not_found("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == []


def test_the_advice_is_one_line_with_this_systems_packages():
    missing = ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    debian = pc.advice(missing, which=lambda tool: tool == "apt-get")
    assert "\n" not in debian
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in debian
    assert debian.endswith("Install with: sudo apt-get install libxcb-icccm4 libxcb-keysyms1")
    fedora = pc.advice(missing, which=lambda tool: tool == "dnf")
    assert "sudo dnf install xcb-util-wm xcb-util-keysyms" in fedora
    arch = pc.advice(["libxcb-cursor.so.0"], which=lambda tool: tool == "pacman")
    assert "sudo pacman -S xcb-util-cursor" in arch and " is not installed" in arch
    odd = pc.advice(["libQt6XcbQpa.so.6", "libweird.so.9"], which=lambda tool: False)
    assert "libweird.so.9" in odd and "PySide6-Essentials" in odd and "Install with" not in odd


def test_the_check_runs_only_where_qt_will_use_xcb():
    assert pc.uses_xcb({"DISPLAY": ":0"}, "linux")
    assert pc.uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux")
    assert pc.uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb;wayland"}, "linux")
    assert not pc.uses_xcb({}, "linux")                                           # no X display
    assert not pc.uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not pc.uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland"}, "linux")
    assert not pc.uses_xcb({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"},
                           "linux")
    assert not pc.uses_xcb({"DISPLAY": ":0"}, "darwin") and not pc.uses_xcb({"DISPLAY": ":0"}, "win32")
    assert pc.check({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}) is None


def hidden_plugin(tmp_path) -> Path:
    """PySide6's real xcb plugin copied into a fake PySide6 package: the Qt libraries it finds
    beside itself ($ORIGIN/../../lib) are not there, so ldd reports them missing."""
    plugin = pc.xcb_plugin()
    if plugin is None or not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        pytest.skip("needs Linux, ldd and PySide6's xcb plugin from a wheel")
    fake = tmp_path / "fake" / "PySide6"
    (fake / "Qt" / "plugins" / "platforms").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    shutil.copy2(plugin, fake / "Qt" / "plugins" / "platforms" / pc.PLUGIN_NAME)
    return fake / "Qt" / "plugins" / "platforms" / pc.PLUGIN_NAME


def test_a_plugin_with_hidden_libraries_is_reported(tmp_path):
    copy = hidden_plugin(tmp_path)
    missing = pc.missing_libraries(copy)
    assert "libQt6XcbQpa.so.6" in missing
    message = pc.check({"DISPLAY": ":0", "PATH": os.environ.get("PATH", "")}, plugin=copy)
    assert message is not None and "\n" not in message and "libQt6XcbQpa.so.6" in message


def test_python_main_py_prints_one_line_and_exits_before_qt(tmp_path):
    copy = hidden_plugin(tmp_path)
    fake_root = copy.parents[4]                     # the folder holding the fake PySide6 package
    env = {**os.environ, "DISPLAY": ":99", "PYTHONPATH": f"{fake_root}{os.pathsep}{REPO}"}
    env.pop("QT_QPA_PLATFORM", None)
    env.pop("WAYLAND_DISPLAY", None)
    done = subprocess.run([sys.executable, str(REPO / "main.py")], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Inpaint Studio cannot open a window")
    assert "libQt6XcbQpa.so.6" in lines[0]
