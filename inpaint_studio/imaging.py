"""Reading and writing images and masks.

Every image leaves this module as numpy uint8 HxWx3 RGB with its alpha (uint8 HxW or None)
beside it, upright (EXIF orientation applied). Whatever the file held is brought there:
  L, 1, P, LA, PA, RGBA, CMYK (through its ICC profile when it has one), YCbCr, LAB, HSV;
  16-bit integers are scaled to 8 bits (round(v / 257));
  32-bit integers are read as 16-bit data when they fit in 0..65535, else scaled by their maximum;
  floats are read as 0..1 when their maximum is <= 1, as 0..255 / 0..65535 when they fit there,
  else scaled by their maximum; NaN becomes 0 and negatives are clipped.
Masks: a painted pixel = hole, see MASK_RULE for colour and alpha.
Writing is atomic (a temporary file in the same folder, then os.replace).
"""
from __future__ import annotations

import io
import os
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .atomic import temp_path

DEFAULT_MAX_PIXELS = 250_000_000

# suffix -> Pillow format, in the order shown to users
FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}
SUPPORTED_SUFFIXES = tuple(FORMATS)
ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}
_EXIF_ORIENTATION = 0x0112
_PIL_LOCK = threading.Lock()  # guards the temporary change of Pillow's pixel limit


class ImageError(ValueError):
    """A file that cannot be read or written; the message names the file and the problem."""


@dataclass
class LoadedImage:
    rgb: np.ndarray                 # uint8 HxWx3
    alpha: np.ndarray | None        # uint8 HxW, or None when the file has no transparency
    info: dict = field(default_factory=dict)  # format, mode, bit_depth, icc_profile, exif, dpi ...

    @property
    def width(self) -> int:
        return self.rgb.shape[1]

    @property
    def height(self) -> int:
        return self.rgb.shape[0]


def format_keeps_alpha(path: str | Path) -> bool:
    """Whether writing to this suffix keeps an alpha channel."""
    return FORMATS.get(Path(path).suffix.lower()) in ALPHA_FORMATS


