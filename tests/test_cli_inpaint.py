"""The `inpaint` subcommand: single files, folders, pairing, alpha, models, and clear errors."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inpaint_studio import cli_inpaint
from inpaint_studio import engine as engine_package
from inpaint_studio.engine import clear_engine_cache
from inpaint_studio.engine import registry as registry_module
from inpaint_studio.engine.registry import save_generator
from inpaint_studio.imaging import read_image, write_image, write_mask
from inpaint_studio.network import PENNetGenerator

ROOT = Path(__file__).resolve().parents[1]


def photo(h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 / w, yy * 255 / h, 120 + 50 * np.sin(xx / 4 + seed)], -1)
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def hole(h=96, w=128):
    mask = np.zeros((h, w), np.uint8)
    mask[30:60, 40:80] = 255
    return mask


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A folder of inputs, and a registry without bundled models (Auto then uses classical engines)."""
    monkeypatch.setattr(registry_module, "BUNDLED_MODELS_DIR", tmp_path / "no-bundled-models")
    clear_engine_cache()
    folder = tmp_path / "work"
    folder.mkdir()
    yield folder
    clear_engine_cache()


def run(*args):
    return cli_inpaint.main(["inpaint", *map(str, args)])


def test_single_image_default_without_a_model_is_classical_auto_with_a_note(work, capsys):
    write_image(work / "a.png", photo())
    write_mask(work / "m.png", hole())
    assert run("--image", work / "a.png", "--mask", work / "m.png", "--output", work / "out.png") == 0
    err = capsys.readouterr().err
    assert "note: no PEN-Net model is installed; Auto chooses among telea, ns" in err
    out = read_image(work / "out.png").rgb
    keep = hole() == 0
    np.testing.assert_array_equal(out[keep], photo()[keep])
    assert (out[~keep] != photo()[~keep]).any()


def test_folder_with_paired_masks_and_a_pennet_model(work, capsys):
    torch.manual_seed(0)
    info = save_generator(PENNetGenerator(), "CLI test model", {})
    (work / "in").mkdir()
    (work / "masks").mkdir()
    for i, name in enumerate(["one.png", "two.jpg"]):
        write_image(work / "in" / name, photo(seed=i))
        mask = np.zeros((96, 128), np.uint8)
        mask[10 + 20 * i:40 + 20 * i, 20:60] = 255
        write_mask(work / "masks" / (Path(name).stem + ".png"), mask)
    (work / "in" / "notes.txt").write_text("not an image")  # ignored
    code = run("--image", work / "in", "--mask", work / "masks", "--output", work / "out", "--model", info.id,
               "--device", "cpu", "--feather", "0")
    err = capsys.readouterr().err
    assert code == 0, err
    assert sorted(p.name for p in (work / "out").iterdir()) == ["one.png", "two.jpg"]
    assert "[" in err and "2/2" in err and "done: 2 images" in err
    one = read_image(work / "out" / "one.png").rgb
    mask = np.zeros((96, 128), bool)
    mask[10:40, 20:60] = True
    np.testing.assert_array_equal(one[~mask], photo(seed=0)[~mask])  # PNG: bit for bit outside


def test_one_mask_for_a_folder_keeps_alpha_and_reports_empty_masks(work, capsys):
    (work / "in").mkdir()
    alpha = np.full((96, 128), 200, np.uint8)
    write_image(work / "in" / "a.png", photo(), alpha)
    write_image(work / "in" / "b.webp", photo(seed=3), quality=100)
    write_mask(work / "m.png", hole())
    assert run("--image", work / "in", "--mask", work / "m.png", "--output", work / "out", "--model", "ns") == 0
    a = read_image(work / "out" / "a.png")
    np.testing.assert_array_equal(a.alpha, alpha)
    assert (work / "out" / "b.webp").is_file()
    write_mask(work / "empty.png", np.zeros((96, 128), np.uint8))
    assert run("--image", work / "in" / "a.png", "--mask", work / "empty.png", "--output", work / "same.png") == 0
    assert "Nothing to fill: the mask is empty." in capsys.readouterr().err
    np.testing.assert_array_equal(read_image(work / "same.png").rgb, photo())


