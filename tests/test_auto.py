"""Auto: each hole region is described by measured features and filled by the one engine the
measured rule names for it; without a PEN-Net model it falls back to the best classical engine
per region; guided fill and attention sources make the model fill every region."""
from pathlib import Path

import numpy as np
import pytest

from inpaint_studio.engine import (AUTO_ID, CLASSICAL, InpaintOptions, PENNetEngine, available_engines,
                                   clear_engine_cache, create_engine)
from inpaint_studio.engine import registry as registry_module
from inpaint_studio.engine.auto import (LABEL_CLASSICAL, MODEL, NOTE_ALL_MODEL_FLOW, NOTE_ALL_MODEL_SOURCE, RULE,
                                        AutoEngine, choose, grey, leaf, region_features, rule_engines, with_derived)
from inpaint_studio.engine.regions import hole_groups
from inpaint_studio.engine.registry import ModelRegistry, save_generator
from inpaint_studio.imaging import read_image
from inpaint_studio.network import PENNetGenerator

PHOTOS = Path(__file__).parent / "data" / "photos"


def features(image, hole):
    labels, boxes = hole_groups(hole)
    return [region_features(grey(image), hole, labels, k, b) for k, b in enumerate(boxes, start=1)]


def stroke(shape, width, y=None):
    hole = np.zeros(shape, bool)
    y = shape[0] // 2 if y is None else y
    hole[y - width // 2:y - width // 2 + width, 20:shape[1] - 20] = True
    return hole


def square(shape, side):
    hole = np.zeros(shape, bool)
    y, x = (shape[0] - side) // 2, (shape[1] - side) // 2
    hole[y:y + side, x:x + side] = True
    return hole


@pytest.fixture
def no_models(tmp_path, monkeypatch):
    """The registry with the bundled model hidden (and no user models)."""
    monkeypatch.setattr(registry_module, "BUNDLED_MODELS_DIR", tmp_path / "no-bundled-models")
    clear_engine_cache()
    yield ModelRegistry()
    clear_engine_cache()


def test_features_measure_width_texture_and_never_the_hole():
    flat = np.full((120, 160, 3), 128, np.uint8)
    (thin,) = features(flat, stroke(flat.shape[:2], 9))
    (wide,) = features(flat, square(flat.shape[:2], 80))
    assert 4 <= thin["radius"] <= 5.5 and 39 <= wide["radius"] <= 41     # half the width
    assert wide["area"] == 80 * 80 and thin["texture"] == 0 == thin["contrast"]
    checker = ((np.indices((120, 160)).sum(0) // 4) % 2 * 200 + 20).astype(np.uint8)
    textured = np.repeat(checker[..., None], 3, axis=2)
    hole = square(flat.shape[:2], 40)
    (busy,) = features(textured, hole)
    assert busy["texture"] > 10 and busy["contrast"] > 50
    scribbled = textured.copy()
    scribbled[hole] = 255 - scribbled[hole]                                    # what is under the hole
    assert features(scribbled, hole) == [busy]


def test_the_rule_is_a_small_tree_over_the_engines():
    assert rule_engines(RULE) == {MODEL, "patchmatch", "telea", "ns"}
    engines, path = leaf(with_derived({"radius": 3.0, "area": 100, "texture": 1.0, "contrast": 5.0}))
    assert sorted(engines) == sorted(rule_engines(RULE)) and len(path) <= 3


def test_the_shipped_rule_on_synthetic_thin_and_wide_holes():
    """What the measurement behind RULE says, on holes whose width and surroundings are known:
    strokes 3-40 px wide across the cat's fur go to Navier-Stokes, the same strokes across a
    smooth gradient to PatchMatch (it copies such surroundings exactly) and an 80 px one there to
    Navier-Stokes; a square of 40 px to PatchMatch, one of 100 px to Telea, a disc as wide to
    Navier-Stokes."""
    image = read_image(PHOTOS / "chelsea.jpg").rgb[:300, :400].copy()
    smooth = np.full_like(image, 120)
    smooth[..., 0] = np.linspace(60, 200, image.shape[1])[None, :].astype(np.uint8)
    yy, xx = np.mgrid[:300, :400]
    disc = (yy - 150) ** 2 + (xx - 200) ** 2 < 50 ** 2
    shape = image.shape[:2]
    cases = [(image, stroke(shape, 3), "ns", 1.5), (image, stroke(shape, 20), "ns", 10),
             (image, stroke(shape, 40), "ns", 20), (smooth, stroke(shape, 3), "patchmatch", 1.5),
             (smooth, stroke(shape, 20), "patchmatch", 10), (smooth, stroke(shape, 80), "ns", 40),
             (image, square(shape, 40), "patchmatch", 20), (image, square(shape, 100), "telea", 50),
             (image, disc, "ns", 50)]
    for photo, hole, engine, radius in cases:
        (f,) = features(photo, hole)
        assert abs(f["radius"] - radius) <= 1.5, f                 # half the width, from the distance transform
        assert choose(f, {MODEL, "patchmatch", "telea", "ns"})[0] == engine, (f, engine)


def test_one_engine_per_region_as_that_engine_alone_fills_it():
    image = read_image(PHOTOS / "chelsea.jpg").rgb[:200, :300].copy()
    hole = stroke(image.shape[:2], 5, y=12) | square(image.shape[:2], 60)
    rule = {"feature": "radius", "threshold": 10.0, "below": {"engines": ["telea"]},
            "at_or_above": {"engines": ["ns"]}}
    auto = AutoEngine(None, {k: CLASSICAL[k]() for k in ("telea", "ns")}, rule=rule)
    result = auto.inpaint(image, hole)
    assert [(f.engine, f.label) for f in result.fills] == [("telea", "Telea"), ("ns", "Navier-Stokes")]
    assert result.fills[0].reason.startswith("radius ") and " < 10" in result.fills[0].reason
    assert "2 regions: 1 with Telea, 1 with Navier-Stokes" in result.message
    labels, _ = hole_groups(hole)
    telea = create_engine("telea").inpaint(image, hole).image
    ns = create_engine("ns").inpaint(image, hole).image
    np.testing.assert_array_equal(result.image[labels == 1], telea[labels == 1])   # no blending:
    np.testing.assert_array_equal(result.image[labels == 2], ns[labels == 2])      # one engine each
    np.testing.assert_array_equal(result.image[~hole], image[~hole])


def test_without_a_model_auto_falls_back_to_the_best_classical_engine_per_region(no_models):
    assert available_engines(no_models)[0] == (AUTO_ID, LABEL_CLASSICAL, "classical")
    auto = create_engine(AUTO_ID, registry=no_models)
    assert auto.model is None and auto.label == LABEL_CLASSICAL and MODEL not in auto.available
    image = read_image(PHOTOS / "chelsea.jpg").rgb[:200, :300].copy()
    hole = stroke(image.shape[:2], 5, y=12) | square(image.shape[:2], 70)
    result = auto.inpaint(image, hole)
    for fill, f in zip(result.fills, features(image, hole)):
        ranked = [e for e in leaf(f)[0] if e != MODEL]
        assert fill.engine == ranked[0] == choose(f, set(CLASSICAL))[0]   # the leaf's best classical one
    assert result.changed and result.device == "cpu"


def test_fallback_order_follows_the_measurement_when_patchmatch_is_missing():
    f = with_derived({"radius": 40.0, "area": 6400, "texture": 20.0, "contrast": 60.0})
    ranked = leaf(f)[0]
    without = [e for e in ranked if e not in (MODEL, "patchmatch")]
    assert choose(f, {"telea", "ns"})[0] == without[0]
    assert choose(f, {MODEL, "telea", "ns", "patchmatch"})[0] == ranked[0]


@pytest.fixture
def tiny_model(tmp_path):
    info = save_generator(PENNetGenerator(), "Tiny auto model", {}, directory=tmp_path / "models")
    return PENNetEngine(info, device="cpu", warm_up=False)


def test_guided_fill_and_attention_sources_make_the_model_fill_every_region(tiny_model):
    image = read_image(PHOTOS / "coffee.jpg").rgb[:128, :192].copy()
    hole = stroke(image.shape[:2], 3, y=20) | square(image.shape[:2], 40)
    auto = AutoEngine(tiny_model, {k: CLASSICAL[k]() for k in ("telea", "ns")},
                      rule={"engines": ["telea", MODEL, "ns"]})
    assert {f.engine for f in auto.inpaint(image, hole).fills} == {"telea"}
    source = np.zeros(hole.shape, bool)
    source[:, 150:] = True
    guided = auto.inpaint(image, hole, InpaintOptions(source=source))
    assert {f.engine for f in guided.fills} == {MODEL} and NOTE_ALL_MODEL_SOURCE in guided.notes
    shown = auto.inpaint(image, hole, InpaintOptions(return_flow=True))
    assert {f.engine for f in shown.fills} == {MODEL} and NOTE_ALL_MODEL_FLOW in shown.notes
    assert np.isfinite(shown.flow[hole][:, 0]).any() and np.isnan(shown.flow[~hole][:, 0]).all()
