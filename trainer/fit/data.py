"""Photo folders as training data.

scan_folder  finds the images of a folder tree (JPEG/PNG/WebP/TIFF/BMP), reads their headers and
             sorts out what cannot be used: unreadable files (skipped and counted, never fatal)
             and images smaller than the crop (upscaled, or skipped with --small skip; below a
             quarter of the crop they are always skipped). No usable image: DataError, before
             anything starts.
holdout      a fixed 5 % validation split when no --val folder is given.
TrainImages  random crops at several scales, resized to the training size, horizontal flips,
             light colour jitter, and a fresh random mask; every random choice comes from a
             per-sample seed, so a resumed run sees the same samples as an uninterrupted one.
ValImages    fixed centre crops with fixed masks, loaded once.
SampleStream the endless (index, seed) stream that feeds TrainImages, sharded across processes
             by a DistributedSampler.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from inpaint_studio import imaging

from .masks import MaskGenerator, fixed_masks, to_tensor

JITTER = 0.1       # brightness, contrast and saturation change by at most +-10 %
MIN_FRACTION = 4   # images whose short side is below size / 4 are never upscaled


class DataError(ValueError):
    """A data folder that cannot be used; the message says which and why."""


@dataclass
class ImageEntry:
    path: str
    width: int
    height: int


@dataclass
class FolderScan:
    root: str
    size: int
    entries: list[ImageEntry] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)
    upscaled: list[str] = field(default_factory=list)
    too_small: list[str] = field(default_factory=list)
    ignored: int = 0  # files that are not images by their suffix

    @property
    def megapixels(self) -> float:
        return sum(e.width * e.height for e in self.entries) / 1e6

    def summary(self) -> dict:
        return {"path": self.root, "images": len(self.entries), "megapixels": round(self.megapixels, 2),
                "unreadable": len(self.unreadable), "upscaled": len(self.upscaled),
                "skipped_small": len(self.too_small), "ignored_files": self.ignored}

    def report(self) -> list[str]:
        """Human-readable lines about what was skipped or changed."""
        lines = [f"{self.root}: {len(self.entries)} usable images ({self.megapixels:.1f} megapixels)"]
        if self.unreadable:
            lines.append(f"skipped {len(self.unreadable)} unreadable files, e.g. " + "; ".join(
                f"{Path(p).name}: {r}" for p, r in self.unreadable[:3]))
        if self.upscaled:
            lines.append(f"{len(self.upscaled)} images smaller than {self.size} px will be upscaled, e.g. "
                         + ", ".join(Path(p).name for p in self.upscaled[:3]))
        if self.too_small:
            lines.append(f"skipped {len(self.too_small)} images too small for {self.size} px crops, e.g. "
                         + ", ".join(Path(p).name for p in self.too_small[:3]))
        if self.ignored:
            lines.append(f"ignored {self.ignored} files that are not images "
                         f"(supported: {', '.join(imaging.SUPPORTED_SUFFIXES)})")
        return lines


def scan_folder(root: str | Path, size: int, small: str = "upscale") -> FolderScan:
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (give a folder of photos)")
    scan = FolderScan(str(root), size)
    floor = size if small == "skip" else max(32, size // MIN_FRACTION)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if name.startswith(".") or Path(name).suffix.lower() not in imaging.SUPPORTED_SUFFIXES:
                scan.ignored += not name.startswith(".")
                continue
            try:
                width, height = imaging.probe_image(path)
            except imaging.ImageError as exc:
                scan.unreadable.append((path, _reason(exc, path)))
                continue
            if min(width, height) < floor:
                scan.too_small.append(path)
                continue
            if min(width, height) < size:
                scan.upscaled.append(path)
            scan.entries.append(ImageEntry(path, width, height))
    if not scan.entries:
        found = len(scan.unreadable) + len(scan.too_small)
        if found:
            detail = (f"{found} image files found: {len(scan.unreadable)} unreadable, "
                      f"{len(scan.too_small)} smaller than {floor} px")
        else:
            detail = f"no files ending in {', '.join(imaging.SUPPORTED_SUFFIXES)}"
        raise DataError(f"{root}: no usable images ({detail})")
    return scan


def holdout(entries: list[ImageEntry], fraction: float, seed: int = 0) -> tuple[list, list]:
    """(train, val): a fixed share of the images, chosen by seed, never trained on. A single
    image is both (there is nothing to hold out)."""
    if len(entries) < 2 or fraction <= 0:
        return list(entries), list(entries) if len(entries) < 2 else []
    count = min(len(entries) - 1, max(1, round(len(entries) * fraction)))
    order = np.random.default_rng(seed).permutation(len(entries))
    val = sorted(int(i) for i in order[:count])
    taken = set(val)
    return [e for i, e in enumerate(entries) if i not in taken], [entries[i] for i in val]


def load_rgb(path: str) -> np.ndarray:
    return imaging.read_image(path).rgb


# -- training samples ---------------------------------------------------------------------------
class TrainImages(Dataset):
    """Items are looked up by (index, seed...) keys from SampleStream. An image that fails to
    decode now (a header that looked fine) is replaced by the next one and reported."""

    def __init__(self, entries: list[ImageEntry], size: int, mask_kind: str = "mixed", crop_scale: float = 0.0):
        self.entries = entries
        self.size = size
        self.mask_kind = mask_kind
        self.crop_scale = crop_scale

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, key) -> dict:
        index, *seed = key if isinstance(key, tuple) else (key, key)
        rng = np.random.default_rng(list(seed))
        failed = []
        for attempt in range(min(len(self.entries), 8)):
            entry = self.entries[(index + attempt) % len(self.entries)]
            try:
                rgb = load_rgb(entry.path)
                break
            except imaging.ImageError as exc:
                failed.append((entry.path, _reason(exc, entry.path)))
        else:
            raise DataError(f"{len(failed)} images in a row could not be read, e.g. {failed[0][0]}: {failed[0][1]}")
        crop = augment(random_crop(rgb, self.size, rng, self.crop_scale), rng)
        mask = MaskGenerator(self.mask_kind, rng=rng)(self.size)
        return {"image": to_network(crop), "mask": to_tensor(mask), "failed": failed}


def random_crop(rgb: np.ndarray, size: int, rng: np.random.Generator, scale: float = 0.0) -> np.ndarray:
    """A square crop with a side between `size` (or `scale` x the short side, if larger) and the
    short side (log-uniform: fine detail and whole scenes alike), resized to size x size. Small
    images are upscaled first. A `scale` near 1 shows whole scenes at the scale that `evaluate`
    and the app's resize strategy see them."""
    h, w = rgb.shape[:2]
    short = min(h, w)
    if short < size:
        scale = size / short
        rgb = cv2.resize(rgb, (max(size, round(w * scale)), max(size, round(h * scale))),
                         interpolation=cv2.INTER_CUBIC)
        h, w = rgb.shape[:2]
        short = min(h, w)
    low = max(size, min(short, round(scale * short)))
    side = int(round(math.exp(rng.uniform(math.log(low), math.log(short))))) if short > low else short
    side = min(max(side, size), short)
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    crop = rgb[y:y + side, x:x + side]
    if side != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop)


