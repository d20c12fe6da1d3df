"""`python -m inpaint_studio restore`: a folder of damaged real photos is restored, each photo's
line says what changed, only found pixels change, the masks come out on request; outputs that
are inputs are refused before anything is written; a bad photo is reported and skipped."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from inpaint_studio.cli import main
from inpaint_studio.imaging import read_image, read_mask, write_image
from inpaint_studio.restoration.restore_eval import HALO, load_photos, synthesize_defects

PHOTOS = Path(__file__).parent / "data" / "photos"


@pytest.fixture(scope="module")
def damaged_folder(tmp_path_factory):
    """Three real photos (long side 240 px) with scratches, dust and a fold line: (folder,
    {name: (clean photo, damaged pixels)})."""
    folder = tmp_path_factory.mktemp("old")
    clean = {}
    for name, img in load_photos(PHOTOS, side=240)[:3]:
        bad, truth = synthesize_defects(img, 7, n_scratches=4, n_dust=15, n_folds=1, halo=HALO)
        write_image(folder / f"{name}.png", bad)
        clean[name] = img, truth > 0
    return folder, clean


def test_a_folder_is_restored_and_each_photo_reports_what_changed(damaged_folder, tmp_path, capsys):
    folder, clean = damaged_folder
    out, masks = tmp_path / "new", tmp_path / "masks"
    out.mkdir()
    stale = out / f".astronaut.png.{2**22 + 12345}-0123abcd.tmp"    # left by a killed run (no such pid)
    stale.write_bytes(b"half")
    assert main(["restore", "--image", str(folder), "--output", str(out), "--mask-out", str(masks)]) == 0
    err = capsys.readouterr().err
    assert not stale.exists() and f"note: removed 1 unfinished file left in {out}" in err
    bars = [l for l in err.splitlines() if l.startswith("[")]         # piped: one line per finished photo
    assert [b.split("] ")[1].split()[0] for b in bars] == ["1/3", "2/3", "3/3"] and "100.0%" in bars[-1]
    assert "restoring with OpenCV Telea" in err
    errors = np.zeros(2)
    for name, (img, damage) in clean.items():
        line = next(l for l in err.splitlines() if l.startswith(f"{name}.png: "))
        defects, share = line.split(": ")[1].split(" defects filled, ")
        assert int(defects) >= 3 and 0.2 < float(share.split(" %")[0]) < 15, line
        before = read_image(folder / f"{name}.png").rgb
        after = read_image(out / f"{name}.png").rgb
        mask = read_mask(masks / f"{name}.png")
        assert np.array_equal(after[mask == 0], before[mask == 0])     # only found pixels change
        assert mask.any() and not np.array_equal(after[mask > 0], before[mask > 0])
        errors += [np.square(before[damage].astype(float) - img[damage]).sum(),
                   np.square(after[damage].astype(float) - img[damage]).sum()]
    # the damage is partly repaired: its squared error to the clean photos drops (measured 11 %;
    # the finder's recall of this damage is about 0.3, see restore-eval's table)
    assert errors[1] < 0.95 * errors[0]
    assert "done: 3 photos restored" in err and "% of their area" in err


def test_outputs_that_are_inputs_are_refused_before_any_write(damaged_folder, tmp_path, capsys):
    folder, _ = damaged_folder
    before = sorted(p.name for p in folder.iterdir())
    one = folder / "astronaut.png"
    for args, named in ((["--output", str(folder)], str(folder)),
                        (["--output", str(tmp_path / "out"), "--mask-out", str(folder)], str(folder))):
        assert main(["restore", "--image", str(folder), *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {named}") and "input photos" in err[0]
    assert main(["restore", "--image", str(one), "--output", str(one)]) == 2
    assert "would overwrite the input image" in capsys.readouterr().err
    target = tmp_path / "x.png"
    assert main(["restore", "--image", str(one), "--output", str(target), "--mask-out", str(target)]) == 2
    assert "mask would overwrite the restored photo" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == before and not target.exists()
    assert not (tmp_path / "out").exists()


def test_a_bad_photo_in_a_folder_is_reported_and_skipped(damaged_folder, tmp_path, capsys):
    folder, _ = damaged_folder
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for p in folder.iterdir():
        (mixed / p.name).write_bytes(p.read_bytes())
    (mixed / "broken.jpg").write_bytes(b"not a jpeg at all")
    out = tmp_path / "out"
    assert main(["restore", "--image", str(mixed), "--output", str(out), "--sensitivity", "0.3"]) == 2
    err = capsys.readouterr().err
    assert "broken.jpg" in next(l for l in err.splitlines() if l.startswith("error: "))
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in folder.iterdir())
    assert "1 of 4 photos failed" in err
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())      # atomic writes: no leftovers
