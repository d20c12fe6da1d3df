"""`trainer auto-rule`: the fitting finds the split the measurements support and no more, and a
small real measurement records features and per-engine errors for every region."""
import json

import numpy as np
import pytest

from inpaint_studio.engine.auto import MODEL, choose, describe_rule
from inpaint_studio.engine.registry import save_generator
from inpaint_studio.network import PENNetGenerator
from trainer.release.auto_rule import fit, format_tables, run, summarise
from trainer.cli import main as trainer_main

ENGINES = [MODEL, "patchmatch", "telea"]


def records(n=200, seed=0, gap=3.0):
    """Regions where PatchMatch wins on smooth surroundings (texture < 5) and the model elsewhere;
    Telea is never best. Radius is noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        f = {"radius": float(rng.uniform(1, 60)), "area": int(rng.integers(10, 5000)),
             "texture": float(rng.uniform(0, 10)), "contrast": float(rng.uniform(0, 50))}
        smooth = f["texture"] < 5
        psnr = {MODEL: 25 + (0 if smooth else gap), "patchmatch": 25 + (gap if smooth else 0), "telea": 24.0}
        psnr = {e: v + float(rng.normal(0, 0.3)) for e, v in psnr.items()}
        out.append({"photo": "p", "size": 64, "family": "square", "features": f,
                    "errors": {e: {"psnr": v, "l1": 1 / v, "ssim": v / 40} for e, v in psnr.items()}})
    return out


def test_the_fit_finds_the_supported_split_and_ranks_the_leaves():
    rule = fit(records(), ENGINES)
    assert rule["feature"] == "texture" and 4.5 <= rule["threshold"] <= 5.5
    assert rule["below"]["engines"][0] == "patchmatch" and rule["at_or_above"]["engines"][0] == MODEL
    assert rule["below"]["engines"][-1] == "telea"
    assert choose({"radius": 3, "area": 9, "texture": 1.0, "contrast": 0}, {"telea", MODEL}, rule)[0] == MODEL
    summary = summarise(records(), rule, ENGINES)
    assert summary["all"]["rule"]["psnr"] > max(summary["all"][e]["psnr"] for e in ENGINES)
    t = f"{rule['threshold']:.3g}"
    assert set(summary["leaves"]) == {f"texture < {t}", f"texture >= {t}"}


def test_a_gain_counts_where_another_kind_of_hole_stays_behind():
    """Squares trade PSNR (the model) against SSIM (PatchMatch), so no rule equals the best single
    engine on both there; blobs split cleanly by texture. The split for the blobs is still made:
    every shortfall counts, not only the largest, which no rule can lift."""
    rng = np.random.default_rng(1)
    out = []
    for i in range(300):
        blob = i >= 100
        f = {"radius": float(rng.uniform(1, 60)), "texture": float(rng.uniform(0, 10)),
             "contrast": float(rng.uniform(0, 50)),
             "area": int(rng.integers(10, 4000)) if blob else int(rng.integers(5000, 6000))}
        if blob:
            smooth = f["texture"] < 5
            psnr = {MODEL: 25.0 + (0 if smooth else 3), "patchmatch": 25.0 + (3 if smooth else 0), "telea": 24.0}
            ssim = {e: v / 40 for e, v in psnr.items()}
        else:
            psnr, ssim = {MODEL: 25.0, "patchmatch": 24.0, "telea": 23.0}, {MODEL: 0.80, "patchmatch": 0.85, "telea": 0.7}
        out.append({"photo": "p", "size": 64, "family": "blob" if blob else "square", "features": f,
                    "errors": {e: {"psnr": psnr[e], "l1": 1 / psnr[e], "ssim": ssim[e]} for e in ENGINES}})
    rule = fit(out, ENGINES)
    every = {MODEL, "patchmatch", "telea"}
    assert choose({"radius": 9, "area": 900, "texture": 2.0, "contrast": 9, "elongation": 2}, every, rule)[0] == "patchmatch"
    assert choose({"radius": 9, "area": 900, "texture": 8.0, "contrast": 9, "elongation": 2}, every, rule)[0] == MODEL


def test_no_split_without_a_measured_gain():
    rule = fit(records(gap=0.0), ENGINES)
    assert "engines" in rule and describe_rule(rule).startswith("-> ")


@pytest.mark.slow
def test_a_small_real_measurement(tmp_path, capsys):
    from test_trainer_support import make_folder

    info = save_generator(PENNetGenerator(), "Tiny", {})
    photos = make_folder(tmp_path / "photos", images=1, corrupt=False)
    result = run(info.id, str(photos), None, (64,), 0, "cpu", None, records_out=str(tmp_path / "records.json"),
                 min_leaf=2, say=lambda _: None)
    saved = json.loads((tmp_path / "records.json").read_text())["records"]
    assert result["regions"] == len(saved) >= 8 and result["photos"] == 1
    assert set(saved[0]["errors"]) == {MODEL, "patchmatch", "telea", "ns"}
    assert set(saved[0]["features"]) == {"radius", "area", "elongation", "texture", "contrast"}
    assert "the rule picks:" in format_tables(result)
    assert trainer_main(["auto-rule", "--model", info.id, "--data", str(photos), "--from-records",
                         str(tmp_path / "records.json"), "--min-leaf", "2", "--json", str(tmp_path / "rule.json")]) == 0
    assert json.loads((tmp_path / "rule.json").read_text())["rule"] == result["rule"]
    assert "RULE = " in capsys.readouterr().out


def test_region_ssim_agrees_with_the_metric():
    import torch

    from trainer.release.auto_rule import _ssim_map
    from trainer.fit.metrics import ssim_map

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    result = np.clip(truth.astype(int) + rng.integers(-30, 30, truth.shape), 0, 255).astype(np.uint8)
    as_unit = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    np.testing.assert_allclose(_ssim_map(result, truth), ssim_map(as_unit(result), as_unit(truth))[0].mean(0).numpy(),
                               atol=1e-6)
