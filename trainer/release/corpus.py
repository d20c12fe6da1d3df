"""`python -m trainer corpus build DIR`: the open photo corpus the bundled model is trained on.

Sources, and only these: Debian's wallpaper/artwork packages and a few data packages with
photographs, plus the sample images inside the scikit-image and scikit-learn wheels. The recipe
downloads them (`apt-get download`, `pip download`; no root), unpacks them (`dpkg-deb -x`),
keeps photographs, drops near-duplicates, splits train/val by content and writes a manifest with
every file's origin and licence, so that anyone on a Debian-like system can rebuild the model.

Photograph filter (documented, simple, deterministic), applied to each decoded image:
  - shorter side at least --min-side pixels (default 256, the training crop);
  - not mostly transparent (icons, logos, cut-outs: mean alpha < 250 is dropped);
  - colour-rich: at least 3000 distinct colours in a 128x128 thumbnail, and its 8 most common
    colours cover less than 25 % of it (flat vector art and diagrams fail this);
  - textured: under 35 % of thumbnail pixels have a zero gradient (flat fills fail this).
Images with a transparent sky (Stellarium's landscape panoramas) keep their widest fully opaque
horizontal band when it passes the rules above. gcompris keeps its pictures inside Qt resource
bundles (.rcc), which are unpacked with Qt's own QResource.
Near-duplicates (the same wallpaper at several resolutions) share a 64-bit difference hash
(Hamming distance <= 6); the largest copy is kept. The val split is 10 % of the hash groups,
chosen by hash, so no view of a held-out photo is ever trained on.
Kept images are stored with the long side capped at 2048 px as JPEG quality 95.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DEBIAN_PACKAGES = [
    "mate-backgrounds", "ukui-wallpapers", "lomiri-wallpapers", "lomiri-wallpapers-20.04",
    "desktop-base", "gnome-backgrounds", "sway-backgrounds", "opencv-doc", "stellarium-data",
    "gcompris-qt-data",
]
DEBIAN_PREFIXES = ["debian-edu-artwork"]  # debian-edu-artwork*
WHEELS = ["scikit-image", "scikit-learn"]
# where a package's photographs are (others hold star charts, drawings and icons)
PHOTO_FOLDERS = {"stellarium-data": "usr/share/stellarium/landscapes/"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"}
MAX_SIDE = 2048
TRUSTED_MAX_PIXELS = 300_000_000  # packaged archives are trusted; some panoramas are large


class CorpusError(RuntimeError):
    """A source that could not be fetched or unpacked; the message says which and why."""


def _run(cmd: list[str], what: str, cwd=None) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise CorpusError(f"{what}: '{cmd[0]}' is not installed (the recipe needs a Debian-like system)") from None
    if proc.returncode != 0:
        raise CorpusError(f"{what} failed: {proc.stderr.strip()[-300:]}")


@dataclass
class Entry:
    source: str        # debian package or wheel
    version: str
    member: str        # path inside the package
    licence: str
    sha256: str
    width: int
    height: int
    kept: bool
    reason: str
    split: str = ""
    file: str = ""     # path of the stored copy, relative to the corpus folder
    group: str = ""    # difference hash of its near-duplicate group


# -- fetching -------------------------------------------------------------------------------------
def debian_package_names() -> list[str]:
    names = list(DEBIAN_PACKAGES)
    for prefix in DEBIAN_PREFIXES:
        out = subprocess.run(["apt-cache", "pkgnames", prefix], capture_output=True, text=True).stdout
        names += sorted(n for n in out.split() if n.startswith(prefix))
    return names


def fetch(root: Path, log) -> list[tuple[str, str, Path]]:
    """Download and unpack every source: [(name, version, unpacked folder)]."""
    debs, wheels, unpacked = root / "downloads" / "debs", root / "downloads" / "wheels", root / "unpacked"
    for d in (debs, wheels, unpacked):
        d.mkdir(parents=True, exist_ok=True)
    sources = []
    for name in debian_package_names():
        found = sorted(debs.glob(f"{name}_*.deb"))
        if not found:
            log(f"downloading {name}")
            _run(["apt-get", "download", name], f"apt-get download {name} (run 'apt-get update' once "
                 "if the package lists are missing)", cwd=debs)
            found = sorted(debs.glob(f"{name}_*.deb"))
        deb = found[-1]
        version = deb.name.split("_")[1]
        target = unpacked / name
        if not target.exists():
            _run(["dpkg-deb", "-x", str(deb), str(target)], f"unpacking {deb.name}")
        if any(target.rglob("*.rcc")) and not (target / "rcc").exists():
            _unpack_qt_resources(target)
        sources.append((name, version, target))
    for name in WHEELS:
        found = sorted(wheels.glob(f"{name.replace('-', '_')}-*.whl"))
        if not found:
            log(f"downloading wheel {name}")
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), name],
                 f"pip download {name}")
            found = sorted(wheels.glob(f"{name.replace('-', '_')}-*.whl"))
        whl = found[-1]
        version = whl.name.split("-")[1]
        target = unpacked / name
        if not target.exists():
            with zipfile.ZipFile(whl) as zf:
                for member in zf.namelist():
                    if Path(member).suffix.lower() in IMAGE_SUFFIXES or Path(member).name.upper().startswith(("README", "LICENSE", "COPYING")):
                        zf.extract(member, target)
        sources.append((name, version, target))
    return sources


def _unpack_qt_resources(folder: Path) -> None:
    """Copy the images inside Qt .rcc bundles to folder/rcc/<bundle>/..."""
    from PySide6.QtCore import QDirIterator, QFile, QResource

    for rcc in sorted(folder.rglob("*.rcc")):
        root = f"/{rcc.stem}"
        if not QResource.registerResource(str(rcc), root):
            continue
        it = QDirIterator(f":{root}", QDirIterator.Subdirectories)
        while it.hasNext():
            path = it.next()
            if Path(path).suffix.lower() in IMAGE_SUFFIXES:
                target = folder / "rcc" / path[2:]
                target.parent.mkdir(parents=True, exist_ok=True)
                QFile.copy(path, str(target))
        QResource.unregisterResource(str(rcc), root)


def _opaque_band(image: Image.Image) -> Image.Image | None:
    """The widest horizontal band of fully opaque rows, or None when the image is opaque."""
    if not (image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)):
        return None
    alpha = np.asarray(image.convert("RGBA").getchannel("A"))
    opaque = (alpha >= 250).mean(1) >= 0.995
    best, start = (0, 0), None
    for y, ok in enumerate(np.append(opaque, False)):
        if ok and start is None:
            start = y
        elif not ok and start is not None:
            if y - start > best[1] - best[0]:
                best = (start, y)
            start = None
    return image.convert("RGB").crop((0, best[0], image.width, best[1])) if best[1] > best[0] else None


# -- licences -------------------------------------------------------------------------------------
def _dep5_stanzas(text: str) -> list[tuple[list[str], str]]:
    stanzas, files, licence = [], None, None
    for block in text.split("\n\n"):
        files = licence = None
        for line in block.splitlines():
            if line.startswith("Files:"):
                files = line[6:].split()
            elif line.startswith("License:"):
                licence = line[8:].strip()
        if licence:
            stanzas.append((files or [], licence))
    return stanzas


_LISTED = re.compile(r"^\s*-\s+(\S+?):?\s*$")
_LICENSED = re.compile(r"Licen[cs]ed under (?:the )?(.+?)\.?\s*$")
_GPL = re.compile(r"GNU (Lesser |Library )?General Public License.{0,200}?version (\d)(.{0,80}?any later version)?",
                  re.S)


def _free_form_licence(text: str, name: str) -> tuple[str | None, str | None]:
    """A copyright file that is not DEP-5: files listed as '- NAME' lines followed by 'Licensed
    under X.' (gnome-backgrounds' layout), and the general licence from its GPL paragraph.
    Returns (this file's licence or None, the general licence or None)."""
    chosen, pending = None, []
    for line in text.splitlines():
        listed, licensed = _LISTED.match(line), _LICENSED.search(line)
        if listed:
            pending.append(listed.group(1))
        elif licensed:
            if chosen is None and any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(Path(name).stem, p) for p in pending):
                chosen = licensed.group(1).strip()
            pending = []
    gpl = _GPL.search(text)
    general = None
    if gpl:
        general = f"{'L' if gpl.group(1) else ''}GPL-{gpl.group(2)}{'+' if gpl.group(3) else ''}"
    return chosen, general


