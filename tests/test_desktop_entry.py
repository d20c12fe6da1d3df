"""`inpaint-studio --install-desktop-entry`: a desktop entry, hicolor icons and (only where the
system lacks it) the .ora MIME type, written into a temporary XDG data home, nothing elsewhere;
the entry has the keys the spec wants and passes desktop-file-validate when that is installed;
uninstall removes it all."""
import configparser
import runpy
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from inpaint_studio import resources
from inpaint_studio.app import main
from inpaint_studio.app.desktop import entry
from inpaint_studio.app.editor.files import OPENABLE
from inpaint_studio.imaging import FORMATS

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="freedesktop desktops only")


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    """A temporary data home; the system's data folders stay as they are (they know .ora)."""
    home = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def read_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str                                   # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    assert parser.sections() == ["Desktop Entry"]
    return dict(parser["Desktop Entry"])


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_entry_written_to_a_temporary_xdg_home_is_valid(xdg, tmp_path, capsys):
    assert main(["inpaint-studio", "--install-desktop-entry"]) == 0
    path = xdg / "applications" / "inpaint-studio.desktop"
    assert str(path) in capsys.readouterr().out
    keys = read_entry(path)
    assert keys["Type"] == "Application" and keys["Name"] == "Inpaint Studio" and keys["Terminal"] == "false"
    assert keys["Icon"] == resources.APP_ID and keys["Categories"].endswith(";")
    command = keys["Exec"].split(" ")
    assert command == [sys.executable, "-m", "inpaint_studio.app", "%f"] and keys["TryExec"] == sys.executable
    assert keys["Path"] == str(REPO)                           # a checkout starts in the checkout
    assert keys["MimeType"].split(";")[:-1] == entry.mime_types()
    assert {"image/png", "image/jpeg", "image/webp", "image/tiff", "image/bmp",
            "image/openraster"} <= set(entry.mime_types())
    for size in resources.ICON_SIZES:
        icon = xdg / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "inpaint-studio.png"
        assert png_size(icon) == (size, size)
    assert (xdg / "icons" / "hicolor" / "scalable" / "apps" / "inpaint-studio.svg").is_file()
    assert not (xdg / "mime" / "packages").exists()            # the system knows image/openraster
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and xdg not in p.parents]
    assert outside == []                                       # nothing written beside the data home
    validate = shutil.which("desktop-file-validate")
    if validate:                                               # apt-get install desktop-file-utils
        done = subprocess.run([validate, str(path)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
    if shutil.which("update-desktop-database"):                # "Open with" reads this cache
        cache = (xdg / "applications" / "mimeinfo.cache").read_text()
        assert "image/openraster=inpaint-studio.desktop;" in cache


def test_the_ora_type_is_added_only_where_the_system_lacks_it(xdg, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "bare-system"))
    written, _ = entry.install()
    package = xdg / "mime" / "packages" / "inpaint-studio.xml"
    assert package in written and 'type="image/openraster"' in package.read_text()
    assert '<glob pattern="*.ora"/>' in package.read_text()
    if shutil.which("update-mime-database"):
        assert "image/openraster" in (xdg / "mime" / "globs2").read_text()
    system = tmp_path / "system"
    (system / "mime" / "packages").mkdir(parents=True)
    (system / "mime" / "packages" / "freedesktop.org.xml").write_text('<mime-type type="image/openraster">')
    monkeypatch.setenv("XDG_DATA_DIRS", str(system))
    written, _ = entry.install()                               # the system learned it: ours goes
    assert package not in written and not package.exists()


def test_uninstall_removes_what_install_wrote(xdg, capsys):
    written, _ = entry.install()
    assert main(["inpaint-studio", "--uninstall-desktop-entry"]) == 0
    assert not any(p.exists() for p in written)
    assert "Removed" in capsys.readouterr().out
    assert main(["inpaint-studio", "--uninstall-desktop-entry"]) == 0
    assert "No desktop entry" in capsys.readouterr().out


def test_exec_arguments_are_quoted_as_the_spec_says():
    assert entry._exec_quote("/usr/bin/python3") == "/usr/bin/python3"
    assert entry._exec_quote("/home/me/my env/bin/python") == '"/home/me/my env/bin/python"'
    assert entry._exec_quote('/a"b$c`d\\e') == '"/a\\"b\\$c\\`d\\\\e"'
    assert entry._string_value('"/a\\"b"') == '"/a\\\\"b"'


def test_every_format_the_editor_opens_has_its_mime_type():
    assert len(entry.mime_types()) == len(set(entry.mime_types()))
    assert set(FORMATS) | {".ora"} == OPENABLE                  # what files.py opens is what the entry lists
    assert entry.mime_types()[-1] == entry.ORA_MIME


def test_python_m_inpaint_studio_app_installs_it_too(xdg, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["inpaint_studio.app", "--install-desktop-entry"])
    with pytest.raises(SystemExit) as done:                    # what `python -m inpaint_studio.app` runs
        runpy.run_module("inpaint_studio.app", run_name="__main__")
    assert done.value.code == 0
    assert (xdg / "applications" / "inpaint-studio.desktop").is_file()


def test_an_unwritable_data_home_is_one_line_and_status_2(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    assert main(["inpaint-studio", "--install-desktop-entry"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("inpaint-studio: could not install the desktop entry") and "\n" not in err
