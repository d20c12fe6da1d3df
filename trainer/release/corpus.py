"""`python -m trainer corpus build DIR`: the open photo corpus the bundled model is trained on.

Sources, and only these: Debian's wallpaper/artwork packages, games' and educational data,
documentation and test data with photographs, plus the sample photographs inside a few Python
wheels (DEBIAN_PACKAGES, WHEELS; trainer/README.md lists what each contributes). The recipe
downloads them (`apt-get download`, `pip download`; no root), unpacks them (`dpkg-deb -x`),
keeps photographs, drops near-duplicates, splits train/val by content and writes a manifest with
every file's origin and licence, so that anyone on a Debian-like system can rebuild the model.
RESERVED packages are refused, whoever asks for them.

Licences: each file's comes from its package's copyright file (DEP-5 or free-form; a doc folder
that links to another package's is followed to that package), or for a wheel from the README
beside the image, else the wheel's own licence. A file whose licence is not one known to allow
redistribution and derived works (free_licence) is dropped, and counted under "licence".

Photograph filter (documented, simple, deterministic), applied to each decoded image:
  - shorter side at least --min-side pixels (default 256, the training crop);
  - not mostly transparent (icons, logos, cut-outs: mean alpha < 250 is dropped);
  - colour-rich: at least 3000 distinct colours in a 128x128 thumbnail, and its 8 most common
    colours cover less than 25 % of it (flat vector art and diagrams fail this);
  - textured: under 35 % of thumbnail pixels have a zero gradient (flat fills fail this).
Images with a transparent sky (Stellarium's landscape panoramas) keep their widest fully opaque
horizontal band when it passes the rules above. gcompris keeps its pictures inside Qt resource
bundles (.rcc), which are unpacked with Qt's own QResource.
Where a package mixes photographs with screenshots, drawings, renders or edited variants of
one photo, PHOTO_MEMBERS names the members to consider (checked by looking at contact sheets).
Near-duplicates (the same wallpaper at several resolutions) share a 64-bit difference hash
(Hamming distance <= 6) confirmed by either its vertical twin (distance <= 10) or an 8x8 colour
thumbnail (mean difference <= 20 of 255): the horizontal hash alone takes any two dark pictures
with a bright middle (a galaxy, a city at night, a colour wheel) for one. The largest copy is
kept. The val split is 10 % of the hash groups, chosen by hash, so no view of a held-out photo is
ever trained on; with --previous, a group that holds a photo of an earlier build keeps that
photo's split (a grown corpus never moves a held-out photo into training, nor a trained-on one
into the held-out set). Photos are turned upright by their EXIF orientation.
Kept images are stored with the long side capped at 2048 px as JPEG quality 95.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

DEBIAN_PACKAGES = [
    # wallpapers and artwork
    "mate-backgrounds", "ukui-wallpapers", "lomiri-wallpapers", "lomiri-wallpapers-20.04",
    "lomiri-wallpapers-16.04", "desktop-base", "gnome-backgrounds", "sway-backgrounds", "lxqt-themes",
    # games' and educational data
    "stellarium-data", "gcompris-qt-data", "tuxpaint-data", "tuxtype-data", "tuxmath-data", "kalzium-data",
    "palapeli-data", "puzzle-jigsaw",
    # documentation, samples and test data
    "opencv-doc", "kphotoalbum", "gimp-help-en", "scribus-template", "scribus-data", "digikam-data",
    "libjxl-testdata", "libvigraimpex-doc",
]
DEBIAN_PREFIXES = ["debian-edu-artwork"]  # debian-edu-artwork*
WHEELS = ["scikit-image", "scikit-learn", "imgaug", "mahotas"]
# never used, whoever asks: these photos are kept out of every training set
RESERVED = {"plasma-workspace-wallpapers": "reserved for the product owner's held-out evaluation"}
# Where a package's photographs are, as shell patterns on the member path ('*' crosses folders; a
# leading '!' excludes). The rest of these packages holds star charts, screenshots, drawings,
# renders, logos or edited variants of one photo (gimp-help's filter examples), which the
# photograph filter alone lets through.
PHOTO_MEMBERS = {
    "stellarium-data": ["usr/share/stellarium/landscapes/*"],
    "scikit-image": ["*", "!*/color.png"],  # a rendered colour wheel
    "lomiri-wallpapers-16.04": ["usr/share/backgrounds/*", "!*/analogpattern_*", "!*/greentock_*", "!*/umang_*"],
    "lxqt-themes": ["usr/share/lxqt/wallpapers/*", "!*logo*", "!*/kde-plasma.png"],
    "tuxpaint-data": ["usr/share/tuxpaint/templates/*", "usr/share/tuxpaint/starters/*"],
    "tuxtype-data": ["usr/share/tuxtype/images/backgrounds/*", "usr/share/tuxtype/images/kcas*",
                     "usr/share/tuxtype/images/hidden.jpg"],
    "tuxmath-data": ["usr/share/tuxmath/images/backgrounds/*", "usr/share/tuxmath/images/title/menu_bkg.jpg"],
    "kalzium-data": ["usr/share/kalzium/data/toolpics/*"],
    "palapeli-data": ["usr/share/palapeli/collection/*"],
    "puzzle-jigsaw": ["usr/share/puzzle-jigsaw/samples/*"],
    "kphotoalbum": ["usr/share/kphotoalbum/demo/*", "!*/qt-logo.jpg"],
    "gimp-help-en": ["*/images/filters/examples/*orig*", "*/images/using/*_orig.png",
                     "*/tone-mapping/apple-orchard-truck-from-camera.jpg", "*/tone-mapping/power-lines.jpg"],
    "scribus-template": ["usr/share/scribus/templates/*"],
    "scribus-data": ["usr/share/scribus/templates/*.jpg"],
    "digikam-data": ["usr/share/digikam/about/images/*"],
    "libjxl-testdata": ["*/external/wesaturate/*", "*/jxl/flower/flower.png", "*/jxl/hdr_room.png"],
    "libvigraimpex-doc": ["*/html/bears.jpg"],
    "imgaug": ["imgaug/quokka.jpg"],
    "mahotas": ["mahotas/demos/data/DepartmentStore.jpg"],
}
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


def refuse_reserved(names: list[str]) -> None:
    """CorpusError naming the first RESERVED package among `names`, before anything is fetched."""
    for name in names:
        if name in RESERVED:
            raise CorpusError(f"{name}: {RESERVED[name]}; it is never part of the corpus")


def is_photo_member(source: str, member: str) -> bool:
    """Whether PHOTO_MEMBERS lets `member` of `source` be considered (all members when unlisted)."""
    patterns = PHOTO_MEMBERS.get(source)
    if not patterns:
        return True
    include = [p for p in patterns if not p.startswith("!")]
    exclude = [p[1:] for p in patterns if p.startswith("!")]
    return (any(fnmatch.fnmatchcase(member, p) for p in include)
            and not any(fnmatch.fnmatchcase(member, p) for p in exclude))


def _download_deb(name: str, debs: Path, log) -> Path:
    found = sorted(debs.glob(f"{name}_*.deb"))
    if not found:
        log(f"downloading {name}")
        _run(["apt-get", "download", name], f"apt-get download {name} (run 'apt-get update' once "
             "if the package lists are missing)", cwd=debs)
        found = sorted(debs.glob(f"{name}_*.deb"))
    return found[-1]


def fetch(root: Path, log, extra_packages: tuple[str, ...] = ()) -> list[tuple[str, str, Path]]:
    """Download and unpack every source: [(name, version, unpacked folder)]."""
    debs, wheels, unpacked = root / "downloads" / "debs", root / "downloads" / "wheels", root / "unpacked"
    names = debian_package_names() + [n for n in extra_packages if n not in DEBIAN_PACKAGES]
    refuse_reserved(names + list(WHEELS))
    for d in (debs, wheels, unpacked):
        d.mkdir(parents=True, exist_ok=True)
    sources = []
    for name in names:
        deb = _download_deb(name, debs, log)
        version = deb.name.split("_")[1]
        target = unpacked / name
        if not target.exists():
            _unpack(deb, target)
        if any(target.rglob("*.rcc")) and not (target / "rcc").exists():
            _unpack_qt_resources(target)
        doc = target / "usr" / "share" / "doc" / name
        if doc.is_symlink() and "/" not in os.readlink(doc):  # its copyright is in a sibling package
            sibling = os.readlink(doc)
            refuse_reserved([sibling])
            if not (unpacked / sibling).exists():
                _unpack(_download_deb(sibling, debs, log), unpacked / sibling)
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
            staging = target.with_name(target.name + ".part")
            shutil.rmtree(staging, ignore_errors=True)
            with zipfile.ZipFile(whl) as zf:
                for member in zf.namelist():
                    if (Path(member).suffix.lower() in IMAGE_SUFFIXES or member.endswith(".dist-info/METADATA")
                            or Path(member).name.upper().startswith(("README", "LICENSE", "COPYING"))):
                        zf.extract(member, staging)
            os.replace(staging, target)
        sources.append((name, version, target))
    return sources


def _unpack(deb: Path, target: Path) -> None:
    """dpkg-deb -x into a staging folder, then into place: an interrupted build unpacks again."""
    staging = target.with_name(target.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    _run(["dpkg-deb", "-x", str(deb), str(staging)], f"unpacking {deb.name}")
    os.replace(staging, target)


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


def _upright(image: Image.Image) -> Image.Image:
    """The decoded image turned as its EXIF orientation says (the stored copy keeps no EXIF)."""
    image.load()
    return ImageOps.exif_transpose(image) or image


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


def _copyright_file(source: str, folder: Path) -> tuple[Path, str]:
    """The package's copyright file and the package it belongs to: a doc folder that is a link to
    a sibling package's (gimp-help-en -> gimp-help-common) is read from that package, unpacked
    beside this one by `fetch`."""
    doc = folder / "usr" / "share" / "doc" / source
    if doc.is_symlink() and "/" not in os.readlink(doc):
        sibling = os.readlink(doc)
        return folder.parent / sibling / "usr" / "share" / "doc" / sibling / "copyright", sibling
    return doc / "copyright", source


def licence_for(source: str, folder: Path, member: str) -> str:
    """The licence that the package's own copyright file gives this file (DEP-5: the last
    matching Files stanza wins), else the package's general licence; for a wheel, what a README
    beside the images says of it, else the wheel's own licence (its METADATA)."""
    copyright_file, owner = _copyright_file(source, folder)
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
        return f"{chosen or general or 'see copyright file'} (per /usr/share/doc/{owner}/copyright)"
    for readme in sorted(folder.rglob("README*")):  # wheels: the data folder's README names each image
        text = readme.read_text(errors="replace")
        name = Path(member).name
        if name in text:
            lines = text.splitlines()
            at = next(i for i, line in enumerate(lines) if name in line)
            snippet = " ".join(s.strip() for s in lines[at:at + 4] if s.strip())
            return f"{snippet[:240]} (per {readme.relative_to(folder)})"
    for metadata in sorted(folder.glob("*.dist-info/METADATA")):
        header = metadata.read_text(errors="replace").split("\n\n")[0]
        fields = dict(line.split(": ", 1) for line in header.splitlines() if ": " in line and not line.startswith(" "))
        classifier = re.search(r"^Classifier: License :: (?:OSI Approved :: )?(.+)$", header, re.M)
        licence = (fields.get("License-Expression") or (classifier.group(1) if classifier else None)
                   or fields.get("License"))
        if licence:
            return f"{licence.strip()} (the {source} wheel's licence; it names no other terms for this image)"
    return "unknown (no copyright file, README or wheel metadata names it)"