def licence_for(source: str, folder: Path, member: str) -> str:
    """The licence that the package's own copyright file gives this file (DEP-5: the last
    matching Files stanza wins), else the package's general licence."""
    copyright_file = folder / "usr" / "share" / "doc" / source / "copyright"
    if copyright_file.is_file():
        stanzas = _dep5_stanzas(copyright_file.read_text(errors="replace"))
        # DEP-5 paths are the source tree's; the installed path may carry any prefix (usr/share/...)
        parts = member.split("/")
        tails = ["/".join(parts[i:]) for i in range(len(parts))]
        chosen = None
        for files, licence in stanzas:
            if any(fnmatch.fnmatch(tail, f) for f in files if f != "*" for tail in tails):
                chosen = licence
        general = next((lic for files, lic in stanzas if "*" in files), stanzas[0][1] if stanzas else None)
        if not stanzas:
            chosen, general = _free_form_licence(copyright_file.read_text(errors="replace"), Path(member).name)
        return f"{chosen or general or 'see copyright file'} (per /usr/share/doc/{source}/copyright)"
    for readme in sorted(folder.rglob("README*")):  # wheels: the data folder's README names each image
        text = readme.read_text(errors="replace")
        name = Path(member).name
        if name in text:
            lines = text.splitlines()
            at = next(i for i, line in enumerate(lines) if name in line)
            snippet = " ".join(s.strip() for s in lines[at:at + 4] if s.strip())
            return f"{snippet[:240]} (per {readme.relative_to(folder)})"
    return f"licence of the {source} distribution (BSD-3-Clause)"


