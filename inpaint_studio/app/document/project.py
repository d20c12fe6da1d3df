"""OpenRaster (.ora) projects, readable by GIMP, Krita and MyPaint. No Qt here.

Layout (OpenRaster 0.0.5): a zip whose first entry is `mimetype` (stored, "image/openraster"),
then `stack.xml`, one PNG per layer under data/, `mergedimage.png` (the visible layers
flattened, full size) and `Thumbnail/thumbnail.png` (at most 256x256). The stack lists layers
top first. Inpaint Studio adds attributes in its own namespace: the role of each layer
(image / result / mask) and, for masks, key, colour, opacity and visibility. A mask is a white
layer whose alpha is the mask, saved hidden, so other programs show the photo as it is.
"""
from __future__ import annotations

import math
import os
import re
import zipfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ...atomic import sweep, temp_path
from ...imaging import pixel_limit

from .layers import HOLE, IMAGE, PAINT, RESULT, Layer, MaskLayer, flatten, thumbnail

MIMETYPE = b"image/openraster"
NS = "urn:inpaint-studio:openraster:1"
_Q = "{" + NS + "}"
ET.register_namespace("inpaint", NS)
THUMBNAIL_SIZE = 256
MAX_PIXELS = 250_000_000


class ProjectError(ValueError):
    """A project that cannot be read or written; the message names the file and the problem."""


@dataclass
class Project:
    width: int
    height: int
    layers: list[Layer]                    # bottom first; layers[0] is the image
    masks: list[MaskLayer]
    meta: dict = field(default_factory=dict)  # "source": path of the photo it was made from


# -- writing ------------------------------------------------------------------------------------
def _image(rgb: np.ndarray, alpha: np.ndarray | None) -> Image.Image:
    im = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    if alpha is not None:
        im.putalpha(Image.fromarray(np.ascontiguousarray(alpha), "L"))
    return im


def _mask_image(mask: np.ndarray) -> Image.Image:
    """White, with the mask as alpha (grey + alpha keeps the file small). Built with numpy,
    which lets go of the GIL, so a background autosave does not stall the editor."""
    la = np.empty(mask.shape + (2,), np.uint8)
    la[..., 0] = 255
    la[..., 1] = mask
    return Image.fromarray(la, "LA")


def _hex(color) -> str:
    return "#%02x%02x%02x" % tuple(int(c) for c in color)


def write_ora(path: str | Path, project: Project, compress_level: int = 4) -> Path:
    """Write atomically (a temporary file beside the target, then a rename). PNGs are encoded
    straight into the archive (stored: they are compressed already), so a 24-megapixel project
    needs no extra copies in memory and a background autosave barely holds the GIL."""
    path = Path(path)
    root = ET.Element("image", {"version": "0.0.5", "w": str(project.width), "h": str(project.height),
                                "xres": "72", "yres": "72"})
    if project.meta.get("source"):
        root.set(_Q + "source", str(project.meta["source"]))
    stack = ET.SubElement(root, "stack")
    images = []                                        # (name in the zip, () -> PIL image)
    for mask in project.masks:                         # masks on top
        src = f"data/mask-{mask.key}.png"
        images.append((src, lambda m=mask: _mask_image(m.data)))
        ET.SubElement(stack, "layer", {
            "name": mask.name, "src": src, "x": "0", "y": "0", "opacity": "1.0",
            "visibility": "hidden", "composite-op": "svg:src-over", _Q + "role": "mask",
            _Q + "key": mask.key, _Q + "color": _hex(mask.color), _Q + "opacity": f"{mask.opacity:.3f}",
            _Q + "visible": "true" if mask.visible else "false"})
    for i, layer in enumerate(reversed(project.layers)):
        src = f"data/layer-{len(project.layers) - 1 - i}.png"
        images.append((src, lambda l=layer: _image(l.rgb, l.alpha)))
        ET.SubElement(stack, "layer", {
            "name": layer.name, "src": src, "x": str(layer.x), "y": str(layer.y),
            "opacity": f"{layer.opacity:.3f}", "visibility": "visible" if layer.visible else "hidden",
            "composite-op": "svg:src-over", _Q + "role": layer.kind})
    xml = ET.tostring(root, encoding="utf-8", xml_declaration=True)

    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ProjectError(f"Cannot write {path}: the folder {folder} does not exist.")
    sweep(folder)  # what an earlier save that was killed left there
    tmp = temp_path(folder / path.name)
    try:
        with open(tmp, "wb") as fh:
            with zipfile.ZipFile(fh, "w") as zf:
                zf.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE, compress_type=zipfile.ZIP_STORED)
                zf.writestr("stack.xml", xml, compress_type=zipfile.ZIP_DEFLATED)
                for name, make in images:
                    _store_png(zf, name, make(), compress_level)
                merged_rgb, merged_alpha = flatten(project.layers, project.width, project.height)
                _store_png(zf, "mergedimage.png", _image(merged_rgb, merged_alpha), compress_level)
                thumb = thumbnail(merged_rgb, merged_alpha, THUMBNAIL_SIZE)
                _store_png(zf, "Thumbnail/thumbnail.png", _image(thumb[..., :3], thumb[..., 3]), 6)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ProjectError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _store_png(zf: zipfile.ZipFile, name: str, image: Image.Image, level: int) -> None:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_STORED
    with zf.open(info, "w", force_zip64=True) as out:
        image.save(out, "PNG", compress_level=level)


