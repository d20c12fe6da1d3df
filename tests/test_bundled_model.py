"""The bundled model as shipped in models/: the default, its generator and discriminator load
strictly, its card states how it was trained, Auto's rule and where the model is behind, and the
card's per-image figures are what `trainer evaluate` measures again on the held-out photos that
are committed with the tests (tests/data/corpus-val)."""
import json
from pathlib import Path

import pytest
from safetensors import safe_open

from inpaint_studio.engine.auto import RULE, describe_rule
from inpaint_studio.engine.registry import (ModelRegistry, discriminator_path, load_discriminator,
                                            load_generator)
from trainer.release.bundle import behind, held_out
from trainer.evaluate import evaluate

REPO = Path(__file__).resolve().parents[1]
MODEL_ID = "pennet-open-photos"
CARD = json.loads((REPO / "models" / f"{MODEL_ID}.json").read_text())
SAMPLES = Path(__file__).parent / "data" / "corpus-val"
pytestmark = pytest.mark.bundled_model


def dtypes(path):
    with safe_open(str(path), framework="pt") as f:
        return {f.get_slice(k).get_dtype() for k in f.keys()}


def test_the_bundled_model_is_the_default_and_both_networks_load_strictly():
    registry = ModelRegistry()
    info = registry.get(MODEL_ID)
    assert info.bundled and registry.default_id() == MODEL_ID
    load_generator(info)                                   # strict: every name and shape
    assert dtypes(info.weights_path) == {"F16"}
    path = discriminator_path(info)
    assert path is not None and path.name == CARD["discriminator"]["file"]
    discriminator = load_discriminator(path)               # strict as well
    assert dtypes(path) == {"F16"} and discriminator.training
    assert sum(p.numel() for p in discriminator.parameters()) == CARD["discriminator"]["parameters"]


def test_the_card_states_the_run_the_comparison_and_auto():
    run = CARD["training"]["run"]
    assert (run["iterations"], run["samples"], run["batch_size"]) == (2883, 92256, 32)
    assert "H200" in run["hardware"] and run["precision"] == "bf16" and 6 * 60 < run["seconds"] < 8 * 60
    sources = CARD["training"]["data"]["sources"]
    assert sum(s["train"] for s in sources.values()) == 319 and sum(s["val"] for s in sources.values()) == 44
    held = CARD["metrics"]["held_out"]
    assert set(held) == {"center", "free"}
    for entry in held.values():
        methods = [r["method"] for r in entry["rows"]]
        assert methods[0] == "this model" and "auto" in methods and "patchmatch" in methods
        # the corpus's later builds keep these 44 photos held out and add more (none it learnt from)
        assert entry["images"] >= 44 and entry["report_half"]["images"] < entry["images"]
    assert CARD["behind"] == behind(held)                  # written from the figures, not by hand
    assert CARD["auto"]["rule"] == RULE and CARD["auto"]["rule_text"] == describe_rule(RULE)
    assert CARD["auto"]["half"] == "tune" and CARD["auto"]["regions"] > 100


@pytest.mark.slow
@pytest.mark.parametrize("masks", ["center", "free"])
def test_the_cards_per_image_figures_are_measured_again(masks):
    entry = CARD["metrics"]["held_out"][masks]
    names = sorted(p.name for p in SAMPLES.glob("*.jpg"))
    assert names == sorted(entry["per_image"]) == CARD["metrics"]["samples"]["photos"]
    report = evaluate(MODEL_ID, SAMPLES, masks=masks, size=entry["size"], device="cpu", seed=entry["seed"])
    again = held_out([report], names)[masks]["per_image"]
    for name in names:
        assert set(again[name]) == set(entry["per_image"][name])
        for method, figures in entry["per_image"][name].items():
            measured = again[name][method]
            assert measured["psnr"] == pytest.approx(figures["psnr"], abs=0.02), (name, method)
            assert measured["l1"] == pytest.approx(figures["l1"], abs=2e-4), (name, method)
            assert measured["ssim"] == pytest.approx(figures["ssim"], abs=1e-3), (name, method)
