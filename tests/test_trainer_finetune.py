"""Fine-tuning that pays off in minutes: the time budget of `fit`, the learning-rate schedule aimed
at its deadline, the fine-tuning recipe (defaults, card, frozen encoder) and `finetune-eval` on tiny
folders. Real training steps on 64 px crops."""
import json

import numpy as np
import pytest
import torch

from inpaint_studio.contracts.events import read_events
from inpaint_studio.contracts.training import FINETUNE, FINETUNE_BATCH_SIZE, learning_rate
from inpaint_studio.engine.registry import ModelRegistry, save_generator
from inpaint_studio.contracts.card import Architecture, ModelCard
from inpaint_studio.network import PENNetGenerator
from test_trainer_support import fit_args, make_folder
from trainer import cli
from trainer.events import EventWriter
from trainer.finetune_eval import format_table
from trainer.fit.loop import Trainer, prepare_config
from trainer.fit.schedule import FLOOR, lr_factor, run_share


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A user home with one small model installed (the default), shared by the tests."""
    root = tmp_path_factory.mktemp("finetune-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INPAINT_STUDIO_HOME", str(root))
        torch.manual_seed(0)
        card = ModelCard(name="Tiny base", architecture=Architecture(cnum=32, input_size=64))
        save_generator(PENNetGenerator().state_dict(), "Tiny base", card)
    return root


@pytest.fixture(scope="module")
def budget_run(home, tmp_path_factory):
    """A --base run that only its time budget (3 s) can end, exported at the end."""
    root = tmp_path_factory.mktemp("budget")
    data = make_folder(root / "photos", images=3, corrupt=False)
    out, events = root / "run", root / "events.jsonl"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INPAINT_STUDIO_HOME", str(home))
        rc = cli.main(fit_args(data, out, events, 1_000_000, base="default", max_minutes=0.05, log_every=1,
                               export_name="Budget model"))
    return {"rc": rc, "out": out, "events": read_events(events)}


def test_the_time_budget_stops_a_run_on_time_with_a_checkpoint_and_the_export(budget_run, home, monkeypatch):
    events = budget_run["events"]
    assert budget_run["rc"] == 0
    done = events[-1]
    assert done["event"] == "done" and done["status"] == "completed"
    assert 0 < done["iteration"] < 1_000_000
    times = [events[0]["time"]] + [e["time"] for e in events if e["event"] == "progress"]
    longest = max(b - a for a, b in zip(times, times[1:]))
    # no step starts after the 3 s deadline: the run overran it by less than a step (timing noise aside)
    assert times[-1] - times[0] < 3 + longest + 0.5, times
    assert any("time budget of 0.05 min reached" in e.get("message", "") for e in events if e["event"] == "log")
    assert done["checkpoint"] and done["model_id"]
    monkeypatch.setenv("INPAINT_STUDIO_HOME", str(home))
    card = ModelRegistry().get(done["model_id"]).card
    assert card.training.iterations == done["iteration"]


def test_schedule_units():
    assert run_share(10, 100, 0.0, None) == pytest.approx(0.1)
    assert run_share(10, 100, 30.0, 60.0) == pytest.approx(0.5)   # time runs out before the iterations
    assert run_share(10, 100, 90.0, 60.0) == 1.0
    assert lr_factor("constant", 0.0, 0.7) == 1.0
    assert lr_factor("cosine", 0.1, 0.05) == pytest.approx(0.5)   # half-way through the warm-up
    assert lr_factor("cosine", 0.1, 0.1) == pytest.approx(1.0)
    assert lr_factor("cosine", 0.1, 1.0) == pytest.approx(FLOOR)
    assert 1.0 > lr_factor("cosine", 0.0, 0.5) > FLOOR


def test_the_recipe_is_the_base_default_and_recorded_in_the_card(budget_run, home, monkeypatch, tmp_path):
    monkeypatch.setenv("INPAINT_STUDIO_HOME", str(home))
    config = prepare_config({"data": str(tmp_path), "out": str(tmp_path / "run"), "base": "default"}, resume=False)
    for key, value in FINETUNE.items():
        if key not in ("weights", "lr"):
            assert getattr(config, key) == value, key
    # the rate follows contracts.training.learning_rate: FINETUNE's at the CPU's fine-tuning batch
    assert learning_rate(config, FINETUNE_BATCH_SIZE["cpu"], 0) == FINETUNE["lr"]
    for term, value in FINETUNE["weights"].items():
        assert getattr(config.weights, term) == value
    scratch = prepare_config({"data": str(tmp_path), "out": str(tmp_path / "run2")}, resume=False)
    assert scratch.schedule == "constant" and scratch.weights.adversarial == 0.1  # the authors' recipe
    done = budget_run["events"][-1]
    recorded = ModelRegistry().get(done["model_id"]).card.training.config
    for key in ("schedule", "warmup", "trainable", "max_minutes"):
        assert key in recorded, key
    assert recorded["schedule"] == FINETUNE["schedule"] and recorded["warmup"] == FINETUNE["warmup"]
    assert recorded["trainable"] == FINETUNE["trainable"] and recorded["max_minutes"] == 0.05
    assert recorded["weights"]["adversarial"] == FINETUNE["weights"]["adversarial"]


def test_bad_recipe_options_are_refused(home, monkeypatch, tmp_path):
    monkeypatch.setenv("INPAINT_STUDIO_HOME", str(home))
    data = make_folder(tmp_path / "photos", images=1, corrupt=False)
    for extra, message in ((["--max-minutes", "0"], "--max-minutes"), (["--warmup", "1.5"], "--warmup"),
                           (["--crop-scale", "1.5"], "--crop-scale")):
        events = tmp_path / f"e{len(message)}.jsonl"
        assert cli.main(fit_args(data, tmp_path / "r", events, 5) + extra) == 2
        assert message in read_events(events)[-1]["message"]


def test_a_decoder_only_run_keeps_the_encoder_and_its_lr_warms_up_and_decays(home, monkeypatch, tmp_path):
    monkeypatch.setenv("INPAINT_STUDIO_HOME", str(home))
    data = make_folder(tmp_path / "photos", images=2, corrupt=False)
    config = prepare_config({"data": str(data), "out": str(tmp_path / "run"), "base": "default", "size": 64,
                             "batch_size": 1, "iterations": 4, "device": "cpu", "workers": 0, "val_images": 1,
                             "trainable": "decoder", "warmup": 0.25, "schedule": "cosine", "log_every": 1},
                            resume=False)
    events = EventWriter(tmp_path / "events.jsonl")
    trainer = Trainer(config, events).setup()
    before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    assert trainer.run() == 0
    events.close()
    peak = learning_rate(config, 1, 0)
    rates = [e["lr"] / peak for e in read_events(tmp_path / "events.jsonl") if e["event"] == "progress"]
    assert rates == pytest.approx([lr_factor("cosine", 0.25, i / 4) for i in range(4)])
    assert rates[0] < 0.05 and rates[1] == pytest.approx(1.0) and rates[3] < rates[2] < 1.0
    after = trainer.generator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("dw_conv"))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("up_conv"))


def test_finetune_eval_runs_on_tiny_folders_and_prints_gain_per_budget(home, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("INPAINT_STUDIO_HOME", str(home))
    domains = [make_folder(tmp_path / name, images=4, corrupt=False) for name in ("beach", "forest")]
    report_path = tmp_path / "report.json"
    rc = cli.main(["finetune-eval", *map(str, domains), "--minutes", "0.02", "0.04", "--limit", "2",
                   "--masks", "center", "--size", "64", "--crop", "64", "--batch-size", "1",
                   "--work", str(tmp_path / "work"), "--json", str(report_path)])
    assert rc == 0
    table = capsys.readouterr().out
    assert "0.02 min" in table and "0.04 min" in table and "best classical" in table
    report = json.loads(report_path.read_text())
    assert [d["name"] for d in report["domains"]] == ["beach", "forest"]
    for domain in report["domains"]:
        assert domain["train"] == 3 and domain["held_out"] == 1
        assert [m["minutes"] for m in domain["marks"]] == [0.02, 0.04]
        iterations = [m["iterations"] for m in domain["marks"]]
        assert iterations == sorted(iterations) and iterations[-1] > 0
        methods = {r["method"] for r in domain["rows"]}
        assert {"base", "opencv telea", "fine-tuned 0.02 min", "fine-tuned 0.04 min"} <= methods
        for row in domain["rows"]:
            assert 0 < row["hole_ssim"] <= 1 and 0 < row["hole_psnr"] < 100
        # the held-out photo is never in the fine-tune part
        held = {p.resolve() for p in (tmp_path / "work" / domain["name"] / "held-out").iterdir()}
        trained = {p.resolve() for p in (tmp_path / "work" / domain["name"] / "train").iterdir()}
        assert held and not held & trained
    assert format_table(report) in table


def test_the_gain_comes_with_its_standard_error_over_the_photos():
    from trainer.finetune_eval import gain_error

    base = {"per_image": {"a": {"psnr": 20.0}, "b": {"psnr": 30.0}, "c": {"psnr": 25.0}}}
    same = {"per_image": {n: {"psnr": v["psnr"] + 0.5} for n, v in base["per_image"].items()}}
    spread = {"per_image": {"a": {"psnr": 21.0}, "b": {"psnr": 30.0}, "c": {"psnr": 25.5}}}
    assert gain_error(same, base) == 0.0                                  # every photo gained alike
    assert abs(gain_error(spread, base) - np.std([1.0, 0.0, 0.5], ddof=1) / np.sqrt(3)) < 1e-12
    assert np.isnan(gain_error({"per_image": {"a": {"psnr": 1.0}}}, base))