# licences that allow redistribution and derived works (weights trained on the photos), and the
# restrictions that exclude a file whatever else its licence says
_FREE = re.compile(r"\b(L?GPL|GFDL|GNU (Lesser |Library |Free Documentation )?(General Public )?License|CC0|CC-BY"
                   r"|BSD|MIT|Expat|Apache|ISC|PSF|Python Software Foundation|public domain)|creative commons", re.I)
_RESTRICTED = re.compile(r"\b(NC|ND)\b|non-?commercial|no-?deriv|non-free|all rights reserved|unknown|see copyright",
                         re.I)


def free_licence(licence: str) -> bool:
    """Whether a manifest licence is one known to allow redistribution and derived works."""
    return bool(_FREE.search(licence)) and not _RESTRICTED.search(licence)


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


def difference_hash(image: Image.Image, vertical: bool = False) -> int:
    grey = np.asarray(image.convert("L").resize((8, 9) if vertical else (9, 8), Image.BILINEAR), dtype=np.int16)
    bits = (grey[1:] > grey[:-1]) if vertical else (grey[:, 1:] > grey[:, :-1])
    return int("".join("1" if b else "0" for b in bits.flatten()), 2)


def confirmation(image: Image.Image) -> tuple[int, np.ndarray]:
    """What confirms a difference-hash match: the vertical hash and an 8x8 colour thumbnail."""
    thumbnail = np.asarray(image.convert("RGB").resize((8, 8), Image.BILINEAR), np.float32)
    return difference_hash(image, vertical=True), thumbnail