# -- reading --------------------------------------------------------------------------------------
def read_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file as upright 8-bit RGB plus alpha. Raises ImageError."""
    path = Path(path)
    try:
        im = _open(path, max_pixels)
    except UnidentifiedImageError:
        if path.suffix.lower() in (".tif", ".tiff"):
            return _read_with_opencv(path, max_pixels)  # e.g. multi-channel float TIFF
        raise ImageError(f"{path}: {_unidentified(path)}") from None
    with im:
        info = _describe(im, path)
        try:
            upright = ImageOps.exif_transpose(im) or im
        except Exception as exc:  # a broken EXIF block must not make the pixels unreadable
            info["notes"].append(f"EXIF orientation ignored ({exc})")
            upright = im
        info["exif"] = _exif_bytes(upright)
        try:
            rgb, alpha, icc = _to_rgb(upright, info)
        except (ValueError, OSError) as exc:  # e.g. a colour space Pillow cannot convert
            raise ImageError(f"{path}: cannot convert its {im.mode} pixels to RGB ({exc}).") from None
    info["icc_profile"] = icc
    info["size"] = (rgb.shape[1], rgb.shape[0])
    info["has_alpha"] = alpha is not None
    return LoadedImage(_own(rgb), None if alpha is None else _own(alpha), info)


def probe_image(path: str | Path) -> tuple[int, int]:
    """Width and height after a quick integrity check, for scanning photo folders: JPEGs are
    decoded at 1/8 scale (a truncated or damaged stream still fails), PNGs have their chunk
    checksums verified, other formats are decoded. Much faster than read_image; what slips
    through is caught when the image is read. Raises ImageError ("PATH: truncated (...)")."""
    path = str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                size = im.size
                if im.format == "JPEG":
                    im.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
                    im.load()
                elif im.format == "PNG":
                    im.verify()
                else:
                    im.load()
                return size  # EXIF rotation swaps the sides but keeps the short side
    except Image.DecompressionBombError:
        loaded = read_image(path)  # applies this module's own pixel limit
        return loaded.width, loaded.height
    except UnidentifiedImageError:
        if Path(path).suffix.lower() in (".tif", ".tiff"):
            loaded = read_image(path)  # e.g. float TIFF read through OpenCV
            return loaded.width, loaded.height
        raise ImageError(f"{path}: not an image, or a kind that cannot be read") from None
    except (OSError, ValueError, SyntaxError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        kind = "truncated" if "truncated" in text.lower() else "damaged"
        raise ImageError(f"{path}: {kind} ({text})") from None


def _own(arr: np.ndarray) -> np.ndarray:
    """A writable, contiguous array (numpy views of Pillow images are read-only)."""
    return arr if arr.flags.writeable and arr.flags.c_contiguous else np.array(arr, order="C")


# The mask rule, written once (README and help text say the same in words): a pixel is a hole
# when it is painted. With transparency in use (some alpha below 255) that means not fully
# transparent, whatever its colour (strokes on an empty layer); otherwise any colour channel
# above 0, so 0/1 label masks, grey, red or blue strokes all count. JPEG turns black into faint
# noise, so there a channel must be above JPEG_BLACK.
JPEG_BLACK = 32
MASK_RULE = ("a pixel is a hole when it is painted: not black (any channel above 0), or, in a mask "
             "with transparency, not fully transparent")


def read_mask(path: str | Path, shape: tuple[int, ...] | None = None,
              max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a mask as uint8 HxW with 255 = hole and 0 = keep (the rule: MASK_RULE above).

    A file with marks that give no hole (colour under full transparency, faint JPEG marks) is an
    ImageError, never an empty mask. `shape`: the image's (H, W, ...) shape; a different size is
    an ImageError naming both sizes.
    """
    loaded = read_image(path, max_pixels=max_pixels)
    rgb, alpha = loaded.rgb, loaded.alpha
    black = JPEG_BLACK if loaded.info.get("format") == "JPEG" else 0
    if alpha is not None and (alpha < 255).any():
        hole = alpha > 0
        if not hole.any() and rgb.any():
            raise ImageError(f"{path}: the mask is fully transparent, so nothing in it counts as a hole "
                             f"({MASK_RULE}).")
    else:
        hole = rgb.max(axis=2) > black
        if not hole.any() and rgb.any():
            raise ImageError(f"{path}: the mask has only faint marks (at most {int(rgb.max())} of 255), which "
                             f"JPEG noise in black also makes: a hole must be brighter than {black}. "
                             f"Save masks as PNG.")
    mask = hole.astype(np.uint8) * 255
    if shape is not None:
        h, w = shape[:2]
        if mask.shape != (h, w):
            raise ImageError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} but image is {w}x{h}.")
    return mask


@contextmanager
def pixel_limit(max_pixels: int | None):
    """Decode under our pixel limit in place of Pillow's (Pillow warns above it and refuses above
    twice it); callers check sizes against the limit themselves, with a clearer message."""
    with _PIL_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _open(path: Path, max_pixels: int | None) -> Image.Image:
    """Open and decode `path` with our pixel limit in place of Pillow's."""
    try:
        with pixel_limit(max_pixels):
            im = Image.open(path)
            try:
                _check_pixels(path, im.size, max_pixels)
                im.bit_depth = _bit_depth(im)  # the tile list is gone after load()
                im.load()
            except BaseException:
                im.close()
                raise
            return im
    except UnidentifiedImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image file.") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied.") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: the image has too many pixels "
                         f"(the limit is {_megapixels(max_pixels)}).") from None
    except ImageError:
        raise
    except MemoryError:
        raise ImageError(f"{path}: not enough memory to decode this image.") from None
    except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, struct.error ...
        raise ImageError(f"{path}: {_damage(exc)}") from None


