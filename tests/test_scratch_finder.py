"""Scratch and dust finder: synthetic defects over the real photos in tests/data/photos."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inpaint_studio.engine.base import Cancelled, InpaintError
from inpaint_studio.cli import main
from inpaint_studio.restoration.scratch_finder import KINDS, DefectAnalysis, find_defects, thresholds
from inpaint_studio.restoration.restore_eval import (DUST, HALO, SCRATCH, load_photos, match_counts,
                                                     synthesize_defects)

PHOTOS_DIR = Path(__file__).parent / "data" / "photos"
PHOTOS = load_photos(PHOTOS_DIR)


def damaged(name: str, seed: int, **kw):
    return synthesize_defects(dict(PHOTOS)[name], seed, **kw)


def ratios(counts) -> tuple[float, float]:
    return counts[0] / max(counts[1], 1), counts[2] / max(counts[3], 1)


def test_photos_are_there():
    assert {"astronaut", "camera", "chelsea", "coffee", "coins", "rocket"} <= {n for n, _ in PHOTOS}


def test_finds_synthetic_defects_on_real_photos():
    # Damage with halos and a fold line (what restore-eval draws), pooled over these 18 cases:
    # this finder measures precision 0.76, recall 0.32 at the default sensitivity; main's finder
    # before issue 18 measured 0.65 / 0.21 here. Over random triples of seeds 11-40 the 1st
    # percentiles are 0.65 and 0.21, so the bounds fail the old finder on these seeds, a blank
    # mask (recall 0) and a mask of everything (precision ~0.05).
    total = np.zeros(4)
    for name, img in PHOTOS:
        for seed in (11, 12, 13):
            bad, truth = synthesize_defects(img, seed, n_folds=1, halo=HALO)
            total += match_counts(find_defects(bad), truth)
    precision, recall = ratios(total)
    assert precision >= 0.70 and recall >= 0.27, (precision, recall)


def test_a_clear_scratch_is_found_end_to_end():
    img = dict(PHOTOS)["astronaut"].copy()
    truth = np.zeros(img.shape[:2], np.uint8)
    cv2.line(truth, (40, 30), (120, 330), 255, 2, cv2.LINE_AA)  # over the flag, suit and background
    cv2.line(img, (40, 30), (120, 330), (245, 245, 245), 2, cv2.LINE_AA)
    prop, n_prop, found, n_true = match_counts(find_defects(img), truth > 127)
    assert found / n_true >= 0.8


def test_clean_photos_give_few_false_positives():
    for name, img in PHOTOS:
        area = (find_defects(img) > 0).mean()
        # measured: 0% to 0.4%, rocket 2.1% (lightning rods, a tower's edge), coffee 2.6% (the
        # saucer's and the cup's thin highlights); main's finder before issue 18: 0.2% to 1.0%
        assert area < 0.03, (name, area)


def test_sensitivity_is_monotonic():
    bad, _ = damaged("coffee", 3)
    masks = [find_defects(bad, s) > 0 for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    for lower, higher in zip(masks, masks[1:]):
        assert not (lower & ~higher).any()                  # never loses a pixel
    assert masks[-1].sum() > masks[0].sum()
    assert thresholds(0.0).scratch_z > thresholds(0.5).scratch_z > thresholds(1.0).scratch_z
    assert thresholds(-3) == thresholds(0.0) and thresholds(7) == thresholds(1.0)


def test_analysis_once_then_any_sensitivity():
    bad, _ = damaged("astronaut", 8)
    analysis = DefectAnalysis(bad)
    for s in (0.1, 0.5, 0.9):
        assert np.array_equal(analysis.mask(s), find_defects(bad, s))
    big = cv2.resize(bad, (900, 900), interpolation=cv2.INTER_CUBIC)   # the refined path too
    analysis = DefectAnalysis(big, kinds=("scratches",), max_side=450)
    assert np.array_equal(analysis.mask(0.7), find_defects(big, 0.7, kinds="scratches", max_side=450))
    with pytest.raises(Cancelled):
        analysis.mask(0.5, cancel=lambda: True)
    with pytest.raises(InpaintError):
        analysis.mask(None)


@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 12, 3), (1, 1, 3), (5, 7, 3), (15, 40, 3), (16, 16, 3),
                                   (17, 300, 3), (300, 17)])
def test_tiny_and_empty_images(shape):
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    mask = find_defects(img, 1.0)
    assert mask.shape == shape[:2] and mask.dtype == np.uint8


@pytest.mark.parametrize("value", [0, 255, 128])
def test_flat_images_have_no_defects(value):
    img = np.full((120, 200, 3), value, np.uint8)
    assert not find_defects(img, 1.0).any()


def test_grey_input_matches_rgb():
    photo = dict(PHOTOS)["camera"]                          # a grey photo, decoded as RGB
    assert (photo[..., 0] == photo[..., 1]).all() and (photo[..., 1] == photo[..., 2]).all()
    grey, truth = synthesize_defects(photo[..., 0], 4)
    mask = find_defects(grey)
    assert np.array_equal(mask, find_defects(np.dstack([grey] * 3)))
    assert np.array_equal(find_defects(grey[..., None]), mask)
    assert ratios(match_counts(mask, truth))[1] > 0.5


def test_alpha_is_ignored():
    bad, _ = damaged("rocket", 5)
    rgba = np.dstack([bad, np.zeros(bad.shape[:2], np.uint8)])
    assert np.array_equal(find_defects(rgba), find_defects(bad))


def test_kinds_separate_lines_from_specks():
    img = np.full((200, 300, 3), 120, np.uint8)
    img[:] = np.linspace(90, 150, 300, dtype=np.uint8)[None, :, None]   # smooth gradient
    cv2.line(img, (20, 180), (280, 40), (230, 230, 230), 1, cv2.LINE_AA)
    for x, y in ((40, 40), (150, 170), (250, 150)):
        cv2.circle(img, (x, y), 2, (20, 20, 20), -1)
    line = np.zeros(img.shape[:2], np.uint8)
    cv2.line(line, (20, 180), (280, 40), 255, 1)
    specks = np.zeros(img.shape[:2], np.uint8)
    for x, y in ((40, 40), (150, 170), (250, 150)):
        cv2.circle(specks, (x, y), 2, 255, -1)
    only_scratches = find_defects(img, kinds=("scratches",))
    only_dust = find_defects(img, kinds="dust")
    assert ratios(match_counts(only_scratches, line))[1] > 0.9
    assert not (only_scratches & specks).any()
    assert ratios(match_counts(only_dust, specks))[1] > 0.9
    assert (only_dust & cv2.dilate(line, np.ones((5, 5), np.uint8))).sum() == 0
    assert np.array_equal(find_defects(img, kinds=KINDS), only_scratches | only_dust)
    assert not find_defects(img, kinds=()).any()


def test_large_image_is_analysed_small_and_refined_at_full_size():
    # A smooth 900x600 image with a 1-px scratch, analysed on a 300 px working copy.
    yy, xx = np.mgrid[0:600, 0:900]
    img = np.repeat((100 + 40 * np.sin(xx / 150.0) + yy / 20).astype(np.uint8)[..., None], 3, axis=2)
    truth = np.zeros((600, 900), np.uint8)
    cv2.line(truth, (50, 550), (850, 80), 255, 1)
    img[truth > 0] = 20
    mask = find_defects(img, max_side=300)
    assert mask.shape == (600, 900)
    precision, recall = ratios(match_counts(mask, truth))
    assert recall > 0.9 and precision > 0.9
    assert (mask > 0).sum() < 6 * (truth > 0).sum()        # thin at full size, not blocky


def test_progress_and_cancel():
    bad, _ = damaged("chelsea", 6)
    seen = []
    find_defects(bad, progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert all(isinstance(m, str) and m for _, m in seen)

    calls = []

    def cancel_later():
        calls.append(1)
        return len(calls) > 3                               # cancel part-way through

    with pytest.raises(Cancelled):
        find_defects(bad, cancel=cancel_later)

    def raising():
        raise Cancelled()

    with pytest.raises(Cancelled):
        find_defects(bad, cancel=raising)


def test_bad_arguments():
    img = np.zeros((50, 50, 3), np.uint8)
    with pytest.raises(InpaintError):
        find_defects(img, kinds=("cracks-and-everything",))
    with pytest.raises(InpaintError):
        find_defects(img.astype(np.float32))
    with pytest.raises(InpaintError):
        find_defects(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InpaintError):
        find_defects(img, sensitivity=float("nan"))
    with pytest.raises(InpaintError):
        find_defects(img, max_side=10)
    with pytest.raises(InpaintError):
        find_defects([[1, 2], [3, 4]])


def test_synthesizer_is_deterministic_and_truthful():
    img = dict(PHOTOS)["coins"]
    a, ta = synthesize_defects(img, 7)
    b, tb = synthesize_defects(img, 7)
    assert np.array_equal(a, b) and np.array_equal(ta, tb)
    assert not np.array_equal(a, synthesize_defects(img, 8)[0])
    assert ta.dtype == np.uint8 and set(np.unique(ta)) <= {0, 255} and 0.002 < (ta > 0).mean() < 0.1
    change = np.abs(a.astype(int) - img.astype(int)).max(axis=2)
    near = cv2.dilate(ta, np.ones((5, 5), np.uint8)) > 0
    assert not ((change >= 10) & ~near).any()             # every visible change is in (or at) the truth
    clean, truth = synthesize_defects(img, 1, n_scratches=0, n_dust=0)
    assert np.array_equal(clean, img) and not truth.any()
    grey, gtruth = synthesize_defects(img[..., 0], 7)
    assert grey.ndim == 2 and gtruth.shape == grey.shape
    _, truth, kinds = synthesize_defects(img, 7, return_kinds=True)
    assert np.array_equal(truth, ta) and set(np.unique(kinds)) == {0, SCRATCH, DUST}
    assert np.array_equal(kinds > 0, truth > 0)


def test_evaluate_prints_a_table(capsys):
    assert main(["restore-eval", "--photos", str(PHOTOS_DIR), "--seeds", "1", "--sensitivity", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "within 2 px" in out and "precision" in out and "\n       0.50 " in out
    with pytest.raises(SystemExit):
        main(["restore-eval"])                  # --photos is required: nothing is read by default


def test_evaluate_reports_a_missing_folder(tmp_path, capsys):
    assert main(["restore-eval", "--photos", str(tmp_path)]) == 2
    assert "No photos" in capsys.readouterr().err