# -- the build ------------------------------------------------------------------------------------
def build(root: str | Path, min_side: int = 256, val_fraction: float = 0.10, log=print,
          extra_packages: tuple[str, ...] = (), previous: str | Path | None = None) -> dict:
    refuse_reserved(list(extra_packages))
    pinned = _previous_splits(Path(previous)) if previous else {}
    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, TRUSTED_MAX_PIXELS  # only during the build
    try:
        return _build(Path(root), min_side, val_fraction, log, tuple(extra_packages), pinned)
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _previous_splits(manifest: Path) -> dict[str, str]:
    """sha256 -> split of the photos an earlier build kept (its manifest.jsonl)."""
    if manifest.is_dir():
        manifest = manifest / "manifest.jsonl"
    if not manifest.is_file():
        raise CorpusError(f"{manifest}: no such manifest (give an earlier build's folder or manifest.jsonl)")
    splits = {}
    for number, line in enumerate(manifest.read_text().splitlines(), 1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise CorpusError(f"{manifest}: line {number} is not JSON") from None
        if entry.get("kept") and entry.get("split") in ("train", "val"):
            splits[entry["sha256"]] = entry["split"]
    return splits


def _build(root: Path, min_side: int, val_fraction: float, log, extra_packages: tuple[str, ...],
           pinned: dict[str, str]) -> dict:
    sources = fetch(root, log, extra_packages)
    entries: list[Entry] = []
    hashes: dict[int, int] = {}  # entry index -> dhash
    confirms: dict[int, tuple[int, np.ndarray]] = {}
    for source, version, folder in sources:
        log(f"filtering {source}")
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
            member = str(path.relative_to(folder))
            if not is_photo_member(source, member):
                continue
            data = path.read_bytes()
            entry = Entry(source, version, member, licence_for(source, folder, member),
                          hashlib.sha256(data).hexdigest(), 0, 0, False, "")
            if not free_licence(entry.licence):
                entry.reason = f"licence ({entry.licence}) not known to allow redistribution"
                entries.append(entry)
                continue
            try:
                with Image.open(path) as im:
                    entry.width, entry.height = im.size
                    im = _upright(im)
                    im = _opaque_band(im) or im
                    entry.kept, entry.reason = photo_verdict(im, min_side)
                    if entry.kept:
                        hashes[len(entries)] = difference_hash(im)
                        confirms[len(entries)] = confirmation(im)
                        entry.width, entry.height = im.size
            except Exception as exc:  # noqa: BLE001 - any undecodable file is simply not a photo
                entry.reason = f"unreadable ({type(exc).__name__})"
            entries.append(entry)
    _drop_duplicates(entries, hashes, confirms)
    splits = _assign_splits(entries, hashes, val_fraction, pinned)
    out_dirs = {"train": root / "train", "val": root / "val"}
    for d in out_dirs.values():
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    for i, entry in enumerate(entries):
        if not entry.kept:
            continue
        entry.group = f"{hashes[i]:016x}"
        entry.split = splits[hashes[i]]
        name = f"{entry.source}__{entry.member.replace('/', '_')}"
        target = out_dirs[entry.split] / (Path(name).stem + ".jpg")
        with Image.open(Path(root / "unpacked" / entry.source / entry.member)) as im:
            im = _upright(im)
            im = _opaque_band(im) or im.convert("RGB")
            im.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
            im.save(target, quality=95)
            entry.file = str(target.relative_to(root))
    extra = {"pinned_from_previous": sum(1 for e in entries if e.kept and e.sha256 in pinned)} if pinned else {}
    return _write_manifest(root, entries, extra)


def _assign_splits(entries: list[Entry], hashes: dict[int, int], val_fraction: float,
                   pinned: dict[str, str]) -> dict[int, str]:
    """dhash group -> split: 10 % of the groups by a hash of the group, except that a group holding a
    photo of the previous build (by content) keeps that photo's split. Its members: the kept photo
    and the near-duplicates dropped in its favour."""
    members: dict[int, list[Entry]] = {}
    for i, group in hashes.items():
        members.setdefault(group, []).append(entries[i])
    for entry in entries:
        twin = entry.reason.startswith("near-duplicate of ") and entry.reason[len("near-duplicate of "):]
        if twin:
            for group, kept in members.items():
                if f"{kept[0].source}/{kept[0].member}" == twin:
                    kept.append(entry)
                    break
    splits = {}
    for group, group_entries in members.items():
        before = {pinned[e.sha256] for e in group_entries if e.sha256 in pinned}
        if len(before) > 1:  # an earlier build split near-duplicates apart: hold them all out
            splits[group] = "val"
        elif before:
            splits[group] = before.pop()
        else:
            held_out = int(hashlib.sha1(f"{group:016x}".encode()).hexdigest(), 16) % 1000 < val_fraction * 1000
            splits[group] = "val" if held_out else "train"
    return splits


def _drop_duplicates(entries: list[Entry], hashes: dict[int, int],
                     confirms: dict[int, tuple[int, np.ndarray]] | None = None) -> None:
    def twins(i: int, k: int) -> bool:
        if bin(hashes[i] ^ hashes[k]).count("1") > 6:
            return False
        if confirms is None:
            return True
        (vi, ci), (vk, ck) = confirms[i], confirms[k]
        return bin(vi ^ vk).count("1") <= 10 or float(np.abs(ci - ck).mean()) <= 20

    order = sorted(hashes, key=lambda i: -entries[i].width * entries[i].height)
    kept: list[int] = []
    for i in order:
        twin = next((k for k in kept if twins(i, k)), None)
        if twin is None:
            kept.append(i)
        else:
            entries[i].kept = False
            entries[i].reason = f"near-duplicate of {entries[twin].source}/{entries[twin].member}"
            hashes[i] = hashes[twin]
    for i in list(hashes):
        if not entries[i].kept:
            del hashes[i]


def _write_manifest(root: Path, entries: list[Entry], extra: dict | None = None) -> dict:
    _write_atomic(root / "manifest.jsonl", "".join(json.dumps(asdict(e)) + "\n" for e in entries))
    kept = [e for e in entries if e.kept]
    summary = {"files_seen": len(entries), "photographs": len(kept)}
    for split in ("train", "val"):
        part = [e for e in kept if e.split == split]
        summary[split] = {"images": len(part),
                          "megapixels_original": round(sum(e.width * e.height for e in part) / 1e6, 1)}
    summary["by_source"] = {}
    summary["by_source_split"] = {}
    for e in kept:
        summary["by_source"][e.source] = summary["by_source"].get(e.source, 0) + 1
        split = summary["by_source_split"].setdefault(e.source, {"train": 0, "val": 0})
        split[e.split] += 1
    summary["dropped"] = {}
    for e in entries:
        if not e.kept:
            key = e.reason.split(" (")[0].split(" of ")[0]
            summary["dropped"][key] = summary["dropped"].get(key, 0) + 1
    summary.update(extra or {})
    _write_atomic(root / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _write_atomic(path: Path, text: str) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


# -- command line ---------------------------------------------------------------------------------
def register(subparsers) -> None:
    from . import corpus_carry as carry

    parser = subparsers.add_parser("corpus", help="build the open photo corpus for the bundled model")
    verbs = parser.add_subparsers(dest="verb", required=True)
    b = verbs.add_parser("build", help="download, extract, filter and split the sources")
    b.add_argument("dir")
    b.add_argument("--min-side", type=int, default=256, help="shortest side a photo needs (default %(default)s)")
    b.add_argument("--val-fraction", type=float, default=0.10,
                   help="share of hash groups held out (default %(default)s)")
    b.add_argument("--package", action="append", default=[], metavar="NAME",
                   help="another Debian package to take photographs from (repeatable; all its members)")
    b.add_argument("--previous", metavar="CORPUS",
                   help="an earlier build (folder or manifest.jsonl): its photos keep their train/val split")
    b.set_defaults(func=lambda a: print(json.dumps(build(a.dir, a.min_side, a.val_fraction, extra_packages=a.package,
                                                         previous=a.previous), indent=2)) or 0)
    c = verbs.add_parser("compress", help="the copy of train/ and val/ that is carried to a GPU machine",
                         description="Re-encode a built corpus's train/ and val/ into DEST for a device call "
                                     f"(at most {carry.CARRY_LIMIT_MIB} MiB in all, of which the corpus may take "
                                     "--budget-mib). When the train photos do not fit beside val/, they are split "
                                     "into shards that each fit, and DEST gets shard WINDOW mod K.")
    c.add_argument("dir")
    c.add_argument("dest")
    c.add_argument("--format", choices=sorted(carry.FORMATS), default=carry.CARRY_FORMAT, help="default %(default)s")
    c.add_argument("--quality", type=int, default=carry.CARRY_QUALITY, help="encoder quality (default %(default)s)")
    c.add_argument("--short-side", type=int, default=carry.CARRY_SHORT_SIDE,
                   help="cap the short side at this many pixels, 0 to keep the size (default %(default)s)")
    c.add_argument("--budget-mib", type=float, default=carry.BUDGET_MIB,
                   help="what the carried corpus may take (default %(default)s)")
    c.add_argument("--shards", type=int, help="split the train photos into this many shards (default: as few as fit)")
    c.add_argument("--window", type=int, default=0,
                   help="GPU window number: which shard DEST gets (default %(default)s)")
    c.set_defaults(func=lambda a: print(json.dumps(carry.compress(
        a.dir, a.dest, a.quality, a.short_side, a.format, a.budget_mib, a.shards, a.window,
        log=lambda m: print(m, file=sys.stderr)))) or 0)
    k = verbs.add_parser("check-carry", help="loader statistics of a carried copy against the original corpus")
    k.add_argument("original")
    k.add_argument("carried")
    k.add_argument("--samples", type=int, default=256, help="loader samples per column (default %(default)s)")
    k.add_argument("--size", type=int, default=256, help="training crop size (default %(default)s)")
    k.add_argument("--seed", type=int, default=0, help="default %(default)s")
    k.set_defaults(func=lambda a: print(carry.format_table(carry.check_carry(
        a.original, a.carried, a.samples, a.size, a.seed, log=lambda m: print(m, file=sys.stderr)))) or 0)
