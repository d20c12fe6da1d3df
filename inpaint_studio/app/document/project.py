"""OpenRaster (.ora) projects, readable by GIMP, Krita and MyPaint. No Qt here.

Layout (OpenRaster 0.0.5): a zip whose first entry is `mimetype` (stored, "image/openraster"),
then `stack.xml`, one PNG per layer under data/, `mergedimage.png` (the visible layers
flattened, full size) and `Thumbnail/thumbnail.png` (at most 256x256). The stack lists layers
top first. Inpaint Studio adds attributes in its own namespace: the role of each layer
(image / result / mask) and, for masks, key, colour, opacity and visibility. A mask is a white
layer whose alpha is the mask, saved hidden, so other programs show the photo as it is.
"""
from __future__ import annotations

import io
import os
import uuid
import zipfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

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
    tmp = folder / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
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
def _flat_layers(stack: ET.Element):
    """Layer elements top first; nested stacks (groups) are opened in place."""
    for child in stack:
        if child.tag == "stack":
            yield from _flat_layers(child)
        elif child.tag == "layer":
            yield child


def _read_png(zf: zipfile.ZipFile, name: str, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        data = zf.read(name)
    except KeyError:
        raise ProjectError(f"{path}: the layer file '{name}' is missing.") from None
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ProjectError(f"{path}: the layer '{name}' is too large ({im.width}x{im.height}).")
            im.load()
            has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
            if has_alpha:
                rgba = np.asarray(im.convert("RGBA"))
                return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3])
            return np.ascontiguousarray(np.asarray(im.convert("RGB"))), None
    except ProjectError:
        raise
    except Exception as exc:
        raise ProjectError(f"{path}: the layer '{name}' is not a readable PNG ({exc}).") from None


def _number(element: ET.Element, name: str, default: float, path: Path) -> float:
    value = element.get(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ProjectError(f"{path}: stack.xml has a bad {name} value '{value}'.") from None


def _color(text: str | None, default=(255, 64, 96)) -> tuple[int, int, int]:
    try:
        text = (text or "").lstrip("#")
        return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4)) if len(text) == 6 else default
    except ValueError:
        return default


def read_ora(path: str | Path) -> Project:
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such file.") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ProjectError(f"{path}: not an OpenRaster project (not a zip archive: {exc}).") from None
    with zf:
        try:
            root = ET.fromstring(zf.read("stack.xml"))
        except KeyError:
            raise ProjectError(f"{path}: not an OpenRaster project (no stack.xml).") from None
        except ET.ParseError as exc:
            raise ProjectError(f"{path}: stack.xml is damaged ({exc}).") from None
        width, height = int(_number(root, "w", 0, path)), int(_number(root, "h", 0, path))
        if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
            raise ProjectError(f"{path}: bad image size {width}x{height} in stack.xml.")
        stack = root.find("stack")
        if stack is None:
            raise ProjectError(f"{path}: stack.xml has no layer stack.")
        layers: list[Layer] = []
        masks: list[MaskLayer] = []
        for el in _flat_layers(stack):
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
                                       opacity=_number(el, _Q + "opacity", 0.55, path),
                                       visible=el.get(_Q + "visible", "true") != "false"))
                continue
            layers.append(Layer(name=name, rgb=rgb, alpha=alpha,
                                x=int(_number(el, "x", 0, path)), y=int(_number(el, "y", 0, path)),
                                visible=el.get("visibility", "visible") != "hidden",
                                opacity=min(max(_number(el, "opacity", 1.0, path), 0.0), 1.0),
                                kind=role if role in (IMAGE, RESULT, PAINT) else PAINT))
    if not layers:
        raise ProjectError(f"{path}: the project has no image layers.")
    layers.reverse()                                   # bottom first
    layers[0] = _as_image_layer(layers[0], width, height)
    for layer in layers[1:]:
        if layer.kind == IMAGE:
            layer.kind = PAINT
    if HOLE not in {m.key for m in masks}:
        masks.insert(0, MaskLayer(HOLE, "Mask", np.zeros((height, width), np.uint8)))
    meta = {"source": root.get(_Q + "source")} if root.get(_Q + "source") else {}
    return Project(width, height, layers, masks, meta)


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
