"""The restoration analysis without Qt: the spot healing mask (a speck's halo is covered, beyond a
small brush; a large brush heals only the speck), the engine for small holes, the line-structure
measure that picks restore-eval's photos, and the finder on regular structure and at the border."""
from pathlib import Path

import cv2
import numpy as np

from inpaint_studio.restoration import spot_heal as healing
from inpaint_studio.restoration.restore import count_defects, small_hole_engine
from inpaint_studio.restoration.restore_eval import line_structure, load_photos
from inpaint_studio.restoration.scratch_finder import find_defects

PHOTOS = dict(load_photos(Path(__file__).parent / "data" / "photos"))


def speck_on(img, x, y, core=3, halo=6):
    """A white speck with a soft light rim at (x, y): (damaged copy, bool mask of what changed)."""
    weight = np.zeros(img.shape[:2], np.float32)
    cv2.circle(weight, (x, y), halo, 1.0, -1)
    weight = cv2.GaussianBlur(weight, (0, 0), 1.5) * 0.45
    cv2.circle(weight, (x, y), core, 1.0, -1)
    out = (img + weight[..., None] * (250.0 - img)).round().astype(np.uint8)
    return out, np.abs(out.astype(int) - img.astype(int)).max(axis=2) >= 10


def test_healing_mask_covers_the_halo_beyond_a_small_brush():
    clean = np.full((80, 80, 3), 90, np.uint8)
    clean[:] = np.linspace(70, 120, 80, dtype=np.uint8)[None, :, None]    # a smooth gradient
    damaged, truth = speck_on(clean, 40, 40)
    dab = healing.footprint_disk(truth.shape, (40.5, 40.5), 6)           # smaller than the speck
    mask = healing.defect_mask(damaged, dab, 6)
    rim = truth & ~dab
    assert rim.sum() > 100                                                # the rim lies outside the dab
    assert (mask & rim).sum() > 0.8 * rim.sum() and mask[dab].all()       # measured: 120 of 148
    assert mask.sum() < 1.2 * truth.sum()


def test_a_large_brush_heals_the_speck_not_the_brush():
    clean = PHOTOS["rocket"][20:120, 180:280].copy()                      # evening sky
    damaged, truth = speck_on(clean, 50, 50, core=2, halo=4)
    dab = healing.footprint_disk(truth.shape, (51, 49), 30)
    mask = healing.defect_mask(damaged, dab, 30)
    # measured: all 97 speck pixels in a mask of 101 (the dab: 716); over busy fur the mask is
    # most of the dab (spot-heal-bench measures both on held-out photos)
    assert (mask & truth).sum() > 0.9 * truth.sum() and mask.sum() < 0.3 * dab.sum()


def test_a_dab_over_nothing_heals_the_dab():
    flat = np.full((60, 60, 3), 128, np.uint8)
    dab = healing.footprint_disk((60, 60), (30, 30), 10)
    mask = healing.defect_mask(flat, dab, 10)
    assert mask[dab].all() and mask.sum() < dab.sum() + 60
    assert not healing.defect_mask(flat, np.zeros((60, 60), bool)).any()


def test_the_engine_for_small_holes():
    assert small_hole_engine(["pennet-x", "auto", "telea", "ns"]) == "auto"      # Auto chooses per region
    assert small_hole_engine(["pennet-x", "patchmatch", "ns", "telea"]) == "telea"
    assert small_hole_engine(["patchmatch", "ns"]) == "ns"
    mask = np.zeros((20, 20), np.uint8)
    mask[2:4, 2:4] = mask[10:12, 10:18] = 255
    assert count_defects(mask) == 2


def test_line_structure_tells_planks_from_a_cat():
    planks = np.full((300, 400, 3), 150, np.uint8)
    for y in range(10, 300, 14):
        cv2.line(planks, (0, y), (399, y + 20), (60, 40, 30), 2)
    assert line_structure(planks) > 400
    assert line_structure(PHOTOS["chelsea"]) < 200 < line_structure(PHOTOS["astronaut"])


def test_planks_are_ranked_below_a_scratch_across_them():
    """Regular structure: a deck of planks (dark gaps every 14 px, 80 grey levels deep) with one
    bright scratch across it; the gaps are not proposed up to the default sensitivity (main's
    finder proposed all of them), the scratch is. From 0.75 these very dark gaps come back."""
    rng = np.random.default_rng(3)
    deck = (np.full((300, 400), 150.0) + rng.normal(0, 4, (300, 400))).astype(np.float32)
    gaps = np.zeros((300, 400), np.uint8)
    for y in range(10, 300, 14):
        cv2.line(gaps, (0, y), (399, y + 12), 255, 1)
    deck[gaps > 0] = 70
    img = np.repeat(np.clip(deck, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    scratch = np.zeros((300, 400), np.uint8)
    cv2.line(scratch, (60, 20), (330, 280), 255, 2)
    img[scratch > 0] = 235
    for s in (0.25, 0.5):
        found = find_defects(img, s) > 0
        assert (found & (gaps > 0) & ~(cv2.dilate(scratch, np.ones((9, 9), np.uint8)) > 0)).sum() < 0.02 * (gaps > 0).sum()
    assert (find_defects(img, 0.5)[scratch > 0] > 0).mean() > 0.8


def test_a_scratch_running_into_the_border_is_found_to_the_border():
    """Issue 18: no stub at the edge. A scratch leaves the photo through the left border."""
    img = PHOTOS["coffee"].copy()
    line = np.zeros(img.shape[:2], np.uint8)
    cv2.line(line, (-30, 40), (170, 130), 255, 2)
    img[line > 0] = 240
    found = find_defects(img) > 0
    ys, xs = np.nonzero(line)
    edge = xs < 6
    assert edge.sum() > 8 and found[ys[edge], xs[edge]].mean() > 0.9
    assert found[ys, xs].mean() > 0.9
