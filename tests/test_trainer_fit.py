"""Real training steps on CPU with tiny images: overfitting, a whole `fit` run with its events,
validation, checkpoints and export, bad folders, write errors, fine-tuning, evaluation."""
import errno
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaint_studio import cli as studio_cli
from inpaint_studio.engine import create_engine
from inpaint_studio.engine.registry import ModelRegistry, load_generator
from inpaint_studio.network import PatchDiscriminator, PENNetGenerator
from test_trainer_support import fit_args, make_folder, photo
from trainer.fit import checkpoint as ckpt
from trainer import cli
from trainer.fit.data import to_network
from trainer.evaluate import evaluate, format_table
from inpaint_studio.contracts.events import read_events
from inpaint_studio.contracts.training import FINETUNE
from trainer.fit.loop import Trainer, prepare_config
from trainer.fit.losses import LossWeights
from trainer.fit.masks import fixed_masks, to_tensor
from inpaint_studio.engine.device import TRAINING, resolve_precision
from trainer.fit.step import TrainStep, place


@pytest.mark.slow
def test_reconstruction_loss_falls_when_overfitting_two_images():
    torch.manual_seed(0)
    g, d = PENNetGenerator(), PatchDiscriminator()
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0.5, 0.999))
    step = TrainStep(g, d, opt_g, opt_d, LossWeights(), torch.device("cpu"))
    image = torch.stack([to_network(photo(i, 64, 64)) for i in range(2)])
    mask = torch.stack([to_tensor(m) for m in fixed_masks("square", 2, 64, seed=0)])
    history = []
    for _ in range(25):
        terms = step(image, mask)
        assert all(torch.isfinite(v) for v in terms.values())
        history.append(terms["reconstruction"].item())
    assert np.mean(history[-5:]) < 0.8 * np.mean(history[:5]), history


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small run shared by several tests: 4 iterations, validation and checkpoints every 2,
    exported at the end as 'Tiny test model'."""
    root = tmp_path_factory.mktemp("fit")
    data = make_folder(root / "photos", images=3)
    out, events, home = root / "run", root / "events.jsonl", root / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INPAINT_STUDIO_HOME", str(home))
        rc = cli.main(fit_args(data, out, events, 4, checkpoint_every=2, val_every=2, log_every=1,
                               keep_checkpoints=5, export_name="Tiny test model"))
    return {"rc": rc, "data": data, "out": out, "events": read_events(events), "home": home}


def _of(events, kind):
    return [e for e in events if e["event"] == kind]


def test_fit_reports_progress_validation_checkpoints_and_done(trained):
    assert trained["rc"] == 0
    events = trained["events"]
    assert events[0]["event"] == "start" and all("time" in e for e in events)
    start = events[0]
    assert start["total"] == 4 and start["iteration"] == 0 and start["world_size"] == 1
    assert start["data"]["images"] == 3 and start["data"]["unreadable"] == 2
    assert [e["iteration"] for e in _of(events, "progress")] == [1, 2, 3, 4]
    for e in _of(events, "progress"):
        assert {"hole", "valid", "pyramid", "adversarial", "discriminator"} <= set(e["losses"])
        assert all(np.isfinite(v) for v in e["losses"].values())
        assert e["samples_per_s"] > 0 and e["eta_s"] >= 0 and e["total"] == 4
    validations = _of(events, "validation")
    assert [e["iteration"] for e in validations] == [2, 4]
    assert all(0 < v["metrics"]["ssim"] <= 1 and v["metrics"]["psnr"] > 0 for v in validations)
    samples = _of(events, "sample")
    grid = Image.open(samples[-1]["path"])
    assert grid.width == 3 * 64 + 2 * 4 and grid.height >= 64  # input | output | truth
    assert [e["iteration"] for e in _of(events, "checkpoint")] == [2, 4]
    assert all(Path(e["path"]).is_file() for e in _of(events, "checkpoint"))
    logs = " ".join(e["message"] for e in _of(events, "log"))
    assert "broken.png" in logs and "truncated.jpg" in logs and "ignored 1 files" in logs
    done = events[-1]
    assert done["event"] == "done" and done["status"] == "completed" and done["iteration"] == 4
    assert done["metrics"]["iteration"] == 4 and done["model_name"] == "Tiny test model"


def test_exported_model_is_listed_loaded_and_run_by_the_engine(trained, monkeypatch, capsys):
    monkeypatch.setenv("INPAINT_STUDIO_HOME", str(trained["home"]))
    done = trained["events"][-1]
    assert studio_cli.main(["models", "list"]) == 0
    listed = capsys.readouterr().out
    assert done["model_id"] in listed and "Tiny test model" in listed
    info = ModelRegistry().get(done["model_id"])
    assert Path(done["model_path"]) == info.weights_path.resolve()
    card = info.card
    assert card.architecture.name == "pennet" and card.architecture.attention == "holes"
    assert card.training.iterations == 4 and card.training.data["images"] == 3
    assert card.training.base is None and card.metrics.val_psnr > 0
    # settings left to the machine are stored as chosen: precision "auto" became fp32 or bf16
    run = json.loads((trained["out"] / "run.json").read_text())
    assert run["config"]["precision"] in ("fp32", "bf16") and run["config"]["automatic"] == ["precision"]
    assert card.training.config["precision"] == run["config"]["precision"] and card.training.config["batch_size"] == 1
    generator = load_generator(info)
    ckpt_weights = ckpt.latest_checkpoint(trained["out"] / "checkpoints")[1]["generator"]
    for k, v in generator.state_dict().items():
        assert torch.allclose(v, ckpt_weights[k].half().float())
    image = photo(5, 64, 64)
    mask = fixed_masks("center", 1, 64)[0]
    result = create_engine(info.id, device="cpu").inpaint(image, mask).image
    assert result.shape == image.shape and np.array_equal(result[mask == 0], image[mask == 0])


def test_export_command_writes_a_second_model_with_a_card(trained, monkeypatch, capsys):
    monkeypatch.setenv("INPAINT_STUDIO_HOME", str(trained["home"]))
    assert cli.main(["export", str(trained["out"]), "--name", "Exported again"]) == 0
    printed = json.loads(capsys.readouterr().out)
    info = ModelRegistry().get(printed["model_id"])
    assert info.name == "Exported again" and info.card.training.hardware.startswith("CPU")
    metrics = info.card.metrics
    assert None not in (metrics.val_l1, metrics.val_psnr, metrics.val_ssim)
    assert cli.main(["export", str(trained["out"] / "nowhere"), "--name", "x"]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_fine_tuning_starts_from_the_base_model_with_lower_lr(trained, monkeypatch, tmp_path):
    monkeypatch.setenv("INPAINT_STUDIO_HOME", str(trained["home"]))
    config = prepare_config({"data": str(trained["data"]), "out": str(tmp_path / "tune"), "base": "default",
                             "size": 64, "device": "cpu", "workers": 0}, resume=False)
    model_id = ModelRegistry().default_id()
    assert config.base == model_id is not None  # 'default': the registry's default model
    assert config.lr is None and config.iterations == FINETUNE["iterations"]  # None: the rule, FINETUNE's at this batch
    trainer = Trainer(config).setup()
    base = load_generator(ModelRegistry().get(model_id))
    for k, v in base.state_dict().items():
        assert torch.equal(trainer.generator.state_dict()[k], v)
    assert trainer.base_info["id"] == model_id and trainer.opt_g.param_groups[0]["lr"] == FINETUNE["lr"]


def test_evaluate_compares_the_model_with_opencv(trained, monkeypatch, capsys):
    monkeypatch.setenv("INPAINT_STUDIO_HOME", str(trained["home"]))
    model_id = trained["events"][-1]["model_id"]
    report = evaluate(model_id, trained["data"], masks="center", size=64)
    assert report["images"] == 3  # the broken and truncated files are left out for every method
    assert [r["method"] for r in report["rows"]] == [f"model {model_id}", f"model {model_id}, no colour adaptation",
                                                     "opencv telea", "opencv ns", "patchmatch", "auto"]
    adapted, raw = report["rows"][:2]
    assert adapted["colour_adaptation"] is True and raw["colour_adaptation"] is False
    assert adapted["l1"] != raw["l1"]  # the same network outputs, pasted two ways
    for row in report["rows"]:
        assert 0 <= row["l1"] < 0.5 and 0 < row["ssim"] <= 1 and np.isfinite(row["psnr"])
    assert cli.main(["evaluate", "--model", model_id, "--data", str(trained["data"]), "--size", "64",
                     "--masks", "free", "--limit", "2"]) == 0
    table = capsys.readouterr().out
    assert "opencv telea" in table and "opencv ns" in table and "patchmatch" in table and "PSNR" in table
    assert "2 images" in format_table(evaluate(None, trained["data"], size=64, limit=2))
    assert cli.main(["evaluate", "--model", "no-such-model", "--data", str(trained["data"]), "--size", "64"]) == 2


@pytest.mark.parametrize("make, message", [
    (lambda root: root / "missing", "no such folder"),
    (lambda root: make_folder(root / "junk", images=0), "no usable images"),
])
def test_unusable_data_is_one_error_event_before_anything_starts(tmp_path, make, message):
    data, out, events = make(tmp_path), tmp_path / "run", tmp_path / "events.jsonl"
    assert cli.main(fit_args(data, out, events, 2)) == 2
    recorded = read_events(events)
    assert [e["event"] for e in recorded] == ["error"] and message in recorded[0]["message"]
    assert not out.exists()


def test_bad_options_and_reused_run_folders_are_refused(trained, tmp_path):
    events = tmp_path / "e.jsonl"
    assert cli.main(fit_args(trained["data"], tmp_path / "r", events, 2) + ["--size", "100"]) == 2
    assert cli.main(fit_args(trained["data"], trained["out"], events, 2)) == 2  # holds a run already
    assert cli.main(["fit", "--resume", "--out", str(tmp_path / "nothing"), "--events", str(events)]) == 2
    assert cli.main(fit_args(trained["data"], tmp_path / "r", events, 2) + ["--base", "no-such-model"]) == 2
    messages = [e["message"] for e in read_events(events)]
    assert "multiple of 64" in messages[0] and "--resume" in messages[1] and "nothing to resume" in messages[2]
    assert "Unknown model 'no-such-model'" in messages[3]
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_checkpoint_write_error_is_an_error_event_and_keeps_the_previous(tmp_path, monkeypatch):
    data = make_folder(tmp_path / "photos", images=2, corrupt=False)
    out, events = tmp_path / "run", tmp_path / "events.jsonl"
    real_write, calls = ckpt._write_file, []

    def disk_fills_up(path, blob):
        calls.append(path)
        if len(calls) == 1:
            return real_write(path, blob)
        with open(path, "wb") as fh:
            fh.write(blob[:1000])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "_write_file", disk_fills_up)
    assert cli.main(fit_args(data, out, events, 6, checkpoint_every=2, val_every=100)) == 1
    recorded = read_events(events)
    assert [e["iteration"] for e in _of(recorded, "checkpoint")] == [2]
    assert recorded[-1]["event"] == "error" and "No space left on device" in recorded[-1]["message"]
    assert "previous checkpoint is kept" in recorded[-1]["message"]
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["ckpt-000000002.safetensors"]
    assert ckpt.latest_checkpoint(out / "checkpoints")[1]["iteration"] == 2


def test_every_event_and_field_written_is_documented(trained):
    doc = (Path(cli.__file__).parent / "EVENTS.md").read_text()
    from inpaint_studio.contracts.events import EVENT_KINDS

    for kind in EVENT_KINDS:
        assert f"**{kind}**" in doc
    for event in trained["events"]:
        for field in event:
            assert f"`{field}`" in doc, f"{event['event']}.{field} is not in EVENTS.md"


@pytest.mark.slow
def test_a_bf16_step_keeps_fp32_channels_last_weights_and_trains():
    """--precision bf16 on the CPU exercises the autocast path the GPUs take."""
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    g, d = place(PENNetGenerator(), cpu), place(PatchDiscriminator(), cpu)
    before = g.dw_conv01[0].weight.detach().clone()
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0.5, 0.999))
    step = TrainStep(g, d, opt_g, opt_d, LossWeights(), cpu, resolve_precision("bf16", cpu, TRAINING))
    image = torch.stack([to_network(photo(i, 64, 64)) for i in range(2)])
    mask = torch.stack([to_tensor(m) for m in fixed_masks("mixed", 2, 64, seed=1)])
    for _ in range(2):
        assert all(torch.isfinite(v) for v in step(image, mask).values())
    weight = g.dw_conv01[0].weight
    assert weight.dtype == torch.float32 and weight.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(weight.detach(), before)
