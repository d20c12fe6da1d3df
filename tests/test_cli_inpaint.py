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
    assert ("warning: a.png: nothing was filled (the mask empty.png is empty); same.png is the image as it was"
            in capsys.readouterr().err)
    np.testing.assert_array_equal(read_image(work / "same.png").rgb, photo())


@pytest.mark.parametrize("case, expected", [
    ("missing image", "no such file or folder"),
    ("unpaired mask", "no mask with the same name for a.png, b.png"),
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
        (work / "other").mkdir()
        write_mask(work / "other" / "c.png", hole())
        image, mask, output = work / "in", work / "other", work / "out"
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
    usage = subprocess.run([sys.executable, "-m", "inpaint_studio", "--help"], capture_output=True, text=True,
                           env=env, cwd=ROOT, timeout=120).stdout
    assert usage.startswith("usage: python -m inpaint_studio ")


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


# -- reliability: progress, skipped images, the mask rule, leftovers, errors that name the file ----
def _folder(work, names, masks=None):
    (work / "in").mkdir()
    (work / "masks").mkdir()
    for i, name in enumerate(names):
        write_image(work / "in" / name, photo(seed=i))
    for name in (names if masks is None else masks):
        write_mask(work / "masks" / (Path(name).stem + ".png"), hole())


def test_piped_progress_has_one_line_per_finished_image_ending_at_100_percent(work, capsys):
    _folder(work, ["a.png", "b.png", "c.png", "d.png"])
    assert run("--image", work / "in", "--mask", work / "masks", "--output", work / "out", "--model", "telea") == 0
    bars = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[")]
    assert [line.split()[1:3] for line in bars] == [["1/4", "25.0%"], ["2/4", "50.0%"], ["3/4", "75.0%"],
                                                   ["4/4", "100.0%"]]


def test_terminal_progress_bar_ends_full(work, capsys, monkeypatch):
    _folder(work, ["a.png", "b.png", "c.png", "d.png"])
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert run("--image", work / "in", "--mask", work / "masks", "--output", work / "out", "--model", "telea") == 0
    err = capsys.readouterr().err
    last_bar = [part for part in err.split("\r") if part.startswith("[")][-1]
    assert "4/4 100.0%" in last_bar and "#" * 30 in last_bar


def test_an_image_without_a_mask_is_skipped_and_reported(work, capsys):
    _folder(work, ["a.png", "b.png", "c.png"], masks=["a.png", "c.png"])
    assert run("--image", work / "in", "--mask", work / "masks", "--output", work / "out", "--model", "telea") == 2
    err = capsys.readouterr().err
    assert f"error: {work / 'in' / 'b.png'}: no mask of the same name in {work / 'masks'}." in err
    assert "error: 1 of 3 images failed" in err
    assert sorted(p.name for p in (work / "out").iterdir()) == ["a.png", "c.png"]


def _mask_file(path, kind):
    from PIL import Image

    shape = (96, 128)
    inside = hole() > 0
    if kind == "0/1 values":
        Image.fromarray(inside.astype(np.uint8)).save(path)
    elif kind == "0/100 values":
        Image.fromarray(inside.astype(np.uint8) * 100).save(path)
    elif kind in ("red strokes", "blue strokes"):
        rgb = np.zeros(shape + (3,), np.uint8)
        rgb[inside, 0 if kind == "red strokes" else 2] = 255
        Image.fromarray(rgb).save(path)
    elif kind == "black strokes on a transparent layer":
        rgba = np.zeros(shape + (4,), np.uint8)
        rgba[inside, 3] = 255
        Image.fromarray(rgba, "RGBA").save(path)
    elif kind == "faint JPEG":
        Image.fromarray(inside.astype(np.uint8) * 3).save(path, quality=100)
    elif kind == "colour under full transparency":
        rgba = np.zeros(shape + (4,), np.uint8)
        rgba[inside, :3] = 255
        Image.fromarray(rgba, "RGBA").save(path)


@pytest.mark.parametrize("kind", ["0/1 values", "0/100 values", "red strokes", "blue strokes",
                                  "black strokes on a transparent layer"])
def test_the_mask_rule_takes_what_users_draw(work, capsys, kind):
    write_image(work / "a.png", photo())
    _mask_file(work / "m.png", kind)
    assert run("--image", work / "a.png", "--mask", work / "m.png", "--output", work / "o.png", "--model", "telea") == 0
    out, inside = read_image(work / "o.png").rgb, hole() > 0
    assert (out[inside] != photo()[inside]).any() and (out[~inside] == photo()[~inside]).all()
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("kind, expected", [
    ("faint JPEG", "the mask has only faint marks"),
    ("colour under full transparency", "the mask is fully transparent"),
])
def test_a_mask_with_marks_but_no_hole_is_an_error(work, capsys, kind, expected):
    write_image(work / "a.png", photo())
    mask = work / ("m.jpg" if "JPEG" in kind else "m.png")
    _mask_file(mask, kind)
    assert run("--image", work / "a.png", "--mask", mask, "--output", work / "o.png", "--model", "telea") == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"error: {mask}: {expected}")
    assert not (work / "o.png").exists()


def test_a_full_mask_names_the_mask_and_in_a_folder_the_image(work, capsys):
    write_image(work / "a.png", photo())
    write_mask(work / "all.png", np.full((96, 128), 255, np.uint8))
    assert run("--image", work / "a.png", "--mask", work / "all.png", "--output", work / "o.png") == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {work / 'all.png'}: the mask covers the whole of a.png, so nothing is left to fill it from; "
        "leave part of the image unmasked.")
    _folder(work, ["x.png", "y.png"])
    write_mask(work / "masks" / "y.png", np.full((96, 128), 255, np.uint8))
    assert run("--image", work / "in", "--mask", work / "masks", "--output", work / "out") == 2
    err = capsys.readouterr().err
    assert f"error: {work / 'masks' / 'y.png'}: the mask covers the whole of y.png" in err


def test_leftovers_of_a_killed_run_are_removed_and_a_write_in_progress_is_kept(work, capsys):
    _folder(work, ["a.png"])
    (work / "out").mkdir()
    dead = work / "out" / f".a.png.{2**22 + 4321}-0123abcd.tmp"
    dead.write_bytes(b"x" * 1000)
    live = work / "out" / f".b.png.{os.getpid()}-0123abcd.tmp"
    live.write_bytes(b"x")
    assert run("--image", work / "in", "--mask", work / "masks", "--output", work / "out", "--model", "telea") == 0
    assert not dead.exists() and live.exists()
    assert "note: removed 1 unfinished file left in" in capsys.readouterr().err


@pytest.mark.slow
def test_a_killed_folder_run_leaves_nothing_behind_after_the_next_run(work):
    """kill -9 in the middle of a folder run, then the same command again."""
    import signal
    import time

    (work / "in").mkdir()
    big = np.tile(photo(), (12, 12, 1))                        # 1152 x 1536: writing takes a while
    for i in range(3):
        write_image(work / "in" / f"p{i}.png", big)
    mask = np.zeros(big.shape[:2], np.uint8)
    mask[100:140, 100:160] = 255
    write_mask(work / "m.png", mask)
    argv = [sys.executable, "-m", "inpaint_studio", "inpaint", "--image", str(work / "in"), "--mask",
            str(work / "m.png"), "--output", str(work / "out"), "--model", "telea"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((work / "out").glob(".*.tmp")):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    again = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in (work / "out").iterdir()) == [f"p{i}.png" for i in range(3)]


def test_a_device_that_a_classical_engine_does_not_use_is_named(work, capsys):
    write_image(work / "a.png", photo())
    write_mask(work / "m.png", hole())
    assert run("--image", work / "a.png", "--mask", work / "m.png", "--output", work / "o.png",
               "--model", "ns", "--device", "cuda") == 0
    assert "note: --device cuda is not used: OpenCV Navier-Stokes" in capsys.readouterr().err


def test_help_names_the_way_the_program_was_started():
    from inpaint_studio.cli import SCRIPT, build_parser
    from inpaint_studio.contracts.commands import program_name

    assert program_name(SCRIPT, "inpaint_studio", "/usr/lib/python3/site-packages/inpaint_studio/__main__.py") \
        == "python -m inpaint_studio"
    assert program_name(SCRIPT, "inpaint_studio", "/home/u/.local/bin/inpaint-studio-cli") == "inpaint-studio-cli"
    assert program_name("inpaint-studio-trainer", "trainer", "/x/trainer/__main__.py") == "python -m trainer"
    assert build_parser().prog == "python -m inpaint_studio"            # as pytest starts it


def test_models_list_on_a_fresh_home_names_every_fallback_engine(work, capsys):
    from inpaint_studio.cli import main
    from inpaint_studio.engine import CLASSICAL

    assert main(["models", "list"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"No model installed: Auto, the default engine, fills each region with the best of {', '.join(CLASSICAL)}."
    assert "patchmatch" in CLASSICAL or sys.version_info < (3, 11)   # installed with the app on 3.11+
