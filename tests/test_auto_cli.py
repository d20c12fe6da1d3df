"""The command line with Auto: without --model it uses Auto and the bundled model and says so,
names the model and its file, and reports which engine filled each region; a chosen engine is
named too."""
import re
from pathlib import Path

import numpy as np
import pytest

from inpaint_studio import cli_inpaint
from inpaint_studio.engine import clear_engine_cache
from inpaint_studio.imaging import read_image, write_image, write_mask

PHOTOS = Path(__file__).parent / "data" / "photos"
REGION = re.compile(r"^in\.png: region (\d+),(\d+)-(\d+),(\d+) \(radius (\d+) px, texture ([\d.]+)\): (.+) \((.+)\)$")


@pytest.fixture
def inputs(tmp_path):
    clear_engine_cache()
    image = read_image(PHOTOS / "astronaut.jpg").rgb[:192, :256].copy()
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[10:13, 20:236] = 255            # a thin scratch ...
    mask[90:170, 90:170] = 255           # ... and a wide hole, far apart: two regions
    write_image(tmp_path / "in.png", image)
    write_mask(tmp_path / "mask.png", mask)
    yield tmp_path, image, mask > 0
    clear_engine_cache()


@pytest.mark.bundled_model
def test_default_is_auto_with_the_bundled_model_and_a_line_per_region(inputs, capsys):
    folder, image, hole = inputs
    assert cli_inpaint.main(["inpaint", "--image", str(folder / "in.png"), "--mask", str(folder / "mask.png"),
                             "--output", str(folder / "out.png"), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    engine_line = next(line for line in err.splitlines() if line.startswith("engine: "))
    assert "Auto (best per region)" in engine_line
    assert "PEN-Net model 'Open photos" in engine_line and "id pennet-open-photos, bundled" in engine_line
    assert "pennet-open-photos.safetensors" in engine_line
    regions = [m.groups() for m in map(REGION.match, err.splitlines()) if m]
    assert [tuple(map(int, r[:4])) for r in regions] == [(20, 10, 236, 13), (90, 90, 170, 170)]
    for r in regions:
        assert r[6].split(" (")[0] in ("PEN-Net", "PatchMatch", "Telea", "Navier-Stokes")
    out = read_image(folder / "out.png").rgb
    np.testing.assert_array_equal(out[~hole], image[~hole])
    assert (out[hole] != image[hole]).any()


def test_a_chosen_engine_is_named_too(inputs, capsys):
    folder, _, _ = inputs
    assert cli_inpaint.main(["inpaint", "--image", str(folder / "in.png"), "--mask", str(folder / "mask.png"),
                             "--output", str(folder / "out.png"), "--model", "telea"]) == 0
    assert "engine: OpenCV Telea" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.bundled_model
def test_guided_fill_with_auto_lets_the_model_fill_every_region(inputs, capsys):
    folder, image, hole = inputs
    source = np.zeros(hole.shape, np.uint8)
    source[:, 180:] = 255
    write_mask(folder / "source.png", source)
    assert cli_inpaint.main(["inpaint", "--image", str(folder / "in.png"), "--mask", str(folder / "mask.png"),
                             "--source", str(folder / "source.png"), "--output", str(folder / "out.png"),
                             "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    regions = [m.groups() for m in map(REGION.match, err.splitlines()) if m]
    assert len(regions) == 2 and all(r[6] == "PEN-Net (Open photos v1)" for r in regions)
    assert "note: in.png: A source region is set: PEN-Net filled every region" in err
