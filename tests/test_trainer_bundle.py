"""`trainer bundle`: an exported model, joined from its parts, becomes the default bundled model
with a card that states the corpus, the held-out comparison and the licence terms."""
import json

import numpy as np

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
    assert card["training"]["iterations"] == 1234 and card["training"]["hardware"] == "NVIDIA H200"
    assert "checkpoint" not in card["training"]
    sources = card["training"]["data"]["sources"]
    assert sources["mate-backgrounds"] == {"version": "1.0", "train": 1, "val": 1,
                                           "licences": {"CC-BY-SA-4.0": 1, "GPL-2+": 1}}
    assert sources["opencv-doc"]["train"] == 1 and card["training"]["data"]["photographs"] == 3
    assert [r["method"] for r in card["metrics"]["held_out"]["center"]["rows"]] == [
        "this model", "this model, no colour adaptation", "opencv telea", "opencv ns"]
    assert "BSD-3-Clause (1 photo)" in card["licence"] and "photos)" not in card["licence"]


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
    from trainer.figure import columns

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
