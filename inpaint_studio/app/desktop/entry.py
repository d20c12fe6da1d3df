"""The freedesktop desktop entry: `inpaint-studio --install-desktop-entry` puts Inpaint Studio in
the desktop's launcher and in "Open with" for the images and projects it opens;
`--uninstall-desktop-entry` takes it out again.

Everything goes into the user's data folder ($XDG_DATA_HOME, by default ~/.local/share): the
entry in applications/, the icon in icons/hicolor/<size>/apps/ and, only where the system does
not know OpenRaster files yet, a shared-mime-info package for .ora in mime/packages/. Nothing is
written system-wide and no root is needed. The entry starts this Python with
`-m inpaint_studio.app`, so it works for a wheel, an editable install and a plain checkout alike
(a checkout's entry starts in the checkout)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ... import resources
from ...imaging import FORMATS
from ...paths import PACKAGE_ROOT

ORA_MIME = "image/openraster"   # shared-mime-info's name for OpenRaster (GIMP and Krita use it too)
ENTRY_NAME = f"{resources.APP_ID}.desktop"
MIME_PACKAGE_NAME = f"{resources.APP_ID}.xml"
EXEC_RESERVED = set(' \t\n"\'\\><~|&;$*?#()`')   # characters that make the spec quote an argument


class DesktopEntryError(OSError):
    """The entry cannot be installed here; the message says why."""


def mime_types() -> list[str]:
    """The MIME types of every format the editor opens: its image formats, then OpenRaster."""
    from PIL import Image

    Image.init()
    types = []
    for suffix, pillow_format in FORMATS.items():
        mime = Image.MIME.get(pillow_format)
        if mime is None:
            raise DesktopEntryError(f"no MIME type is known for {suffix} files ({pillow_format})")
        if mime not in types:
            types.append(mime)
    return types + [ORA_MIME]


def data_home(environ=os.environ) -> Path:
    """$XDG_DATA_HOME, or ~/.local/share when it is unset or not absolute (as the spec says)."""
    value = environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def data_dirs(environ=os.environ) -> list[Path]:
    value = environ.get("XDG_DATA_DIRS", "") or "/usr/local/share:/usr/share"
    return [Path(p) for p in value.split(":") if p and os.path.isabs(p)]


def _exec_quote(arg: str) -> str:
    """One argument of the Exec key, quoted as the desktop entry spec asks."""
    if arg and not (set(arg) & EXEC_RESERVED):
        return arg
    return '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'


def _string_value(text: str) -> str:
    """A desktop entry string value: backslashes doubled (the Exec quoting above adds its own)."""
    return text.replace("\\", "\\\\")


def launch_command() -> tuple[list[str], Path | None]:
    """The command the entry runs (before its %f) and the folder to start in: this Python with
    -m inpaint_studio.app; for a source checkout, started in the checkout so that it imports the
    checkout's code."""
    checkout = PACKAGE_ROOT.parent
    workdir = checkout if (checkout / "pyproject.toml").is_file() else None
    return [sys.executable, "-m", "inpaint_studio.app"], workdir


def entry_text() -> str:
    command, workdir = launch_command()
    exec_line = " ".join(_exec_quote(a) for a in command) + " %f"
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        "Name=Inpaint Studio",
        "GenericName=Photo Inpainting",
        "Comment=Paint over what should go in a photo and fill it with content that fits",
        f"Exec={_string_value(exec_line)}",
        f"TryExec={_string_value(command[0])}",
    ]
    if workdir is not None:
        lines.append(f"Path={_string_value(str(workdir))}")
    lines += [
        f"Icon={resources.APP_ID}",
        "Terminal=false",
        "StartupNotify=true",
        "Categories=Graphics;2DGraphics;RasterGraphics;Photography;",
        "Keywords=inpainting;retouch;remove object;scratches;restore;photo;",
        "MimeType=" + "".join(f"{m};" for m in mime_types()),
    ]
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def icon_targets(home: Path) -> dict[Path, Path]:
    """{installed icon path: resource file} in the hicolor theme of `home`."""
    hicolor = home / "icons" / "hicolor"
    targets = {hicolor / f"{s}x{s}" / "apps" / f"{resources.APP_ID}.png": resources.icon_png(s)
               for s in resources.ICON_SIZES}
    targets[hicolor / "scalable" / "apps" / f"{resources.APP_ID}.svg"] = resources.icon_svg()
    return targets


