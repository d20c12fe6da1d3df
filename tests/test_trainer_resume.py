"""Interrupted runs: SIGKILL loses at most the iterations since the last checkpoint and --resume
continues with the saved weights; SIGTERM (the app's Stop button) saves and exits cleanly."""
import signal

import pytest
import torch

from test_trainer_support import fit_args, make_folder, start_trainer, wait_for_event
from trainer.fit import checkpoint as ckpt
from trainer import cli
from inpaint_studio.contracts.events import read_events
from trainer.events import EventWriter
from trainer.fit.loop import Trainer, prepare_config


@pytest.mark.slow
def test_resume_after_sigkill_continues_from_the_last_checkpoint(tmp_path):
    data = make_folder(tmp_path / "photos", images=2)
    out, events = tmp_path / "run", tmp_path / "events.jsonl"
    proc = start_trainer(fit_args(data, out, events, 1000, checkpoint_every=2, val_every=1000,
                                  keep_checkpoints=2), tmp_path / "log.txt")
    try:
        seen = wait_for_event(events, proc, lambda e: e["event"] == "checkpoint")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    saved_path, saved = ckpt.latest_checkpoint(out / "checkpoints")
    assert saved["iteration"] >= seen["iteration"] >= 2 and saved["iteration"] % 2 == 0
    progressed = max(e["iteration"] for e in read_events(events) if e["event"] == "progress")
    assert progressed - saved["iteration"] < 2 + 1  # lost at most K (= 2) iterations, plus the one in flight

    config = prepare_config({"out": str(out), "iterations": saved["iteration"] + 2}, resume=True)
    assert config.data == str(data) and config.size == 64 and config.checkpoint_every == 2
    trainer = Trainer(config, EventWriter(path=tmp_path / "resumed.jsonl"), resume=True).setup()
    assert trainer.start_iteration == saved["iteration"] and trainer.resumed_from == saved_path
    for name, module in (("generator", trainer.generator), ("discriminator", trainer.discriminator)):
        for key, value in module.state_dict().items():
            assert torch.equal(value, saved[name][key]), f"{name}.{key} differs from the checkpoint"
    assert torch.equal(torch.get_rng_state(), saved["rng"]["torch"])
    state = trainer.opt_g.state_dict()["state"]
    assert all(torch.equal(state[i]["exp_avg"], saved["opt_g"]["state"][i]["exp_avg"]) for i in state)
    assert not list((out / "checkpoints").glob(".*.tmp"))  # a write cut short by the kill is gone

    assert trainer.run() == 0
    resumed = read_events(tmp_path / "resumed.jsonl")
    assert resumed[0]["event"] == "start" and resumed[0]["iteration"] == saved["iteration"]
    assert resumed[0]["resumed_from"] == str(saved_path)
    steps = [e["iteration"] for e in resumed if e["event"] == "progress"]
    assert steps[0] == saved["iteration"] + 1 and steps[-1] == saved["iteration"] + 2
    assert resumed[-1]["event"] == "done" and resumed[-1]["iteration"] == saved["iteration"] + 2


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_ends_with_a_stopped_event(tmp_path):
    data = make_folder(tmp_path / "photos", images=2, corrupt=False)
    out, events = tmp_path / "run", tmp_path / "events.jsonl"
    proc = start_trainer(fit_args(data, out, events, 1000, checkpoint_every=500, val_every=1000),
                         tmp_path / "log.txt")
    try:
        wait_for_event(events, proc, lambda e: e["event"] == "progress")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    recorded = read_events(events)
    done = recorded[-1]
    assert done["event"] == "done" and done["status"] == "stopped" and 0 < done["iteration"] < 1000
    assert recorded[-2]["event"] == "checkpoint" and recorded[-2]["iteration"] == done["iteration"]
    assert "model_id" not in done  # a stopped run is not exported; it can be resumed
    assert ckpt.latest_checkpoint(out / "checkpoints")[1]["iteration"] == done["iteration"]

    more = tmp_path / "more.jsonl"
    total = done["iteration"] + 1
    assert cli.main(["fit", "--resume", "--out", str(out), "--iterations", str(total), "--events", str(more)]) == 0
    after = read_events(more)
    assert after[0]["iteration"] == done["iteration"] and after[-1]["status"] == "completed"
    assert after[-1]["iteration"] == total


@pytest.mark.slow
def test_a_stop_file_in_the_run_folder_stops_like_sigterm(tmp_path):
    data = make_folder(tmp_path / "photos", images=2, corrupt=False)
    out = tmp_path / "run"
    config = prepare_config({"data": str(data), "out": str(out), "size": 64, "iterations": 1000,
                             "batch_size": 1, "device": "cpu", "workers": 0, "val_images": 1}, resume=False)
    trainer = Trainer(config, EventWriter(path=tmp_path / "events.jsonl")).setup()
    (out / "STOP").write_text("")  # what the app does where it cannot send SIGTERM
    assert trainer.run() == 0
    done = read_events(tmp_path / "events.jsonl")[-1]
    assert done["status"] == "stopped" and done["iteration"] == 1
    assert ckpt.latest_checkpoint(out / "checkpoints")[1]["iteration"] == 1
    assert not (out / "STOP").exists()