# -- reading ------------------------------------------------------------------------------------
# A project file may come from anywhere, so every size is checked before anything is decoded
# and every member is read as a stream with a limit: a small file cannot claim gigabytes.
MAX_TOTAL_PIXELS = 500_000_000   # all layers together (about 2 GB decoded as RGBA)
MAX_LAYERS = 1000
MAX_DEPTH = 100                  # nested stacks (layer groups)
MAX_OFFSET = 1 << 24             # px: layer x and y
MAX_STACK_BYTES = 8 << 20        # stack.xml
PNG_EXTRA_BYTES = 64 << 20       # a PNG member may exceed its raw pixel size by this (metadata)
_CHUNK = 1 << 20


def read_ora(path: str | Path) -> Project:
    """Read an OpenRaster project. Raises ProjectError, and nothing else, for whatever the file
    holds: one message that names the file and the problem."""
    path = Path(path)
    try:
        return _read_ora(path)
    except ProjectError:
        raise
    except MemoryError:
        raise ProjectError(f"{path}: not enough memory to open this project.") from None
    except RecursionError:
        raise ProjectError(f"{path}: the project is nested too deeply to be read.") from None
    except Exception as exc:  # zipfile, zlib, lzma, Pillow and expat raise many kinds for damaged data
        raise ProjectError(f"{path}: {_problem(exc)}") from None


def _problem(exc: BaseException) -> str:
    """What a low-level failure means for the user, as one sentence."""
    text = str(exc)
    if isinstance(exc, zipfile.BadZipFile) and "CRC" in text:
        return "the file is damaged: a checksum does not match (the file was changed or cut short)."
    if isinstance(exc, NotImplementedError):
        return ("a part of it is packed with a zip compression method this program cannot read; "
                "save it again with ordinary zip compression.")
    if isinstance(exc, RuntimeError) and "encrypted" in text:
        return "a part of it is encrypted (a password-protected zip), which a project never is."
    if isinstance(exc, EOFError):
        return "the file is cut short."
    return f"the file is damaged ({_reason(exc)})."


def _reason(exc: BaseException) -> str:
    """An exception as a short phrase for a message (no object reprs, no second line)."""
    text = " ".join(str(exc).split())
    text = re.sub(r"<[^<>]* object at 0x[0-9a-fA-F]+>", "the data", text)
    return text or type(exc).__name__


