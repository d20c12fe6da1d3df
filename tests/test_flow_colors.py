"""Colour coding of attention flow (app/flow_colors.py, numpy only)."""
import colorsys

import numpy as np

from inpaint_studio.app.guidance.flow_colors import colour_wheel, flow_to_rgba, source_box


def hue_of(rgba):
    r, g, b = (rgba[:3] / 255.0).tolist()
    return colorsys.rgb_to_hsv(r, g, b)


def test_hue_is_direction_and_saturation_is_distance():
    flow = np.array([[[10, 0], [0, 10], [-10, 0], [0, -10]],
                     [[5, 0], [0, 0], [np.nan, np.nan], [20, 0]]], np.float32)
    rgba = flow_to_rgba(flow, max_distance=10)
    hues = [hue_of(rgba[0, i])[0] * 360 for i in range(4)]
    np.testing.assert_allclose(hues, [0, 90, 180, 270], atol=2)    # right, down, left, up
    assert tuple(rgba[0, 0, :3]) == (255, 0, 0)                      # full distance: pure colour
    assert abs(hue_of(rgba[1, 0])[1] - 0.5) < 0.02                   # half the distance: half saturated
    assert tuple(rgba[1, 1]) == (255, 255, 255, 255)                 # copied from right here: white
    assert rgba[1, 2, 3] == 0 and rgba[0, 0, 3] == 255               # no flow: transparent
    assert tuple(rgba[1, 3, :3]) == (255, 0, 0)                      # beyond the maximum: clipped


def test_default_scale_is_the_largest_distance_and_empty_flow_is_transparent():
    flow = np.array([[[3, 4], [6, 8]]], np.float32)
    rgba = flow_to_rgba(flow)
    assert hue_of(rgba[0, 1])[1] > 0.99 and abs(hue_of(rgba[0, 0])[1] - 0.5) < 0.02
    empty = flow_to_rgba(np.full((4, 5, 2), np.nan, np.float32))
    assert empty.shape == (4, 5, 4) and not empty[..., 3].any()


def test_colour_wheel_legend():
    wheel = colour_wheel(33)
    assert tuple(wheel[16, 16, :3]) == (255, 255, 255) and wheel[0, 0, 3] == 0
    assert tuple(wheel[16, 32, :3]) == (255, 0, 0)                   # rightmost: red


def test_source_box_centres_the_patch_on_the_counterpart():
    flow = np.full((20, 30, 2), np.nan, np.float32)
    flow[5, 10] = (-8, 4)
    patch = np.full((20, 30), np.nan, np.float32)
    patch[5, 10] = 16
    assert source_box(flow, patch, 10, 5) == (10.5 - 8 - 8, 5.5 + 4 - 8, 16.0)
    assert source_box(flow, None, 10, 5) == (10.5 - 8 - 4, 5.5 + 4 - 4, 8.0)
    assert source_box(flow, patch, 11, 5) is None and source_box(flow, patch, 99, 5) is None
