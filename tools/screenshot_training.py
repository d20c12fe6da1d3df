"""Screenshots of the fine-tune dialog during a real (small) run and of the model manager.

    python tools/screenshot_training.py [--out-dir docs] [--iterations 200] [--grab-at 0.6]

Like tools/screenshot.py it starts its own Xvfb when there is no display and works in a temporary
INPAINT_STUDIO_HOME: a demo base model (random weights), a folder of synthetic photos (plus one
damaged file), and a 64 px fine-tune through the dialog on the CPU. The dialog is captured when
the run is --grab-at of the way through; the run then completes and exports its model, and the
model manager is captured with it selected. Takes a minute or two on a CPU; the temporary folder
is removed at the end.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from screenshot import start_xvfb, synthetic_photo  # noqa: E402


def make_photos(folder: Path, count: int, seed: int) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        img = synthetic_photo(320, 240)
        img = np.roll(img, int(rng.integers(0, 320)), axis=1)
        Image.fromarray(img).save(folder / f"garden-{seed}-{i:02d}.jpg", quality=92)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=str(ROOT / "docs"))
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--grab-at", type=float, default=0.6, help="fraction of the run done at the capture")
    ap.add_argument("--setup-shot", help="also capture the new fine-tune form here")
    args = ap.parse_args(argv)
    xvfb = None
    if not os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM", "xcb") == "xcb":
        xvfb = start_xvfb(1400, 900)
        os.environ["QT_QPA_PLATFORM"] = "xcb"
    home = Path(tempfile.mkdtemp(prefix="inpaint-shot-"))
    os.environ["INPAINT_STUDIO_HOME"] = str(home)
    try:
        return _shoot(args, home)
    finally:
        _stop_runs(home)
        shutil.rmtree(home, ignore_errors=True)   # checkpoints are large
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(5)


def _stop_runs(home: Path) -> None:
    """Stop a run left going (the tool failed midway), so the temporary folder can go."""
    from inpaint_studio.app.training.runs import list_runs
    from inpaint_studio.contracts.runs import STOP_FILE

    for run in list_runs(home / "runs"):
        if run.is_alive():
            (run.path / STOP_FILE).touch()
            pid = run.process.get("launcher_pid")
            if pid:
                os.kill(pid, signal.SIGTERM)
            deadline = time.time() + 60
            while run.is_alive() and time.time() < deadline:
                time.sleep(0.5)


def _pump(app, seconds: float, until=None) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        app.processEvents()
        if until is not None and until():
            return True
        time.sleep(0.03)
    return until is None


def _shoot(args, home: Path) -> int:
    import torch
    from PySide6.QtWidgets import QApplication

    from inpaint_studio.app.editor.main_window import MainWindow
    from inpaint_studio.app.training.model_manager import ModelManagerDialog
    from inpaint_studio.app.ui.theme import apply_dark_theme
    from inpaint_studio.engine.registry import ModelRegistry, save_generator
    from inpaint_studio.network import PENNetGenerator

    torch.manual_seed(0)
    bundled = home / "bundled"
    save_generator(PENNetGenerator(), "PEN-Net demo base", {
        "default": True, "licence": "MIT",
        "description": "Random weights standing in for the bundled model in this screenshot.",
        "training": {"data": "none (random initialisation)", "iterations": 0}}, directory=bundled)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    photos, val = home / "photos" / "garden", home / "photos" / "garden-val"
    make_photos(photos, 12, seed=1)
    (photos / "IMG_0042.jpg").write_bytes(b"\xff\xd8\xff\xe0 damaged")
    make_photos(val, 4, seed=2)

    app = QApplication.instance() or QApplication(["inpaint-studio"])
    apply_dark_theme(app)
    # the demo base is "bundled" for the model manager; the trainer needs it in the user folder
    base = save_generator(PENNetGenerator(), "PEN-Net demo base", {"licence": "MIT"})
    window = MainWindow(autosave=False)
    window.resize(1300, 820)
    window.show()
    feature = window.features["fine_tune"]
    dialog = feature.show_dialog()
    form = dialog.form
    form.set_folder(str(photos))
    _pump(app, 20, lambda: form.count is not None and form.count.done)
    form.base_combo.setCurrentIndex(form.base_combo.findData(base.id))
    form.size_combo.setCurrentIndex(form.size_combo.findData(64))
    form.iterations_spin.setValue(args.iterations)
    form.val_spin.setValue(max(1, args.iterations // 10))
    form.ckpt_spin.setValue(args.iterations)
    form.val_edit.setText(str(val))
    form.device_combo.setCurrentIndex(form.device_combo.findData("cpu"))
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if args.setup_shot:
        form.more_button.setChecked(True)
        _pump(app, 0.5)
        dialog.grab().save(args.setup_shot)
        form.more_button.setChecked(False)
    form._start()
    job = feature.job
    if job is None:
        print(form.busy_label.text(), file=sys.stderr)
        return 1
    target = int(args.iterations * args.grab_at)
    if not _pump(app, 900, lambda: job.state.iteration >= target or not job.running):
        print("the run did not get far enough", file=sys.stderr)
    _pump(app, 0.6)
    dialog.grab().save(str(out / "screenshot-finetune.png"))
    print(f"wrote {out / 'screenshot-finetune.png'} at iteration {job.state.iteration}")
    _pump(app, 900, lambda: not job.running)
    if job.state.status != "completed":
        print(f"run ended {job.state.status}: {job.state.message}", file=sys.stderr)
        return 1
    dialog.hide()
    ModelRegistry().delete(base.id)
    manager = ModelManagerDialog(window, registry_factory=lambda: ModelRegistry(bundled_dir=bundled))
    manager.reload(select=job.state.model_id)
    manager.show()
    _pump(app, 0.8)
    manager.grab().save(str(out / "screenshot-models.png"))
    print(f"wrote {out / 'screenshot-models.png'}")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
