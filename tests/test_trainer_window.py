"""Issue 14: every GPU window continues the bundled model. On tiny data on the CPU: `fit
--warm-start` from a bundled-format model (with and without its discriminator), `promote` (dry
run, a worse run refused, a better one replacing generator, discriminator and card atomically, a
failure or a kill in the middle leaving the old model), and tools/gpu_window.sh end to end with a
tiny deadline, its carry check, then `window-return`."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from inpaint_studio.contracts.events import read_events
from inpaint_studio.contracts.training import SCRATCH
from inpaint_studio.engine import registry as registry_module
from inpaint_studio.engine.registry import (DISCRIMINATOR_SUFFIX, ModelRegistry, load_discriminator, load_generator,
                                            save_generator)
from inpaint_studio.network import PatchDiscriminator, PENNetGenerator
from test_trainer_support import REPO, fit_args, make_folder, trainer_env
from trainer import cli
from trainer.fit.checkpoint import latest_checkpoint, save_checkpoint
from trainer.release import promote as promote_module
from trainer.release import window

MODEL_ID = "pennet-open-photos"


def generator(kind: str, seed: int = 0) -> PENNetGenerator:
    """'good': its last layer draws a flat image, which colour adaptation turns into a smooth fill
    of the surroundings (the tiny photos are smooth); 'bad': every convolution 3x too strong, which
    draws high-frequency noise that colour adaptation cannot smooth away (lower PSNR and SSIM on
    both mask kinds)."""
    torch.manual_seed(seed)
    g = PENNetGenerator()
    with torch.no_grad():
        if kind == "good":
            g.decoder[2].weight.zero_()
            g.decoder[2].bias.zero_()
        else:
            for p in g.parameters():
                if p.dim() == 4:
                    p.mul_(3)
    return g


def discriminator(seed: int) -> PatchDiscriminator:
    torch.manual_seed(seed)
    return PatchDiscriminator()


def bundled_model(folder: Path, g: PENNetGenerator, d: PatchDiscriminator | None = None,
                  name: str = "Pennet open photos") -> Path:
    """A model as models/ ships it: <id>.safetensors (fp16), <id>.json (default), and with `d`,
    <id>.discriminator.safetensors (fp16). The id is MODEL_ID unless `name` says otherwise."""
    info = save_generator(g, name, directory=folder,
                          card={"architecture": {"input_size": 64}, "default": True,
                                "training": {"iterations": 1000, "hardware": "test CPU"}})
    if d is not None:
        save_file({k: v.half() for k, v in d.state_dict().items()}, str(folder / f"{info.id}{DISCRIMINATOR_SUFFIX}"))
    return folder


@pytest.fixture()
def photos(tmp_path):
    val = make_folder(tmp_path / "corpus" / "val", images=2, corrupt=False)
    for path in list(val.rglob("photo*")):  # other photos than train's, under other names
        path.rename(path.with_name(f"held-out-{path.name}"))
    return {"train": make_folder(tmp_path / "corpus" / "train", images=3, corrupt=False), "val": val}


def _fit(photos, out, events, *extra, iterations=2):
    return cli.main(fit_args(photos["train"], out, events, iterations, val=photos["val"], checkpoint_every=1000)
                    + list(extra))


def _close(a: dict, b: dict, atol: float) -> bool:
    """Parameters alike (spectral norm's power-iteration vectors move at every forward pass)."""
    return all(torch.allclose(a[k].float(), b[k].float(), atol=atol) for k in b if not k.endswith(("._u", "._v")))


# -- warm start ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_warm_start_continues_generator_and_discriminator_with_scratch_settings(tmp_path, photos, user_home):
    g, d = generator("good", 1), discriminator(2)
    bundled_model(user_home / "models", g, d)
    out, events = tmp_path / "run", tmp_path / "events.jsonl"
    assert _fit(photos, out, events, "--warm-start", "default") == 0
    record = json.loads((out / "run.json").read_text())
    assert record["warm_start"]["id"] == MODEL_ID and record["warm_start"]["discriminator"].endswith(DISCRIMINATOR_SUFFIX)
    assert record["config"]["lr"] is None and record["config"]["val_every"] == SCRATCH["val_every"]  # lr: the rule
    assert record["config"]["size"] == 64 and record["train_names"]
    first = _checkpoint(out, 2)
    assert first["config"]["lr"] == SCRATCH["lr"]          # the rate used: from-scratch (batch 2: not scaled)
    # two Adam steps of lr 1e-4 from the model's (fp16) weights; a fresh network is far from them
    shipped_g = {k: v.half().float() for k, v in g.state_dict().items()}
    shipped_d = {k: v.half().float() for k, v in d.state_dict().items()}
    assert _close(first["generator"], shipped_g, 2e-3) and _close(first["discriminator"], shipped_d, 2e-3)
    assert not _close(first["discriminator"], discriminator(3).state_dict(), 2e-3)
    assert all(s["step"] == 2 for s in first["opt_g"]["state"].values())  # a fresh optimiser
    done = [e for e in read_events(events) if e["event"] == "done"][-1]
    assert done["status"] == "completed" and done["iteration"] == 2


def _checkpoint(out: Path, iteration: int) -> dict:
    from trainer.fit.checkpoint import checkpoint_path, load_checkpoint

    return load_checkpoint(checkpoint_path(out / "checkpoints", iteration))


@pytest.mark.slow
def test_warm_start_without_a_discriminator_starts_a_fresh_one_and_says_so(tmp_path, photos, user_home):
    bundled_model(user_home / "models", generator("good", 1))
    out, events = tmp_path / "run", tmp_path / "events.jsonl"
    assert _fit(photos, out, events, "--warm-start", MODEL_ID, iterations=1) == 0
    logs = [e["message"] for e in read_events(events) if e["event"] == "log"]
    assert any("ships no discriminator: starting a fresh one" in m for m in logs), logs
    assert json.loads((out / "run.json").read_text())["warm_start"]["discriminator"] is None


def test_warm_start_refuses_unknown_models_other_sizes_and_broken_discriminators(tmp_path, photos, user_home, capsys):
    out, events = tmp_path / "run", tmp_path / "events.jsonl"
    assert _fit(photos, out, events, "--warm-start", "no-such-model") == 2
    assert "Unknown model 'no-such-model'" in capsys.readouterr().err

    models = bundled_model(user_home / "models", generator("good"))
    assert cli.main(fit_args(photos["train"], out, events, 1) + ["--warm-start", MODEL_ID, "--size", "128"]) == 2
    assert "--size 128 is not the crop size it was trained at (64)" in capsys.readouterr().err
    assert _fit(photos, out, events, "--warm-start", MODEL_ID, "--base", MODEL_ID) == 2
    assert "exclude each other" in capsys.readouterr().err

    broken = models / f"{MODEL_ID}{DISCRIMINATOR_SUFFIX}"
    save_file({"conv.weight": torch.zeros(3, 3)}, str(broken))
    assert _fit(photos, out, events, "--warm-start", MODEL_ID) == 2
    assert f"{broken}: not PatchGAN discriminator weights" in capsys.readouterr().err

    card = models / f"{MODEL_ID}.json"
    data = json.loads(card.read_text())
    data["architecture"]["name"] = "deepfill"
    card.write_text(json.dumps(data))
    assert _fit(photos, out, events, "--warm-start", MODEL_ID) == 2
    assert "its architecture is 'deepfill', which this trainer does not know" in capsys.readouterr().err
    assert not (out / "checkpoints").exists()


# -- promote ---------------------------------------------------------------------------------------
def run_with(folder: Path, g: PENNetGenerator, trained_on: Path, iteration: int = 40) -> Path:
    """A run folder whose newest checkpoint holds `g` (what `fit` writes, less the optimiser)."""
    from trainer.fit.data import scan_folder
    from trainer.fit.loop import train_names

    config = {"size": 64, "batch_size": 2, "attention": "holes", "affinity": "release", "lr": 1e-4}
    save_checkpoint(folder / "checkpoints", iteration, {
        "iteration": iteration, "config": config, "generator": g.state_dict(),
        "discriminator": discriminator(7).state_dict(), "metrics": {"iteration": iteration, "psnr": 20.0},
        "data": {"path": str(trained_on)}, "hardware": "test GPU", "world_size": 1,
        "warm_start": {"id": MODEL_ID, "iterations": 1000}})
    (folder / "run.json").write_text(json.dumps({"data": {"path": str(trained_on)}, "config": config,
                                                 "train_names": train_names(scan_folder(trained_on, 64).entries)}))
    return folder


def _files(models: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(models.iterdir())}


@pytest.fixture()
def shipped(tmp_path, photos):
    """models/ with a poor bundled model (noise fills) and its discriminator."""
    return bundled_model(tmp_path / "models", generator("bad"), discriminator(2))


def _promote(run, photos, models, *extra):
    return cli.main(["promote", str(run), "--data", str(photos["val"]), "--models", str(models), "--device", "cpu",
                     *extra])


def test_a_worse_run_is_refused_and_nothing_changes(tmp_path, photos, capsys):
    shipped = bundled_model(tmp_path / "models", generator("good"), discriminator(2))
    before = _files(shipped)
    run = run_with(tmp_path / "run", generator("bad"), photos["train"])
    assert _promote(run, photos, shipped, "--limit", "1") == 0
    out = capsys.readouterr().out
    assert f"bundled {MODEL_ID}" in out and "model run (iteration 40)" in out and "opencv telea" in out
    assert "'center' masks" in out and "'free' masks" in out
    assert "verdict: not better" in out and "PSNR" in out
    assert _files(shipped) == before


def test_dry_run_then_a_better_run_replaces_generator_discriminator_and_card(tmp_path, photos, shipped, capsys):
    before = _files(shipped)
    run = run_with(tmp_path / "run", generator("good"), photos["train"])
    assert _promote(run, photos, shipped, "--dry-run") == 0
    assert "verdict: better; --dry-run" in capsys.readouterr().out
    assert _files(shipped) == before

    result = promote_module.promote(run, photos["val"], shipped, device="cpu", classical=("telea",),
                                    log=lambda *_: None)
    assert result["better"] and result["promoted"]
    assert sorted(p.name for p in shipped.iterdir()) == [f"{MODEL_ID}{DISCRIMINATOR_SUFFIX}", f"{MODEL_ID}.json",
                                                        f"{MODEL_ID}.safetensors"]  # no temporaries left
    info = ModelRegistry(bundled_dir=shipped, user_dir=tmp_path / "none").get(MODEL_ID)
    good = {k: v.half() for k, v in generator("good").state_dict().items()}
    assert _close(load_file(str(info.weights_path)), good, 0)
    load_generator(info)
    assert _close(load_discriminator(registry_module.discriminator_path(info)).state_dict(),
                  discriminator(7).state_dict(), 1e-2)
    card = json.loads(info.card_path.read_text())
    history = card["training"]["history"]  # the model as first shipped, then this window
    assert [h["iterations"] for h in history] == [1000, 40] and card["training"]["iterations"] == 1040
    assert history[1]["samples"] == 80 and history[1]["hardware"] == "test GPU"
    rows = result["reports"]["free"]["rows"]
    assert history[1]["held_out"]["free"]["psnr"] == rows[1]["psnr"] > rows[0]["psnr"]
    assert card["default"] and card["metrics"]["held_out"]["center"]["rows"][0]["method"] == "this model"
    assert card["discriminator"]["file"] == f"{MODEL_ID}{DISCRIMINATOR_SUFFIX}"


def test_the_rule_wants_higher_psnr_on_both_kinds_and_no_lower_ssim():
    row = lambda psnr, ssim: {"psnr": psnr, "ssim": ssim}  # noqa: E731
    old = {"center": row(20.0, 0.80), "free": row(30.0, 0.95)}
    assert promote_module.better({"center": row(20.1, 0.80), "free": row(30.1, 0.96)}, old) == (True, [])
    same, reasons = promote_module.better(old, old)
    assert not same and len(reasons) == 2
    ok, reasons = promote_module.better({"center": row(21.0, 0.79), "free": row(31.0, 0.95)}, old)
    assert not ok and reasons == ["center: SSIM 0.7900 is below 0.8000"]


def test_held_out_photos_the_run_trained_on_are_refused(tmp_path, photos, shipped, capsys):
    """Before anything is measured."""
    run = run_with(tmp_path / "run", generator("good"), photos["train"])
    assert cli.main(["promote", str(run), "--data", str(photos["train"]), "--models", str(shipped)]) == 2
    assert "trained on" in capsys.readouterr().err
    copy = tmp_path / "copy"
    shutil.copytree(photos["train"], copy)  # the same photos elsewhere (e.g. the carried copy)
    assert cli.main(["promote", str(run), "--data", str(copy), "--models", str(shipped)]) == 2
    assert "were in the run's training data" in capsys.readouterr().err


NAMES = [f"{MODEL_ID}.safetensors", f"{MODEL_ID}{DISCRIMINATOR_SUFFIX}", f"{MODEL_ID}.json"]


def test_a_failure_between_the_renames_puts_the_old_model_back(tmp_path, shipped, monkeypatch):
    before = _files(shipped)
    new = bundled_model(tmp_path / "new", generator("good"), discriminator(9))
    real, calls = os.replace, []

    def failing(src, dst):
        calls.append(Path(dst).name)
        if Path(dst).name == NAMES[1] and Path(src).suffix == ".new":
            raise OSError(5, "Input/output error")  # the generator is already replaced
        return real(src, dst)

    monkeypatch.setattr(promote_module.os, "replace", failing)
    with pytest.raises(OSError):
        promote_module.replace_files(shipped, [(n, (new / n).read_bytes()) for n in NAMES])
    monkeypatch.undo()
    assert NAMES[0] in calls
    assert _files(shipped) == before  # and no temporary, backup or journal is left


KILLER = """
import os, sys
from pathlib import Path
from trainer.release import promote
models, names = Path(sys.argv[1]), sys.argv[2:]
real = os.replace
def replace(src, dst):
    real(src, dst)
    if Path(dst).name == "pennet-open-photos.safetensors":
        os._exit(9)  # killed right after the generator was renamed over the old one
promote.os.replace = replace
files = [(n, Path(models.parent / "new" / n).read_bytes()) for n in names]
promote.replace_files(models, files)
"""


def test_a_kill_in_the_middle_leaves_the_old_model_once_recovered(tmp_path, shipped):
    before = _files(shipped)
    new = bundled_model(tmp_path / "new", generator("good"), discriminator(9))
    done = subprocess.run([sys.executable, "-c", KILLER, str(shipped), *NAMES], env=trainer_env(), cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    assert (shipped / f"{MODEL_ID}.safetensors").read_bytes() == (new / f"{MODEL_ID}.safetensors").read_bytes()
    assert (shipped / promote_module.JOURNAL).exists()  # half done on disk ...
    assert "undone" in promote_module.recover(shipped)  # ... and the next promote starts by undoing it
    assert _files(shipped) == before


# -- one call per window -----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_window_end_to_end_on_the_cpu_then_window_return(tmp_path, photos, user_home, monkeypatch, capsys):
    # a process of its own sees the checkout's bundled model: the tiny one gets an id of its own
    bundled_model(user_home / "models", generator("good"), discriminator(2), name="Tiny window model")
    out = tmp_path / "out"
    env = dict(trainer_env(), PY=sys.executable, RUN=str(tmp_path / "runs" / "window"), OUT=str(out),
               CORPUS=str(photos["train"].parent), WARM="tiny-window-model", SKIP_BENCH="1", INPAINT_STUDIO_HOME=str(user_home),
               TRAIN_ARGS="--batch-size 1 --device cpu --workers 0 --checkpoint-every 1000 --val-images 2 --log-every 1")
    done = subprocess.run(["bash", str(REPO / "tools" / "gpu_window.sh"), "0.1"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "iteration" in done.stdout
    assert not window.check_return(out) and len(list(out.iterdir())) <= window.RETURN_FILES
    parts = sorted(out.glob(f"{window.PART_PREFIX}*"))
    assert parts and all(p.stat().st_size <= window.PART_BYTES for p in parts)
    stopped = [e for e in read_events(out / "events.jsonl") if e["event"] == "done"][-1]
    assert stopped["status"] == "stopped" and stopped["iteration"] >= 1  # the deadline stopped it

    # back here: rebuild, promote against a poorer bundled model (so that it is promoted), figure
    models = bundled_model(tmp_path / "models", generator("bad"), discriminator(2))
    monkeypatch.setattr(registry_module, "BUNDLED_MODELS_DIR", models)
    figure = tmp_path / "results.png"
    assert cli.main(["window-return", str(out), "--data", str(photos["val"]), "--out", str(tmp_path / "back"),
                     "--figure", str(figure), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    rebuilt = latest_checkpoint(tmp_path / "back" / "checkpoints")[1]
    assert rebuilt["iteration"] == stopped["iteration"] and rebuilt["warm_start"]["id"] == "tiny-window-model"
    assert "rule: " in printed and "verdict: better" in printed and "promoted: " in printed
    assert figure.exists() and f"figure: {figure}" in printed
    card = json.loads((models / f"{MODEL_ID}.json").read_text())
    assert card["training"]["history"][-1]["iterations"] == stopped["iteration"]


def test_carry_is_measured_and_refused_over_the_limit(tmp_path, monkeypatch, capsys):
    root = tmp_path / "checkout"
    (root / "models").mkdir(parents=True)
    (root / "models" / "m.safetensors").write_bytes(b"x" * 3000)
    (root / "code.py").write_text("print(1)\n")
    (root / ".gitignore").write_text("/.corpus/\n")
    (root / ".corpus" / "train").mkdir(parents=True)
    (root / ".corpus" / "train" / "a.webp").write_bytes(b"y" * 5000)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "code.py", ".gitignore"], cwd=root, check=True)  # models/ untracked: carried too
    report = window.carry_report(root, (".corpus",))
    assert report["parts"] == {"project files": 9 + 10, "state (models/)": 3000, ".corpus": 5000}
    assert report["fits"]
    assert cli.main(["window-carry", "--root", str(root), "--carry", ".corpus"]) == 0
    assert "fits" in capsys.readouterr().out
    monkeypatch.setattr(window, "CARRY_LIMIT", 8000)
    assert cli.main(["window-carry", "--root", str(root), "--carry", ".corpus"]) == 1
    captured = capsys.readouterr()
    assert "TOO BIG" in captured.out and "over the device call's limit" in captured.err


def test_window_return_names_a_missing_part_and_writes_no_run(tmp_path):
    back = tmp_path / "back"
    back.mkdir()
    (back / f"{window.PART_PREFIX}00").write_bytes(b"x" * 10)
    (back / f"{window.PART_PREFIX}02").write_bytes(b"y" * 10)
    with pytest.raises(ValueError, match=r"parts \[0, 2\] are not 0..1: one is missing"):
        window.rebuild_run(back, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="no window.part-NN files"):
        window.rebuild_run(tmp_path / "run", tmp_path / "run2")


def test_gpu_window_names_a_missing_corpus_before_anything_starts(tmp_path):
    env = dict(trainer_env(), PY=sys.executable, CORPUS=str(tmp_path / "none"), OUT=str(tmp_path / "out"))
    done = subprocess.run(["bash", str(REPO / "tools" / "gpu_window.sh"), "1"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no carried corpus" in done.stderr
    assert not (tmp_path / "out").exists()
