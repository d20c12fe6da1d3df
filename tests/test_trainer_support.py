"""Shared helpers for the trainer tests (no tests here): tiny synthetic photo folders with real
PNG/JPEG files, a corrupt file and a non-image, and running `python -m trainer` in a process."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from inpaint_studio.contracts.events import read_events

REPO = Path(__file__).resolve().parents[1]


def photo(seed: int, height: int = 80, width: int = 96) -> np.ndarray:
    """A smooth, structured uint8 RGB image: gradients, a stripe pattern and a disc."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin((x + y) / rng.uniform(6, 12))], -1)
    cy, cx, r = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width, min(height, width) / 5
    disc = ((y - cy) ** 2 + (x - cx) ** 2) < r * r
    base[disc] = rng.uniform(0, 1, 3)
    return (base * 255).clip(0, 255).astype(np.uint8)


def make_folder(root: Path, images: int = 3, corrupt: bool = True, size=(80, 96)) -> Path:
    """PNG and JPEG photos (one in a subfolder), a file that claims to be a PNG but is not, a
    truncated JPEG whose header still reads, and a text file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nested").mkdir(exist_ok=True)
    for i in range(images):
        target = root / ("nested" if i == 0 else "") / f"photo{i}.{'jpg' if i % 2 else 'png'}"
        Image.fromarray(photo(i, *size)).save(target, quality=95)
    if corrupt:
        (root / "broken.png").write_bytes(b"this is not a png file at all" * 4)
        good = root / "whole.jpg"
        Image.fromarray(photo(99, *size)).save(good, quality=95)
        data = good.read_bytes()
        good.unlink()
        (root / "truncated.jpg").write_bytes(data[: len(data) // 3])
        (root / "notes.txt").write_text("not an image")
    return root


def trainer_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_trainer(args: list[str], log: Path, module: list[str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, *(module or ["-m", "trainer"]), *map(str, args)]
    return subprocess.Popen(cmd, cwd=REPO, env=trainer_env(), stdout=open(log, "w"), stderr=subprocess.STDOUT)


def wait_for_event(path: Path, proc: subprocess.Popen, predicate, timeout: float = 120.0) -> dict:
    """The first event in `path` that satisfies `predicate`, polled while the process runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            for event in read_events(path):
                if predicate(event):
                    return event
        if proc.poll() is not None and not any(predicate(e) for e in (read_events(path) if path.exists() else [])):
            raise AssertionError(f"trainer exited with {proc.returncode} before the awaited event")
        time.sleep(0.05)
    raise AssertionError("timed out waiting for a trainer event")


def fit_args(data: Path, out: Path, events: Path, iterations: int, **extra) -> list[str]:
    """Tiny, fast settings: 64 px crops, batch 1, CPU."""
    args = ["fit", "--data", data, "--out", out, "--events", events, "--size", 64, "--batch-size", 1,
            "--iterations", iterations, "--device", "cpu", "--workers", 0, "--val-images", 2]
    for key, value in extra.items():
        args += [f"--{key.replace('_', '-')}", value]
    return [str(a) for a in args]