# -- the photograph filter ------------------------------------------------------------------------
def photo_verdict(image: Image.Image, min_side: int) -> tuple[bool, str]:
    w, h = image.size
    if min(w, h) < min_side:
        return False, f"too small ({w}x{h})"
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        alpha = np.asarray(image.convert("RGBA").getchannel("A").resize((128, 128)))
        if alpha.mean() < 250:
            return False, "transparent (icon, logo or cut-out)"
    thumb = np.asarray(image.convert("RGB").resize((128, 128), Image.BILINEAR))
    flat = thumb.reshape(-1, 3)
    codes = (flat[:, 0].astype(np.int32) << 16) | (flat[:, 1].astype(np.int32) << 8) | flat[:, 2]
    uniq, counts = np.unique(codes, return_counts=True)
    if len(uniq) < 3000:
        return False, f"few colours ({len(uniq)})"
    top = np.sort(counts)[-8:].sum() / codes.size
    if top >= 0.25:
        return False, f"flat areas (8 colours cover {top:.0%})"
    grey = thumb.astype(np.int16).sum(-1)
    still = ((np.abs(np.diff(grey, axis=0))[:, :-1] == 0) & (np.abs(np.diff(grey, axis=1))[:-1] == 0)).mean()
    if still >= 0.35:
        return False, f"untextured ({still:.0%} flat pixels)"
    return True, "photograph"