def system_knows_openraster(home: Path, environ=os.environ) -> bool:
    """True when a shared-mime-info package other than ours defines image/openraster."""
    for base in [home] + data_dirs(environ):
        packages = base / "mime" / "packages"
        for xml in sorted(packages.glob("*.xml")) if packages.is_dir() else []:
            if xml.name == MIME_PACKAGE_NAME and base == home:
                continue
            try:
                if f'type="{ORA_MIME}"' in xml.read_text(encoding="utf-8", errors="replace"):
                    return True
            except OSError:
                continue
    return False


def _refresh(tool: str, folder: Path, notes: list[str]) -> None:
    """Run a desktop cache tool on `folder` when it is installed (it is optional)."""
    exe = shutil.which(tool)
    if exe is None or not folder.is_dir():
        return
    try:
        done = subprocess.run([exe, str(folder)], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        notes.append(f"{tool} did not run: {exc}")
        return
    if done.returncode != 0:
        notes.append(f"{tool} {folder} failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")


def _require_freedesktop() -> None:
    if sys.platform == "win32" or sys.platform == "darwin":
        raise DesktopEntryError("desktop entries are for Linux and BSD desktops (freedesktop.org); on "
                                "Windows and macOS start Inpaint Studio with `inpaint-studio`")


def install(environ=os.environ) -> tuple[list[Path], list[str]]:
    """Write the entry, the icons and (if needed) the .ora MIME type; returns (written files,
    notes on optional steps that did not run)."""
    _require_freedesktop()
    home = data_home(environ)
    written, notes = [], []
    for target, source in icon_targets(home).items():
        _write_atomic(target, source.read_bytes())
        written.append(target)
    mime_package = home / "mime" / "packages" / MIME_PACKAGE_NAME
    if not system_knows_openraster(home, environ):
        _write_atomic(mime_package, resources.openraster_mime_xml().read_bytes())
        written.append(mime_package)
        _refresh("update-mime-database", home / "mime", notes)
    elif mime_package.is_file():             # the system learned the type since: ours goes
        mime_package.unlink()
        _refresh("update-mime-database", home / "mime", notes)
    entry = home / "applications" / ENTRY_NAME
    _write_atomic(entry, entry_text().encode("utf-8"))
    written.append(entry)
    _refresh("update-desktop-database", home / "applications", notes)
    return written, notes


def uninstall(environ=os.environ) -> tuple[list[Path], list[str]]:
    """Remove what install wrote; returns (removed files, notes)."""
    _require_freedesktop()
    home = data_home(environ)
    removed, notes = [], []
    entry = home / "applications" / ENTRY_NAME
    mime_package = home / "mime" / "packages" / MIME_PACKAGE_NAME
    for path in [entry, *icon_targets(home), mime_package]:
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(path)
    if entry in removed:
        _refresh("update-desktop-database", home / "applications", notes)
    if mime_package in removed:
        _refresh("update-mime-database", home / "mime", notes)
    return removed, notes


def run(action: str) -> int:
    """`inpaint-studio --install-desktop-entry` / `--uninstall-desktop-entry`: a line per result,
    exit status 0, or one line on stderr and 2."""
    try:
        files, notes = install() if action == "install" else uninstall()
    except (DesktopEntryError, resources.ResourceError, OSError) as exc:
        print(f"inpaint-studio: could not {action} the desktop entry: {exc}", file=sys.stderr)
        return 2
    home = data_home()
    if action == "install":
        entry = files[-1]
        print(f"Installed Inpaint Studio's desktop entry {entry} and its icon "
              f"({len(resources.ICON_SIZES)} sizes and SVG) under {home / 'icons' / 'hicolor'}; it opens "
              f"{', '.join(mime_types())}.")
        if any(f.name == MIME_PACKAGE_NAME for f in files):
            print(f"Added the OpenRaster file type (.ora) for this user: {home / 'mime' / 'packages' / MIME_PACKAGE_NAME}.")
    elif files:
        print(f"Removed Inpaint Studio's desktop entry and icons from {home} ({len(files)} files).")
    else:
        print(f"No desktop entry of Inpaint Studio was installed in {home}.")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
