"""Source region and attention flow, end to end through the engine and the CLI.

The two-colour tests use a hand-built "colour copy" generator: every weight is zero except
centre taps that carry the RGB colour from the input through the first encoder level, the finest
ATN's first refinement group and the decoder. Its deeper maps are zero, so every attention score
is equal and the finest ATN fills the hole with the plain mean of the patches it may copy from.
Known pixels reach hole pixels through nothing but that attention (1x1 paths elsewhere), so the
hole's colour *is* what attention copied: with the source restricted to the red half it must turn
red, to the blue half blue, and with no source the mix. A random-weight model would map copied
features to arbitrary colours and show nothing either way.
"""
import numpy as np
import pytest
import torch

from inpaint_studio import cli_inpaint
from inpaint_studio.engine import InpaintOptions, PENNetEngine, clear_engine_cache
from inpaint_studio.engine.registry import save_generator
from inpaint_studio.imaging import read_image, write_image, write_mask
from inpaint_studio.network import AttentionTransfer, PENNetGenerator

RED, BLUE = np.array([230, 20, 20]), np.array([20, 20, 230])


def colour_copy_generator() -> PENNetGenerator:
    g = PENNetGenerator(attention="holes", affinity="paper")
    with torch.no_grad():
        for p in g.parameters():
            p.zero_()
        for c in range(3):
            g.dw_conv01[0].weight[c, c, 1, 1] = 1.0     # feature c = colour c + 1 (>= 0: LeakyReLU passes it)
            g.dw_conv01[0].bias[c] = 1.0
            g.at_conv01.conv00[0].weight[c, c, 1, 1] = 1.0  # the ATN's first group keeps it
            g.decoder[0].weight[c, 32 + c, 1, 1] = 1.0    # the decoder reads the ATN half of cat(up, atn)
            g.decoder[2].weight[c, c, 1, 1] = 1.0
            g.decoder[2].bias[c] = -1.0                  # back to colour; tanh keeps the order
    return g


@pytest.fixture(scope="module")
def copy_model(tmp_path_factory):
    card = {"licence": "test", "architecture": {"affinity": "paper"}}  # the card decides the affinity
    return save_generator(colour_copy_generator(), "Colour copy", card,
                          directory=tmp_path_factory.mktemp("copy-model"), dtype=torch.float32)


def two_colours(h=192, w=256):
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = RED
    img[:, w // 2:] = BLUE
    hole = np.zeros((h, w), np.uint8)
    hole[64:128, 96:160] = 255        # straddles the colour edge at x = 128
    left = np.zeros((h, w), np.uint8)
    left[:, : w // 2] = 255
    return img, hole, left, 255 - left


def hole_mean(image, hole):
    return image[hole > 0].astype(np.float64).mean(0)


def nearer(colour, target, other):
    return np.linalg.norm(colour - target) < np.linalg.norm(colour - other)


def test_restricting_the_source_moves_the_hole_colour_to_it(copy_model):
    engine = PENNetEngine(copy_model, device="cpu")
    img, hole, left, right = two_colours()
    free = hole_mean(engine.inpaint(img, hole).image, hole)
    from_left = hole_mean(engine.inpaint(img, hole, InpaintOptions(source=left)).image, hole)
    from_right = hole_mean(engine.inpaint(img, hole, InpaintOptions(source=right)).image, hole)
    # unrestricted, attention averages both halves: neither colour wins clearly
    assert abs(free[0] - free[2]) < 40
    # restricted, the hole takes the colour of the chosen half (red: R >> B, blue: B >> R)
    assert from_left[0] - from_left[2] > 120 and nearer(from_left, RED, BLUE)
    assert from_right[2] - from_right[0] > 120 and nearer(from_right, BLUE, RED)
    assert np.linalg.norm(from_left - RED) < np.linalg.norm(free - RED)
    assert np.linalg.norm(from_right - BLUE) < np.linalg.norm(free - BLUE)


def test_cli_source_flag_reaches_the_engine(copy_model, tmp_path, monkeypatch):
    from inpaint_studio.engine import registry as registry_module

    monkeypatch.setattr(registry_module, "user_models_dir", lambda: copy_model.card_path.parent)
    clear_engine_cache()
    img, hole, left, _ = two_colours()
    write_image(tmp_path / "img.png", img)
    write_mask(tmp_path / "hole.png", hole)
    write_mask(tmp_path / "left.png", left)
    out = {}
    for name, extra in (("free", []), ("left", ["--source", str(tmp_path / "left.png")])):
        code = cli_inpaint.main(["inpaint", "--image", str(tmp_path / "img.png"), "--mask", str(tmp_path / "hole.png"),
                                 "--output", str(tmp_path / f"out-{name}.png"), "--model", copy_model.id,
                                 "--device", "cpu", *extra])
        assert code == 0
        out[name] = hole_mean(read_image(tmp_path / f"out-{name}.png").rgb, hole)
    assert out["left"][0] - out["left"][2] > 120
    assert abs(out["free"][0] - out["free"][2]) < 40


def test_flow_points_into_the_source_and_patch_size_follows_the_crop_scale(copy_model):
    engine = PENNetEngine(copy_model, device="cpu")
    img, hole, left, _ = two_colours()
    result = engine.inpaint(img, hole, InpaintOptions(source=left, return_flow=True))
    inside = hole > 0
    assert np.isfinite(result.flow[inside]).all() and np.isnan(result.flow[~inside]).all()
    ys, xs = np.nonzero(inside)
    assert (xs + result.flow[inside][:, 0] < 128 + 4).all()        # every source lies in the red half
    np.testing.assert_array_equal(result.flow_patch[inside], 8.0)  # crop at full scale: 8 px patches
    assert np.isnan(result.flow_patch[~inside]).all()
    scaled = engine.inpaint(img, hole, InpaintOptions(strategy="resize", resize_limit=128, return_flow=True))
    np.testing.assert_allclose(scaled.flow_patch[inside], 8.0 / (128 / 256))


def test_flow_costs_nothing_unless_requested(copy_model, monkeypatch):
    """Off: no argmax at any ATN level, no flow arrays, and the same fill as with it on."""
    engine = PENNetEngine(copy_model, device="cpu")
    img, hole, left, _ = two_colours()
    seen = []
    real = AttentionTransfer.transfer  # every kernel's entry

    def spy(self, low, high, mask, source=None, return_flow=False):
        seen.append(return_flow)
        return real(self, low, high, mask, source, return_flow)

    monkeypatch.setattr(AttentionTransfer, "transfer", spy)
    off = engine.inpaint(img, hole, InpaintOptions(source=left))
    assert seen and not any(seen)
    assert off.flow is None and off.flow_patch is None
    seen.clear()
    on = engine.inpaint(img, hole, InpaintOptions(source=left, return_flow=True))
    assert seen.count(True) == 1  # the finest level only
    # the flow's argmax runs the finest level on the direct kernel, the fill without it on the
    # device's fused kernel (matmul): the same algebra, rounded differently
    diff = np.abs(on.image.astype(int) - off.image.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
