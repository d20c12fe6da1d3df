"""`trainer pack`: a compact copy of a run that `fit --resume` continues, from a new place."""
import json
import shutil

import pytest
import torch

from test_trainer_support import fit_args, make_folder
from trainer.fit import checkpoint as ckpt
from trainer import cli
from trainer.fit.loop import Trainer, prepare_config


@pytest.mark.slow
def test_a_packed_run_is_smaller_and_resumes_with_the_same_weights(tmp_path, capsys):
    data = make_folder(tmp_path / "photos", images=2, corrupt=False)
    run = tmp_path / "run"
    assert cli.main(fit_args(data, run, tmp_path / "events.jsonl", 3, checkpoint_every=3, val_every=1000)) == 0
    original_path, original = ckpt.latest_checkpoint(run / "checkpoints")

    assert cli.main(["pack", str(run), "--out", str(tmp_path / "pack")]) == 0
    packed_path = tmp_path / "pack" / "checkpoints" / original_path.name
    assert json.loads(capsys.readouterr().out)["checkpoint"] == str(packed_path)
    assert packed_path.stat().st_size < 0.75 * original_path.stat().st_size
    packed = ckpt.load_checkpoint(packed_path)
    for opt in ("opt_g", "opt_d"):
        for i, state in packed[opt]["state"].items():
            assert state["exp_avg"].dtype == state["exp_avg_sq"].dtype == torch.bfloat16
            assert torch.allclose(state["exp_avg_sq"].float(), original[opt]["state"][i]["exp_avg_sq"], rtol=1e-2)

    # the photos move: the pack resumes with --data given anew, weights exact, moments back in fp32
    moved = tmp_path / "elsewhere"
    shutil.move(str(data), str(moved))
    config = prepare_config({"out": str(tmp_path / "pack"), "data": str(moved), "iterations": 5}, resume=True)
    trainer = Trainer(config, resume=True).setup()
    assert trainer.start_iteration == 3
    for key, value in trainer.generator.state_dict().items():
        assert torch.equal(value, original["generator"][key])
    assert all(s["exp_avg"].dtype == torch.float32 for s in trainer.opt_g.state_dict()["state"].values())
    assert trainer.run() == 0
    assert ckpt.latest_checkpoint(tmp_path / "pack" / "checkpoints")[1]["iteration"] == 5


def test_pack_refuses_what_is_not_a_run(tmp_path, capsys):
    assert cli.main(["pack", str(tmp_path), "--out", str(tmp_path / "pack")]) == 2
    assert "not a training run folder" in capsys.readouterr().err
    (tmp_path / "run.json").write_text("{}")
    assert cli.main(["pack", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "another folder" in capsys.readouterr().err
    assert cli.main(["pack", str(tmp_path), "--out", str(tmp_path / "pack")]) == 2
    assert "no checkpoint to pack" in capsys.readouterr().err


@pytest.mark.slow
def test_save_progress_commits_one_replaceable_commit_that_resumes(tmp_path):
    import subprocess
    import sys
    import tarfile

    from test_trainer_support import REPO, trainer_env

    data = make_folder(tmp_path / "photos", images=2, corrupt=False)
    run, events = tmp_path / "run", tmp_path / "events.jsonl"
    assert cli.main(fit_args(data, run, events, 2, checkpoint_every=2, val_every=1000)) == 0
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    env = dict(trainer_env(), REPO=str(repo), PY=sys.executable, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    script = REPO / "tools" / "save_progress.sh"
    for _ in range(2):  # a second save replaces the first: the branch stays one commit long
        done = subprocess.run(["bash", str(script), str(run), str(events)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    log = subprocess.run(["git", "-C", str(repo), "log", "--format=%s", "progress/bundled-model"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert log == ["Training progress: run at iteration 2"]
    archive = subprocess.run(["git", "-C", str(repo), "archive", "progress/bundled-model"], capture_output=True,
                             check=True).stdout
    (tmp_path / "archive.tar").write_bytes(archive)
    with tarfile.open(tmp_path / "archive.tar") as tar:
        tar.extractall(tmp_path / "restored", filter="data")
    restored = tmp_path / "restored" / "run"
    assert (restored / "events.jsonl").is_file() and "iteration 2" in (tmp_path / "restored" / "README.md").read_text()
    config = prepare_config({"out": str(restored), "iterations": 3}, resume=True)
    trainer = Trainer(config, resume=True).setup()
    assert trainer.start_iteration == 2 and trainer.run() == 0