def augment(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Horizontal flip and light brightness / contrast / saturation jitter -> float32 [0, 1]."""
    img = rgb.astype(np.float32) / 255.0
    if rng.random() < 0.5:
        img = img[:, ::-1]
    brightness, contrast, saturation = 1 + rng.uniform(-JITTER, JITTER, 3)
    img = img * brightness
    img = (img - img.mean()) * contrast + img.mean()
    grey = img @ np.array([0.299, 0.587, 0.114], np.float32)
    img = (img - grey[..., None]) * saturation + grey[..., None]
    return np.clip(img, 0.0, 1.0)


def to_network(img: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8, or float in [0, 1] -> (3,H,W) float in [-1, 1]."""
    x = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))) * 2 - 1


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """The short side resized to `size`, then the centre square: validation and evaluation."""
    h, w = rgb.shape[:2]
    scale = size / min(h, w)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    rgb = cv2.resize(rgb, (nw, nh), interpolation=interp) if (nw, nh) != (w, h) else rgb
    y, x = (nh - size) // 2, (nw - size) // 2
    return np.ascontiguousarray(rgb[y:y + size, x:x + size])


def collate(items: list[dict]) -> dict:
    return {"image": torch.stack([i["image"] for i in items]),
            "mask": torch.stack([i["mask"] for i in items]),
            "failed": [f for i in items for f in i["failed"]]}


# -- validation samples -------------------------------------------------------------------------
class ValImages:
    """Up to `limit` images, centre-cropped, each with its own fixed mask (seeded)."""

    def __init__(self, entries: list[ImageEntry], size: int, mask_kind: str, limit: int = 16, seed: int = 1234):
        self.paths, images, self.skipped = [], [], []
        for entry in entries:
            if len(images) >= limit:
                break
            try:
                images.append(center_crop(load_rgb(entry.path), size))
                self.paths.append(entry.path)
            except imaging.ImageError as exc:
                self.skipped.append((entry.path, _reason(exc, entry.path)))
        masks = fixed_masks(mask_kind, len(images), size, seed=seed)
        self.images = torch.stack([to_network(i) for i in images]) if images else torch.empty(0, 3, size, size)
        self.masks = torch.stack([to_tensor(m) for m in masks]) if masks else torch.empty(0, 1, size, size)

    def __len__(self) -> int:
        return len(self.paths)


# -- sampling -----------------------------------------------------------------------------------
class SampleStream(Sampler):
    """Endless keys (index, seed, rank, epoch, position): epoch after epoch of a shuffled
    DistributedSampler shard, starting `skip` keys in (what a resumed run has already seen)."""

    def __init__(self, dataset: Dataset, seed: int, rank: int = 0, world: int = 1, skip: int = 0):
        self.inner = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed)
        self.seed, self.rank, self.skip = seed, rank, skip

    def __iter__(self):
        per_epoch = len(self.inner)
        epoch, offset = divmod(self.skip, per_epoch)
        while True:
            self.inner.set_epoch(epoch)
            for position, index in enumerate(self.inner):
                if position >= offset:
                    yield (index, self.seed, self.rank, epoch, position)
            epoch, offset = epoch + 1, 0


# -- helpers ------------------------------------------------------------------------------------
def _reason(exc: Exception, path: str) -> str:
    text = str(exc)
    return text[len(path) + 2:] if text.startswith(f"{path}: ") else text