_MAGIC = ((b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
          (b"BM", "BMP"), (b"GIF8", "GIF"))


def _unidentified(path: Path) -> str:
    """Why Pillow found no decoder: an empty file, a known kind that is damaged, or no image."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})."
    if not head:
        return "the file is empty."
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "WebP"
    if kind:
        return f"the file starts like a {kind} image but is damaged or not a valid image."
    return "not an image, or a kind this program cannot read (supported: JPEG, PNG, WebP, TIFF, BMP)."


def _check_pixels(path: Path, size: tuple[int, int], max_pixels: int | None) -> None:
    w, h = size
    if max_pixels is not None and w * h > max_pixels:
        raise ImageError(f"{path}: the image is {w}x{h} ({_megapixels(w * h)}), more than the limit "
                         f"of {_megapixels(max_pixels)}.")
    if w < 1 or h < 1:
        raise ImageError(f"{path}: the image is empty ({w}x{h}).")


def _megapixels(pixels: int | None) -> str:
    return "no limit" if pixels is None else f"{pixels / 1e6:.1f} megapixels"


def _damage(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "truncated" in text.lower():
        return f"the file is truncated ({text})."
    return f"the file is damaged or not a valid image ({text})."


def _describe(im: Image.Image, path: Path) -> dict:
    return {
        "path": str(path),
        "format": im.format,
        "mode": im.mode,
        "bit_depth": getattr(im, "bit_depth", 8),
        "orientation": int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1),
        "dpi": im.info.get("dpi"),
        "frames": getattr(im, "n_frames", 1),
        "original_size": im.size,
        "notes": [],
    }


def _exif_bytes(im: Image.Image) -> bytes | None:
    """The EXIF block to write back, its orientation set to 1: the pixels are upright now."""
    exif = im.getexif()
    if not len(exif):
        return None
    if _EXIF_ORIENTATION in exif:
        exif[_EXIF_ORIENTATION] = 1
    try:
        return exif.tobytes()
    except Exception:
        return None


def _bit_depth(im: Image.Image) -> int:
    """Bits per sample of the file, read before decoding (the decoder's raw mode says 16-bit
    for 16-bit RGB PNGs, which Pillow hands out as 8-bit RGB)."""
    if im.mode == "1":
        return 1
    if im.mode.startswith("I;16"):
        return 16
    if im.mode in ("I", "F"):
        return 32
    tag = getattr(im, "tag_v2", None)  # TIFF: BitsPerSample
    if tag is not None and 258 in tag:
        bits = tag[258]
        return int(bits[0] if isinstance(bits, tuple) else bits)
    args = im.tile[0][3] if im.tile else None
    rawmode = args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args and isinstance(args[0], str) else "")
    return 16 if ";16" in rawmode else 8


def _to_rgb(im: Image.Image, info: dict):
    """-> (rgb uint8 HxWx3, alpha uint8 HxW or None, ICC profile that still fits the RGB pixels)."""
    icc = im.info.get("icc_profile")
    mode = im.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        gray = _scale_to_8bit(np.asarray(im))
        return np.repeat(gray[..., None], 3, axis=2), None, None
    if mode == "CMYK":
        return np.asarray(_cmyk_to_rgb(im, icc, info)), None, None
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa", "RGBA"):
        im = im.convert("RGBA")
    elif mode != "RGB":
        im = im.convert("RGB")
    if _icc_space(icc) != "RGB":
        icc = None  # a gray or CMYK profile does not describe the RGB pixels we hand out
    arr = np.asarray(im)
    if im.mode == "RGBA":
        return arr[..., :3].copy(), arr[..., 3].copy(), icc
    return arr, None, icc


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None, info: dict) -> Image.Image:
    if icc and _icc_space(icc) == "CMYK":
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
        except Exception as exc:  # a broken profile: fall back to the plain formula
            info["notes"].append(f"CMYK profile not usable ({exc}); converted without it")
    return im.convert("RGB")


def _icc_space(icc: bytes | None) -> str | None:
    if not icc:
        return None
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space.strip()
    except Exception:
        return None


def _scale_to_8bit(arr: np.ndarray) -> np.ndarray:
    """Integer or float samples of any range -> uint8 (rules in the module docstring)."""
    if arr.dtype == np.uint8:
        return arr
    data = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    data = np.clip(data, 0, None)
    top = float(data.max()) if data.size else 0.0
    if arr.dtype.kind == "f" and top <= 1.0:
        scaled = data * 255.0
    elif arr.dtype.kind == "f" and top <= 255.0:
        scaled = data
    elif top <= 65535.0:
        scaled = data / 257.0
    else:
        scaled = data * (255.0 / top)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _read_with_opencv(path: Path, max_pixels: int | None) -> LoadedImage:
    """TIFFs Pillow cannot open (multi-channel float, 16-bit RGB in some layouts)."""
    import cv2

    try:
        data = np.fromfile(path, dtype=np.uint8)
        arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except (OSError, cv2.error) as exc:
        raise ImageError(f"{path}: {_damage(exc)}") from None
    if arr is None:
        raise ImageError(f"{path}: not an image, or a kind this program cannot read.")
    _check_pixels(path, (arr.shape[1], arr.shape[0]), max_pixels)
    bits = arr.dtype.itemsize * 8
    arr = _scale_to_8bit(arr)
    alpha = None
    if arr.ndim == 2:
        rgb = np.repeat(arr[..., None], 3, axis=2)
    elif arr.shape[2] == 4:
        rgb, alpha = np.ascontiguousarray(arr[..., 2::-1]), arr[..., 3].copy()
    else:
        rgb = np.ascontiguousarray(arr[..., 2::-1] if arr.shape[2] == 3 else np.repeat(arr[..., :1], 3, 2))
    info = {"path": str(path), "format": "TIFF", "mode": f"{arr.shape[2] if arr.ndim == 3 else 1}x{bits}-bit",
            "bit_depth": bits, "orientation": 1, "exif": None, "dpi": None, "frames": 1,
            "original_size": (rgb.shape[1], rgb.shape[0]), "notes": ["decoded with OpenCV"],
            "icc_profile": None, "size": (rgb.shape[1], rgb.shape[0]), "has_alpha": alpha is not None}
    return LoadedImage(rgb, alpha, info)


# -- writing --------------------------------------------------------------------------------------
def write_image(path: str | Path, rgb: np.ndarray, alpha: np.ndarray | None = None, quality: int = 95,
                info: dict | None = None) -> Path:
    """Write uint8 HxWx3 RGB (plus alpha where the format keeps it: PNG, WebP, TIFF) atomically.
    The format follows the suffix. `info` (from read_image) carries ICC profile, EXIF and dpi over.
    WebP at quality 100 is written lossless. Returns the path written."""
    path = Path(path)
    fmt = _format_for(path)
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageError(f"Cannot write {path}: expected uint8 HxWx3 RGB, got {rgb.dtype} {rgb.shape}.")
    im = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    if alpha is not None and fmt in ALPHA_FORMATS:
        alpha = np.asarray(alpha)
        if alpha.shape != rgb.shape[:2]:
            raise ImageError(f"Cannot write {path}: alpha is {alpha.shape[1]}x{alpha.shape[0]} "
                             f"but the image is {rgb.shape[1]}x{rgb.shape[0]}.")
        im.putalpha(Image.fromarray(np.ascontiguousarray(alpha.astype(np.uint8)), "L"))
    _save_atomic(im, path, fmt, _save_options(fmt, quality, info or {}))
    return path


def write_mask(path: str | Path, mask: np.ndarray) -> Path:
    """Write a mask (nonzero = hole) as a black-and-white 8-bit image: 255 = hole."""
    path = Path(path)
    fmt = _format_for(path)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ImageError(f"Cannot write {path}: a mask must be HxW, got shape {mask.shape}.")
    im = Image.fromarray(((mask != 0) * 255).astype(np.uint8), "L")
    _save_atomic(im, path, fmt, _save_options(fmt, 100 if fmt == "WEBP" else 95, {}))
    return path


def _format_for(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        shown = f"'{path.suffix}'" if path.suffix else "no suffix"
        raise ImageError(f"Cannot write {path}: unknown file type ({shown}); "
                         f"use one of {', '.join(SUPPORTED_SUFFIXES)}.")
    return fmt


def _save_options(fmt: str, quality: int, info: dict) -> dict:
    opts: dict = {}
    if info.get("icc_profile") and fmt != "BMP":
        opts["icc_profile"] = info["icc_profile"]
    if info.get("exif") and fmt != "BMP":
        opts["exif"] = info["exif"]
    if info.get("dpi"):
        opts["dpi"] = info["dpi"]
    if fmt == "JPEG":
        opts.update(quality=int(quality), subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        opts.update(quality=int(quality), lossless=quality >= 100, method=4, exact=True)
    elif fmt == "TIFF":
        opts["compression"] = "tiff_lzw"
    return opts


def _save_atomic(im: Image.Image, path: Path, fmt: str, opts: dict) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImageError(f"Cannot write {path}: the folder {folder} does not exist.")
    tmp = temp_path(folder / path.name)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        with os.fdopen(fd, "wb") as fh:
            im.save(fh, fmt, **opts)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise ImageError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    except (ValueError, TypeError, KeyError) as exc:  # encoder refused an option or the data
        raise ImageError(f"Cannot write {path}: {exc}.") from None
    finally:
        if tmp.exists():
            tmp.unlink()