def _read_ora(path: Path) -> Project:
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise ProjectError(f"{path}: is a folder, not a project file.") from None
    except PermissionError:
        raise ProjectError(f"{path}: permission denied.") from None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ProjectError(f"{path}: not an OpenRaster project (not a zip archive: {_reason(exc)}).") from None
    with zf:
        try:
            xml = _read_member(zf, "stack.xml", MAX_STACK_BYTES, path)
        except KeyError:
            raise ProjectError(f"{path}: not an OpenRaster project (no stack.xml).") from None
        try:
            root = ET.fromstring(xml)
        except ET.ParseError as exc:
            raise ProjectError(f"{path}: stack.xml is damaged ({exc}).") from None
        width, height = _size(root, path)
        stack = root.find("stack")
        if stack is None:
            raise ProjectError(f"{path}: stack.xml has no layer stack.")
        elements = _flat_layers(stack, path)
        # every layer's size from its PNG header first: nothing is decoded if the total is too large
        sizes = [_png_size(zf, el.get("src", ""), path) for el in elements]
        total = sum(w * h for w, h in sizes)
        if total > MAX_TOTAL_PIXELS:
            raise ProjectError(f"{path}: the layers hold {total / 1e6:.0f} megapixels together, more than "
                               f"the limit of {MAX_TOTAL_PIXELS / 1e6:.0f}.")
        layers: list[Layer] = []
        masks: list[MaskLayer] = []
        for el in elements:
            src = el.get("src", "")
            rgb, alpha = _read_png(zf, src, path)
            role = el.get(_Q + "role")
            name = el.get("name") or Path(src).stem
            if role == "mask":
                data = alpha if alpha is not None else (rgb.max(axis=2) >= 128).astype(np.uint8) * 255
                if data.shape != (height, width):
                    raise ProjectError(f"{path}: the mask '{name}' is {data.shape[1]}x{data.shape[0]}, "
                                       f"not {width}x{height}.")
                masks.append(MaskLayer(key=el.get(_Q + "key") or HOLE, name=name, data=np.ascontiguousarray(data),
                                       color=_color(el.get(_Q + "color")),
                                       opacity=_fraction(el, _Q + "opacity", 0.55, path),
                                       visible=el.get(_Q + "visible", "true") != "false"))
                continue
            layers.append(Layer(name=name, rgb=rgb, alpha=alpha,
                                x=_offset(el, "x", path), y=_offset(el, "y", path),
                                visible=el.get("visibility", "visible") != "hidden",
                                opacity=_fraction(el, "opacity", 1.0, path),
                                kind=role if role in (IMAGE, RESULT, PAINT) else PAINT))
    if not layers:
        raise ProjectError(f"{path}: the project has no image layers.")
    layers.reverse()                                   # bottom first
    layers[0] = _as_image_layer(layers[0], width, height)
    for layer in layers[1:]:
        if layer.kind == IMAGE:
            layer.kind = PAINT
    by_key: dict[str, MaskLayer] = {}
    for mask in masks:                                 # one mask per key: the topmost one wins
        by_key.setdefault(mask.key, mask)
    masks = list(by_key.values())
    if HOLE not in {m.key for m in masks}:
        masks.insert(0, MaskLayer(HOLE, "Mask", np.zeros((height, width), np.uint8)))
    meta = {"source": root.get(_Q + "source")} if root.get(_Q + "source") else {}
    return Project(width, height, layers, masks, meta)


def _read_member(zf: zipfile.ZipFile, name: str, limit: int, path: Path) -> bytes:
    """A whole member, refused before decompressing when it says it is larger than `limit`
    (zipfile stops at the declared size, so a member cannot grow past it)."""
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise ProjectError(f"{path}: '{name}' is {info.file_size / 2**20:.0f} MB unpacked, more than "
                           f"the {limit / 2**20:.0f} MB a project may use for it.")
    with zf.open(info) as fh:
        return fh.read()


def _flat_layers(stack: ET.Element, path: Path) -> list[ET.Element]:
    """Layer elements top first; nested stacks (groups) are opened in place."""
    found: list[ET.Element] = []
    todo = [(iter(stack), 1)]
    while todo:
        children, depth = todo[-1]
        child = next(children, None)
        if child is None:
            todo.pop()
        elif child.tag == "stack":
            if depth >= MAX_DEPTH:
                raise ProjectError(f"{path}: layer groups are nested more than {MAX_DEPTH} deep.")
            todo.append((iter(child), depth + 1))
        elif child.tag == "layer":
            found.append(child)
            if len(found) > MAX_LAYERS:
                raise ProjectError(f"{path}: more than {MAX_LAYERS} layers.")
    return found