def difference_hash(image: Image.Image) -> int:
    grey = np.asarray(image.convert("L").resize((9, 8), Image.BILINEAR), dtype=np.int16)
    bits = (grey[:, 1:] > grey[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


# -- the build ------------------------------------------------------------------------------------
def build(root: str | Path, min_side: int = 256, val_fraction: float = 0.10, log=print) -> dict:
    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, TRUSTED_MAX_PIXELS  # only during the build
    try:
        return _build(Path(root), min_side, val_fraction, log)
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _build(root: Path, min_side: int, val_fraction: float, log) -> dict:
    sources = fetch(root, log)
    entries: list[Entry] = []
    hashes: dict[int, int] = {}  # entry index -> dhash
    for source, version, folder in sources:
        wanted = PHOTO_FOLDERS.get(source, "")
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
            member = str(path.relative_to(folder))
            if not member.startswith(wanted):
                continue
            data = path.read_bytes()
            entry = Entry(source, version, member, licence_for(source, folder, member),
                          hashlib.sha256(data).hexdigest(), 0, 0, False, "")
            try:
                with Image.open(path) as im:
                    entry.width, entry.height = im.size
                    im.load()
                    im = _opaque_band(im) or im
                    entry.kept, entry.reason = photo_verdict(im, min_side)
                    if entry.kept:
                        hashes[len(entries)] = difference_hash(im)
                        entry.width, entry.height = im.size
            except Exception as exc:  # noqa: BLE001 - any undecodable file is simply not a photo
                entry.reason = f"unreadable ({type(exc).__name__})"
            entries.append(entry)
    _drop_duplicates(entries, hashes)
    out_dirs = {"train": root / "train", "val": root / "val"}
    for d in out_dirs.values():
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    for i, entry in enumerate(entries):
        if not entry.kept:
            continue
        group = hashes[i]
        entry.group = f"{group:016x}"
        entry.split = "val" if int(hashlib.sha1(entry.group.encode()).hexdigest(), 16) % 1000 < val_fraction * 1000 else "train"
        name = f"{entry.source}__{entry.member.replace('/', '_')}"
        target = out_dirs[entry.split] / (Path(name).stem + ".jpg")
        with Image.open(Path(root / "unpacked" / entry.source / entry.member)) as im:
            im = _opaque_band(im) or im.convert("RGB")
            im.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
            im.save(target, quality=95)
            entry.file = str(target.relative_to(root))
    return _write_manifest(root, entries)


def _drop_duplicates(entries: list[Entry], hashes: dict[int, int]) -> None:
    order = sorted(hashes, key=lambda i: -entries[i].width * entries[i].height)
    kept: list[int] = []
    for i in order:
        twin = next((k for k in kept if bin(hashes[i] ^ hashes[k]).count("1") <= 6), None)
        if twin is None:
            kept.append(i)
        else:
            entries[i].kept = False
            entries[i].reason = f"near-duplicate of {entries[twin].source}/{entries[twin].member}"
            hashes[i] = hashes[twin]
    for i in list(hashes):
        if not entries[i].kept:
            del hashes[i]


def _write_manifest(root: Path, entries: list[Entry]) -> dict:
    with open(root / "manifest.jsonl", "w", encoding="utf-8") as fh:
        for e in entries:
            fh.write(json.dumps(asdict(e)) + "\n")
    kept = [e for e in entries if e.kept]
    summary = {"files_seen": len(entries), "photographs": len(kept)}
    for split in ("train", "val"):
        part = [e for e in kept if e.split == split]
        summary[split] = {"images": len(part),
                          "megapixels_original": round(sum(e.width * e.height for e in part) / 1e6, 1)}
    summary["by_source"] = {}
    for e in kept:
        summary["by_source"][e.source] = summary["by_source"].get(e.source, 0) + 1
    summary["dropped"] = {}
    for e in entries:
        if not e.kept:
            key = e.reason.split(" (")[0].split(" of ")[0]
            summary["dropped"][key] = summary["dropped"].get(key, 0) + 1
    (root / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def compress(root: str | Path, dest: str | Path, quality: int = 85, max_side: int | None = None) -> dict:
    """A copy of a built corpus's train/ and val/ for moving it to a training machine (the GPU
    machine takes 64 MiB a call): every photo re-encoded as JPEG at `quality`, optionally capped
    to `max_side` px. The full-size corpus and its manifest stay where they are."""
    root, dest = Path(root), Path(dest)
    if not (root / "train").is_dir():
        raise CorpusError(f"{root}: no train/ folder: build the corpus first (corpus build {root})")
    if dest.resolve() == root.resolve():
        raise CorpusError("the compressed copy needs another folder than the corpus")
    report = {"quality": quality, "max_side": max_side, "images": 0, "bytes_before": 0, "bytes_after": 0}
    for split in ("train", "val"):
        for path in sorted((root / split).glob("*")) if (root / split).is_dir() else []:
            with Image.open(path) as image:
                image = image.convert("RGB")
                if max_side and max(image.size) > max_side:
                    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
                target = dest / split / (path.stem + ".jpg")
                target.parent.mkdir(parents=True, exist_ok=True)
                image.save(target, "JPEG", quality=quality)
            report["images"] += 1
            report["bytes_before"] += path.stat().st_size
            report["bytes_after"] += target.stat().st_size
    return report


# -- command line ---------------------------------------------------------------------------------
def register(subparsers) -> None:
    parser = subparsers.add_parser("corpus", help="build the open photo corpus for the bundled model")
    verbs = parser.add_subparsers(dest="verb", required=True)
    b = verbs.add_parser("build", help="download, extract, filter and split the sources")
    b.add_argument("dir")
    b.add_argument("--min-side", type=int, default=256)
    b.add_argument("--val-fraction", type=float, default=0.10)
    b.set_defaults(func=lambda a: print(json.dumps(build(a.dir, a.min_side, a.val_fraction), indent=2)) or 0)
    c = verbs.add_parser("compress", help="a smaller JPEG copy of train/ and val/ to carry to a GPU machine")
    c.add_argument("dir")
    c.add_argument("dest")
    c.add_argument("--quality", type=int, default=85, help="JPEG quality (default 85)")
    c.add_argument("--max-side", type=int, help="cap the long side (default: keep the size)")
    c.set_defaults(func=lambda a: print(json.dumps(compress(a.dir, a.dest, a.quality, a.max_side))) or 0)
