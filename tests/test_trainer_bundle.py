"""`trainer bundle`: an exported model, joined from its parts, becomes the default bundled model
with a card that states the corpus, the held-out comparison and the licence terms."""
import json

import numpy as np
import pytest

from inpaint_studio.engine.registry import ModelRegistry, load_generator, save_generator
from inpaint_studio.network import PENNetGenerator
from trainer.cli import main as trainer_main


def _corpus(root):
    root.mkdir()
    rows = [
        {"source": "mate-backgrounds", "version": "1.0", "licence": "CC-BY-SA-4.0", "kept": True, "split": "train"},
        {"source": "mate-backgrounds", "version": "1.0", "licence": "GPL-2+", "kept": True, "split": "val"},
        {"source": "opencv-doc", "version": "4.6", "licence": "BSD-3-Clause", "kept": True, "split": "train"},
        {"source": "opencv-doc", "version": "4.6", "licence": "BSD-3-Clause", "kept": False, "split": ""},
    ]
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "summary.json").write_text(json.dumps({"files_seen": 4, "train": {"images": 2}, "val": {"images": 1}}))
    return root


def _report(masks, ours, telea, ns, raw=None):
    rows = [{"method": "model x", **ours, "colour_adaptation": True}, {"method": "opencv telea", **telea},
            {"method": "opencv ns", **ns}]
    if raw:  # the network's colours as drawn: shown in the card, never what is compared
        rows.insert(1, {"method": "model x, no colour adaptation", **raw, "colour_adaptation": False})
    return {"images": 1, "masks": masks, "size": 64, "seed": 0, "data": "val", "rows": [dict(r, seconds=0.1) for r in rows]}