@pytest.mark.parametrize("case, expected", [
    ("missing image", "no such file or folder"),
    ("unpaired mask", "no mask with the same name for b.png"),
    ("size mismatch", "mask is 64x48 but image is 128x96"),
    ("unknown model", "Unknown model 'nope'"),
    ("bad output type", "unknown output type '.gif'"),
    ("damaged image", "damaged or not a valid image"),
])
def test_bad_input_is_one_error_line(work, capsys, case, expected):
    write_image(work / "a.png", photo())
    write_mask(work / "m.png", hole())
    (work / "in").mkdir()
    (work / "masks").mkdir()
    write_image(work / "in" / "a.png", photo())
    write_image(work / "in" / "b.png", photo())
    write_mask(work / "masks" / "a.png", hole())
    write_mask(work / "small.png", np.zeros((48, 64), np.uint8))
    (work / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    image, mask, output, extra = work / "a.png", work / "m.png", work / "o.png", []
    if case == "missing image":
        image = work / "nothing.png"
    elif case == "unpaired mask":
        image, mask, output = work / "in", work / "masks", work / "out"
    elif case == "size mismatch":
        mask = work / "small.png"
    elif case == "unknown model":
        extra = ["--model", "nope"]
    elif case == "bad output type":
        output = work / "o.gif"
    elif case == "damaged image":
        image = work / "broken.png"
    assert run("--image", image, "--mask", mask, "--output", output, *extra) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error: ") and expected in lines[-1]
    assert not (work / "o.png").exists() and not (work / "out").exists()


def test_folder_continues_past_a_bad_image(work, capsys):
    (work / "in").mkdir()
    write_image(work / "in" / "a.png", photo())
    (work / "in" / "b.png").write_bytes(b"not really a png")
    write_mask(work / "m.png", hole())
    assert run("--image", work / "in", "--mask", work / "m.png", "--output", work / "out") == 2
    err = capsys.readouterr().err
    assert "b.png" in err and "error: 1 of 2 images failed" in err
    assert (work / "out" / "a.png").is_file()


def test_python_m_inpaint_studio(work):
    """Through the real entry point, once for success and once for a failure."""
    write_image(work / "a.jpg", photo())
    write_mask(work / "m.png", hole())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    ok = subprocess.run([sys.executable, "-m", "inpaint_studio", "inpaint", "--image", str(work / "a.jpg"),
                         "--mask", str(work / "m.png"), "--output", str(work / "out.jpg"), "--model", "telea"],
                        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert read_image(work / "out.jpg").rgb.shape == (96, 128, 3)
    bad = subprocess.run([sys.executable, "-m", "inpaint_studio", "inpaint", "--image", str(work / "a.jpg"),
                          "--mask", str(work / "missing.png"), "--output", str(work / "x.png")],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [f"error: {work / 'missing.png'}: no such file or folder."]


def test_precision_choice_reaches_the_engine(work, capsys):
    torch.manual_seed(0)
    info = save_generator(PENNetGenerator(), "CLI precision model", {})
    write_image(work / "a.png", photo())
    write_mask(work / "m.png", hole())
    outputs = {}
    for precision in ("fp32", "bf16"):
        out = work / f"{precision}.png"
        assert run("--image", work / "a.png", "--mask", work / "m.png", "--output", out, "--model", info.id,
                   "--device", "cpu", "--precision", precision) == 0, capsys.readouterr().err
        outputs[precision] = read_image(out).rgb.astype(int)
    keep = hole() == 0
    assert (outputs["fp32"][keep] == outputs["bf16"][keep]).all()
    assert np.abs(outputs["fp32"] - outputs["bf16"])[~keep].mean() < 1.0
    assert {key[2] for key in engine_package._cache} == {"fp32", "bf16"}  # one cached engine per precision
    with pytest.raises(SystemExit):
        run("--image", work / "a.png", "--mask", work / "m.png", "--output", work / "x.png", "--precision", "fp8")


def test_colour_adaptation_is_on_by_default_and_can_be_turned_off(work, capsys):
    torch.manual_seed(0)
    info = save_generator(PENNetGenerator(), "CLI colour model", {})
    write_image(work / "a.png", photo())
    write_mask(work / "m.png", hole())
    errors = {}
    for name, extra in (("adapted", []), ("raw", ["--no-colour-adaptation"])):
        out = work / f"{name}.png"
        assert run("--image", work / "a.png", "--mask", work / "m.png", "--output", out, "--model", info.id,
                   "--device", "cpu", *extra) == 0, capsys.readouterr().err
        result = read_image(out).rgb.astype(int)
        keep = hole() == 0
        np.testing.assert_array_equal(result[keep], photo()[keep])
        errors[name] = np.abs(result - photo().astype(int))[~keep].mean()
    # an untrained network's colours are far off; matched to the surroundings they are closer
    assert errors["adapted"] < 0.8 * errors["raw"], errors


@pytest.mark.parametrize("case", ["mask file", "mask through ..", "mask symlink", "mask hard link",
                                  "source file", "mask folder", "image folder"])
def test_an_output_that_is_an_input_is_refused_and_nothing_is_written(work, capsys, case):
    write_image(work / "a.png", photo())
    write_mask(work / "m.png", hole())
    (work / "in").mkdir()
    (work / "masks").mkdir()
    write_image(work / "in" / "a.png", photo())
    write_mask(work / "masks" / "a.png", hole())
    image, mask, output, extra = work / "a.png", work / "m.png", None, []
    if case == "mask file":
        output = work / "m.png"
    elif case == "mask through ..":
        output = work / "in" / ".." / "m.png"
    elif case == "mask symlink":
        (work / "link.png").symlink_to(work / "m.png")
        output = work / "link.png"
    elif case == "mask hard link":
        os.link(work / "m.png", work / "hard.png")
        output = work / "hard.png"
    elif case == "source file":
        write_mask(work / "src.png", 255 - hole())
        output, extra = work / "src.png", ["--source", work / "src.png"]
    elif case == "mask folder":
        image, mask, output = work / "in", work / "masks", work / "masks"
    elif case == "image folder":
        image, mask, output = work / "in", work / "masks", work / "in"
    before = {p: p.read_bytes() for p in work.rglob("*.png") if p.is_file()}
    assert run("--image", image, "--mask", mask, "--output", output, "--model", "telea", *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {output}")
    assert "overwrite the input" in err[0] or "folder of the input" in err[0]
    assert {p: p.read_bytes() for p in work.rglob("*.png") if p.is_file()} == before