def _open_png(zf: zipfile.ZipFile, name: str, path: Path):
    """(member info, open stream) of a layer's PNG."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ProjectError(f"{path}: the layer file '{name}' is missing.") from None
    if info.is_dir():
        raise ProjectError(f"{path}: the layer file '{name}' is a folder.")
    return info, zf.open(info)


def _png_size(zf: zipfile.ZipFile, name: str, path: Path) -> tuple[int, int]:
    """A layer's size from its PNG header, checked against the limits (nothing decoded)."""
    info, fh = _open_png(zf, name, path)
    with fh, pixel_limit(None):
        try:
            with Image.open(fh) as im:
                fmt, (w, h) = im.format, im.size
        except UnidentifiedImageError:
            raise ProjectError(f"{path}: the layer '{name}' is not a PNG image.") from None
    if fmt != "PNG":
        raise ProjectError(f"{path}: the layer '{name}' is {fmt}, not PNG.")
    if w * h > MAX_PIXELS:
        raise ProjectError(f"{path}: the layer '{name}' is too large ({w}x{h}).")
    # 16-bit RGBA is 8 bytes a pixel; stored zip and zlib blocks add a little
    most = 8 * w * h + 8 * h + (w * h) // 1000 + PNG_EXTRA_BYTES
    if info.file_size > most:
        raise ProjectError(f"{path}: the layer '{name}' is {info.file_size / 2**20:.0f} MB unpacked, far more "
                           f"than a {w}x{h} PNG needs.")
    return w, h


def _read_png(zf: zipfile.ZipFile, name: str, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    _, fh = _open_png(zf, name, path)
    with fh:
        try:
            with pixel_limit(MAX_PIXELS), Image.open(fh) as im:
                im.load()
                has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
                if has_alpha:
                    rgba = np.asarray(im.convert("RGBA"))
                    rgb, alpha = np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3])
                else:
                    rgb, alpha = np.ascontiguousarray(np.asarray(im.convert("RGB"))), None
            while fh.read(_CHUNK):  # to the end, so that zipfile checks the member's CRC
                pass
        except MemoryError:
            raise
        except Exception as exc:
            raise ProjectError(f"{path}: the layer '{name}' is not a readable PNG ({_reason(exc)}).") from None
    return rgb, alpha


def _number(element: ET.Element, name: str, default: float, path: Path) -> float:
    """A finite number attribute (inf and nan are refused, not carried into the layers)."""
    value = element.get(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise ProjectError(f"{path}: stack.xml has a bad {name.split('}')[-1]} value '{shown}'.")
    return number


def _size(root: ET.Element, path: Path) -> tuple[int, int]:
    width, height = _number(root, "w", 0, path), _number(root, "h", 0, path)
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise ProjectError(f"{path}: bad image size {width:g}x{height:g} in stack.xml.")
    return int(width), int(height)


def _offset(element: ET.Element, name: str, path: Path) -> int:
    value = _number(element, name, 0, path)
    if abs(value) > MAX_OFFSET:
        raise ProjectError(f"{path}: stack.xml places a layer at {name}={value:g}, far outside the image.")
    return int(value)


def _fraction(element: ET.Element, name: str, default: float, path: Path) -> float:
    return min(max(_number(element, name, default, path), 0.0), 1.0)


def _color(text: str | None, default=(255, 64, 96)) -> tuple[int, int, int]:
    try:
        text = (text or "").lstrip("#")
        return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4)) if len(text) == 6 else default
    except ValueError:
        return default


def _as_image_layer(layer: Layer, width: int, height: int) -> Layer:
    """The bottom layer becomes the full-size image layer (another program may have saved it
    smaller or offset)."""
    layer.kind = IMAGE
    if layer.rect == (0, 0, width, height):
        if layer.alpha is not None and layer.alpha.min() == 255:
            layer.alpha = None
        return layer
    rgb = np.zeros((height, width, 3), np.uint8)
    alpha = np.zeros((height, width), np.uint8)
    x0, y0 = max(layer.x, 0), max(layer.y, 0)
    x1, y1 = min(layer.x + layer.width, width), min(layer.y + layer.height, height)
    if x1 > x0 and y1 > y0:
        sl = (slice(y0 - layer.y, y1 - layer.y), slice(x0 - layer.x, x1 - layer.x))
        rgb[y0:y1, x0:x1] = layer.rgb[sl]
        alpha[y0:y1, x0:x1] = 255 if layer.alpha is None else layer.alpha[sl]
    return layer.with_pixels(rgb, alpha, x=0, y=0)