def test_bundle_joins_parts_completes_the_card_and_becomes_the_default(tmp_path, capsys):
    info = save_generator(PENNetGenerator(), "Open photos", directory=tmp_path / "exported",
                          card={"architecture": {"input_size": 256}, "metrics": {"val_psnr": 21.0},
                                "training": {"iterations": 1234, "hardware": "NVIDIA H200", "checkpoint": "/gpu/x"}})
    blob = info.weights_path.read_bytes()
    parts = [tmp_path / "part-00", tmp_path / "part-01"]
    parts[0].write_bytes(blob[: len(blob) // 2])
    parts[1].write_bytes(blob[len(blob) // 2:])
    reports = [tmp_path / "center.json", tmp_path / "free.json"]
    metric = lambda l1, psnr, ssim: {"l1": l1, "psnr": psnr, "ssim": ssim}  # noqa: E731
    reports[0].write_text(json.dumps(_report("center", metric(0.02, 23.0, 0.80), metric(0.03, 22.0, 0.79),
                                             metric(0.03, 22.5, 0.81), raw=metric(0.05, 20.0, 0.99))))
    reports[1].write_text(json.dumps(_report("free", metric(0.01, 29.0, 0.95), metric(0.009, 30.0, 0.94),
                                             metric(0.012, 28.0, 0.93))))
    models = tmp_path / "models"
    assert trainer_main(["bundle", "--weights", *map(str, parts), "--card", str(info.card_path),
                         "--corpus", str(_corpus(tmp_path / "corpus")), "--eval", *map(str, reports),
                         "--out", str(models)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["held_out"] == {"center": {"l1": True, "psnr": True, "ssim": False},
                                   "free": {"l1": False, "psnr": False, "ssim": True}}

    registry = ModelRegistry(bundled_dir=models, user_dir=tmp_path / "user")
    assert registry.default_id() == "pennet-open-photos"
    bundled = registry.get("pennet-open-photos")
    assert bundled.bundled and bundled.weights_path.read_bytes() == blob
    load_generator(bundled)
    card = bundled.card
    assert card.training.iterations == 1234 and card.training.hardware == "NVIDIA H200"
    assert "checkpoint" not in card.training.to_dict()
    sources = card.training.data["sources"]
    assert sources["mate-backgrounds"] == {"version": "1.0", "train": 1, "val": 1,
                                           "licences": {"CC-BY-SA-4.0": 1, "GPL-2+": 1}}
    assert sources["opencv-doc"]["train"] == 1 and card.training.data["photographs"] == 3
    assert [r["method"] for r in card.metrics.held_out["center"]["rows"]] == [
        "this model", "this model, no colour adaptation", "opencv telea", "opencv ns"]
    assert "BSD-3-Clause (1 photo)" in card.licence and "photos)" not in card.licence

    # re-bundling the bundled model with new evaluations against a later corpus build keeps the
    # corpus it learnt from, and only with --keep-data
    later = tmp_path / "later"
    later.mkdir()
    (later / "manifest.jsonl").write_text(json.dumps({"source": "gnome-backgrounds", "version": "2", "licence": "GPL-2+",
                                                      "kept": True, "split": "train"}) + "\n")
    again = ["bundle", "--weights", str(bundled.weights_path), "--card", str(bundled.card_path),
             "--corpus", str(later), "--eval", *map(str, reports), "--out", str(tmp_path / "again")]
    assert trainer_main(again + ["--keep-data"]) == 0
    kept = ModelRegistry(bundled_dir=tmp_path / "again", user_dir=tmp_path / "user").get("pennet-open-photos").card
    assert kept.training.data == card.training.data and kept.training.iterations == 1234
    assert trainer_main(again) == 0
    replaced = ModelRegistry(bundled_dir=tmp_path / "again", user_dir=tmp_path / "user").get("pennet-open-photos").card
    assert set(replaced.training.data["sources"]) == {"gnome-backgrounds"}
    capsys.readouterr()
    assert trainer_main(["bundle", "--weights", str(info.weights_path), "--card", str(info.card_path), "--corpus",
                         str(later), "--out", str(tmp_path / "none"), "--keep-data"]) == 2
    assert "--keep-data needs a card that records its corpus" in capsys.readouterr().err


def test_broken_weights_are_refused_and_nothing_is_shipped(tmp_path, capsys):
    info = save_generator(PENNetGenerator(), "Open photos", directory=tmp_path / "exported", card={})
    half = tmp_path / "part-00"
    half.write_bytes(info.weights_path.read_bytes()[:1000])
    models = tmp_path / "models"
    assert trainer_main(["bundle", "--weights", str(half), "--card", str(info.card_path),
                         "--corpus", str(_corpus(tmp_path / "corpus")), "--out", str(models)]) == 2
    assert "do not make a working model" in capsys.readouterr().err
    assert list(models.iterdir()) == []
    assert trainer_main(["bundle", "--weights", str(info.weights_path), "--card", str(info.card_path),
                         "--corpus", str(tmp_path), "--out", str(models)]) == 2
    assert "no manifest.jsonl" in capsys.readouterr().err
    (tmp_path / "other.json").write_text('{"not": "a card"}')
    assert trainer_main(["bundle", "--weights", str(info.weights_path), "--card", str(tmp_path / "other.json"),
                         "--corpus", str(tmp_path / "corpus"), "--out", str(models)]) == 2
    assert "not a model card" in capsys.readouterr().err and list(models.iterdir()) == []


def test_results_figure_shows_input_fills_and_original(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from test_trainer_support import make_folder
    from trainer.release.figure import columns

    monkeypatch.setenv("INPAINT_STUDIO_HOME", str(tmp_path / "home"))
    info = save_generator(PENNetGenerator(), "Tiny", card={"architecture": {"input_size": 64}})
    photos = make_folder(tmp_path / "photos", images=3, corrupt=False)
    out = tmp_path / "docs" / "results.png"
    assert trainer_main(["figure", "--model", info.id, "--data", str(photos), "--out", str(out),
                         "--rows", "2", "--size", "64", "--device", "cpu"]) == 0
    titles = [t for t, _ in columns()]
    assert titles[:3] == ["input", "PEN-Net", "Auto"] and titles[-1] == "original" and "OpenCV Telea" in titles
    n = len(titles)
    sheet = Image.open(out)
    assert sheet.size == (n * 64 + (n - 1) * 4, 22 + 2 * 64 + 4)
    cells = [[np.asarray(sheet)[22 + r * 68:22 + r * 68 + 64, c * 68:c * 68 + 64] for c in range(n)] for r in range(2)]
    for row in cells:
        assert all(not np.array_equal(cell, row[-1]) for cell in row[:-1])  # tinted, filled (and captioned)
    assert trainer_main(["figure", "--model", "nope", "--data", str(photos), "--out", str(out)]) == 2
    assert "Unknown model" in capsys.readouterr().err


def test_bundle_ships_the_discriminator_the_run_auto_and_per_image_figures(tmp_path, capsys):
    from inpaint_studio.engine.auto import RULE
    from inpaint_studio.engine.registry import RegistryError, discriminator_path, load_discriminator
    from inpaint_studio.network import PatchDiscriminator
    from trainer.fit.checkpoint import save_checkpoint
    from trainer.evaluate import half_of

    info = save_generator(PENNetGenerator(), "Open photos", directory=tmp_path / "exported",
                          card={"architecture": {"input_size": 256}, "training": {"iterations": 2883}})
    checkpoint = save_checkpoint(tmp_path / "run", 2883, {"iteration": 2883,
                                                          "discriminator": PatchDiscriminator().state_dict()})
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"event": "start", "batch_size": 32, "world_size": 1, "precision": "bf16",
                                  "hardware": "1x NVIDIA H200 (bf16)"}) + "\n"
                      + json.dumps({"event": "done", "iteration": 2883, "elapsed_s": 405.8, "status": "stopped",
                                    "total": 200000}) + "\n")
    corpus = tmp_path / "corpus"
    (corpus / "val").mkdir(parents=True)
    names = [f"photo-{i}.jpg" for i in range(6)]
    for i, name in enumerate(names):
        (corpus / "val" / name).write_bytes(bytes([i]) * 100)
    (corpus / "manifest.jsonl").write_text("".join(
        json.dumps({"source": "opencv-doc", "version": "4.6", "licence": "BSD-3-Clause", "kept": True,
                    "split": "val", "file": f"val/{n}"}) + "\n" for n in names))
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / names[0]).write_bytes((corpus / "val" / names[0]).read_bytes())
    figures = lambda base: {n: {"l1": base, "psnr": 20.0 + i, "ssim": 0.8} for i, n in enumerate(names)}  # noqa: E731
    rows = [("model x", 0.03, True), ("model x, no colour adaptation", 0.04, False), ("opencv telea", 0.02, None),
            ("opencv ns", 0.025, None), ("patchmatch", 0.05, None), ("auto", 0.02, None)]
    reports = []
    for masks in ("center", "free"):
        report = {"images": 6, "masks": masks, "size": 256, "seed": 0, "data": "val", "rows": [
            {"method": m, "l1": l1, "psnr": 21.0, "ssim": 0.85, "seconds": 1.0, "per_image": figures(l1),
             **({"colour_adaptation": ca} if ca is not None else {})} for m, l1, ca in rows]}
        reports.append(tmp_path / f"{masks}.json")
        reports[-1].write_text(json.dumps(report))
    rule = tmp_path / "rule.json"
    measured = {"rule": RULE, "data": "val", "half": "tune", "sizes": [256], "seed": 0, "photos": 3, "regions": 9,
                "engines": ["pennet", "telea"], "fit": {}, "masks": [], "summary": {}}
    rule.write_text(json.dumps({**measured, "rule": {"engines": ["telea"]}}))
    models = tmp_path / "models"
    args = ["bundle", "--weights", str(info.weights_path), "--card", str(info.card_path), "--corpus", str(corpus),
            "--eval", *map(str, reports), "--out", str(models), "--events", str(events),
            "--discriminator", str(checkpoint), "--auto-rule", str(rule), "--samples", str(samples)]
    assert trainer_main(args) == 2 and "not the one in inpaint_studio/engine/auto.py" in capsys.readouterr().err
    rule.write_text(json.dumps(measured))
    assert trainer_main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["auto_at_least_best_single"]["center"] == {"l1": True, "psnr": True, "ssim": True}

    bundled = ModelRegistry(bundled_dir=models, user_dir=tmp_path / "user").get("pennet-open-photos")
    card = bundled.card.to_dict()
    assert card["training"]["run"]["samples"] == 2883 * 32 and card["training"]["run"]["seconds"] == 405.8
    assert "2,883 iterations, 92,256 samples, 7 minutes on 1x NVIDIA H200 (bf16)" in card["description"]
    assert card["auto"]["rule"] == RULE and card["auto"]["half"] == "tune"
    held = card["metrics"]["held_out"]["center"]
    assert set(held["per_image"]) == {names[0]} and held["per_image"][names[0]]["auto"]["psnr"] == 20.0
    assert "per_image" not in held["rows"][0]
    report_half = [n for n in names if half_of(n) == "report"]
    assert held["report_half"]["images"] == len(report_half)
    assert any("behind opencv telea 0.02" in line for line in card["behind"])   # L1 0.03 vs 0.02
    path = discriminator_path(bundled)
    assert path.name == "pennet-open-photos.discriminator.safetensors" and card["discriminator"]["file"] == path.name
    assert card["discriminator"]["dtype"] == "float16"
    load_discriminator(path)
    broken = tmp_path / "broken.safetensors"
    from safetensors.torch import load_file, save_file
    state = load_file(str(path))
    state.pop(next(iter(state)))
    save_file(state, str(broken))
    with pytest.raises(RegistryError, match="not PatchGAN discriminator weights"):
        load_discriminator(broken)                                             # strictly: no key may be missing
    (samples / names[1]).write_bytes(b"not the held-out photo")
    assert trainer_main(args) == 2 and "not a copy of a held-out photo" in capsys.readouterr().err
