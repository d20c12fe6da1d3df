"""Learn from this photo (trainer side): samples, losses that never read the real hole, a run
whose synthetic-hole error falls, the `learn-photo` command and its events, and `learn-photo-eval`."""
import numpy as np
import pytest
import torch

from inpaint_studio.engine.registry import ModelRegistry, load_generator, read_model, save_generator
from inpaint_studio.imaging import write_image, write_mask
from inpaint_studio.network import PENNetGenerator
from trainer.learn_photo.learn import LearnPhotoConfig, PhotoLearner, PhotoSamples, crop_size
from trainer.cli import main as trainer_main
from inpaint_studio.contracts.events import read_events


def photo(h=128, w=128, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 90 * np.sin(xx / 5), 128 + 90 * np.cos(yy / 7), 60 + xx + 0 * yy], -1)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def centre_hole(h=128, w=128):
    hole = np.zeros((h, w), bool)
    hole[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = True
    return hole


@pytest.fixture(scope="module")
def base_state():
    torch.manual_seed(3)
    return PENNetGenerator().state_dict()


def fresh(state):
    g = PENNetGenerator()
    g.load_state_dict(state)
    return g


def test_crop_size_rules():
    assert crop_size(1000, 800) == 256 and crop_size(256, 256) == 128 and crop_size(100, 300) == 64
    assert crop_size(300, 300, 192) == 192 and crop_size(130, 500, 256) == 128
    from trainer.learn_photo.learn import LearnPhotoError

    with pytest.raises(LearnPhotoError, match="at least 64x64"):
        crop_size(40, 300)


def test_samples_hide_the_real_hole_and_never_weigh_it():
    img, hole = photo(), centre_hole()
    image, mask, trusted = PhotoSamples(img, hole, seed=1).draw(24)
    assert image.shape == (24, 3, 64, 64) and mask.shape == trusted.shape == (24, 1, 64, 64)
    real = trusted == 0
    assert real.any()                                           # crops do include the real hole ...
    assert (image.masked_select(real.expand_as(image)) == 0).all()  # ... zeroed,
    assert (mask[real] == 1).all()                              # ... always hidden from the input,
    assert ((mask * trusted)[real] == 0).all()                  # ... and never in a loss weight
    synthetic = (mask * trusted).flatten(1).sum(1)
    assert (synthetic >= 16).all()                              # every crop has something to learn


@pytest.mark.slow
def test_real_hole_pixels_never_reach_a_loss_or_the_weights(base_state):
    """Whatever the hole holds (black, noise, NaN), the run is the same, bit for bit."""
    img, hole = photo(), centre_hole()
    black = img.copy()
    black[hole] = 0
    noise = img.copy()
    noise[hole] = np.random.default_rng(9).integers(0, 256, (int(hole.sum()), 3))
    poisoned = img.astype(np.float32)
    poisoned[hole] = np.nan
    poisoned[hole.nonzero()[0][:5], hole.nonzero()[1][:5]] = 1e30
    runs = []
    for image in (black, noise, poisoned):
        adapter = PhotoLearner(fresh(base_state), image, hole, LearnPhotoConfig(steps=3, device="cpu", lr=1e-3, seed=5))
        adapter.run(3)
        runs.append((adapter.history, adapter.generator.state_dict()))
    for history, _ in runs:
        assert all(np.isfinite(v) for terms in history for v in terms.values())
    assert runs[0][0] == runs[1][0] == runs[2][0]
    for key, value in runs[0][1].items():
        assert torch.equal(value, runs[1][1][key]) and torch.equal(value, runs[2][1][key])


@pytest.mark.slow
def test_adapting_lowers_the_error_on_synthetic_holes(base_state):
    img, hole = photo(seed=2), centre_hole()
    # float32: from random weights, 25 bf16 steps (the default on CPUs with bf16) gain less per step
    adapter = PhotoLearner(fresh(base_state), img, hole, LearnPhotoConfig(steps=25, device="cpu", lr=1e-3, seed=0,
                                                                 precision="fp32"))
    before = adapter.measure()
    assert adapter.run(25) and adapter.iteration == 25 and len(adapter.history) == 25
    after = adapter.measure()
    assert after["l1"] < 0.9 * before["l1"] and after["psnr"] > before["psnr"] + 0.5, (before, after)
    first = np.mean([h["hole"] for h in adapter.history[:5]])
    last = np.mean([h["hole"] for h in adapter.history[-5:]])
    assert last < first
    cancelled = PhotoLearner(fresh(base_state), img, hole, LearnPhotoConfig(device="cpu"))
    assert cancelled.run(10, cancel=lambda: cancelled.iteration >= 2) is False and cancelled.iteration == 2


@pytest.mark.slow
def test_learn_photo_command_saves_a_model_outside_the_list(base_state, tmp_path, user_home):
    base = save_generator(fresh(base_state), "Base", {"licence": "test licence"})
    img, hole = photo(96, 128), centre_hole(96, 128)
    write_image(tmp_path / "photo.png", img)
    write_mask(tmp_path / "hole.png", hole)
    events_file = tmp_path / "events.jsonl"
    session = tmp_path / "session"
    code = trainer_main(["learn-photo", "--model", base.id, "--image", str(tmp_path / "photo.png"),
                         "--mask", str(tmp_path / "hole.png"), "--steps", "2", "--out-name", "Base adapted",
                         "--out-dir", str(session), "--events", str(events_file), "--device", "cpu"])
    assert code == 0
    events = read_events(events_file)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "progress" in kinds
    assert [e["iteration"] for e in events if e["event"] == "validation"] == [0, 2]
    done = events[-1]
    assert done["status"] == "completed" and done["iteration"] == 2
    info = read_model(done["card_path"])
    assert info.card_path.parent == session and info.name == "Base adapted"
    assert info.card.training.adapted_from == base.id and info.card.temporary is True
    assert info.card.licence == "test licence"
    assert [m.id for m in ModelRegistry().models()] == [base.id]     # the list is not cluttered
    adapted = load_generator(info)
    assert any(not torch.equal(a, b) for a, b in zip(adapted.state_dict().values(),
                                                     load_generator(base).state_dict().values()))


@pytest.mark.parametrize("case, message", [
    ("full", "covers the whole image"), ("tiny", "at least 64x64"), ("size", "the mask is"),
    ("model", "Unknown model")])
def test_learn_photo_command_bad_input(case, message, base_state, tmp_path):
    base = save_generator(fresh(base_state), "Base", {})
    h, w = (32, 32) if case == "tiny" else (96, 96)
    write_image(tmp_path / "photo.png", photo(h, w))
    mask = np.ones((h, w), bool) if case == "full" else centre_hole(h, w)
    write_mask(tmp_path / "hole.png", mask[:, :-8] if case == "size" else mask)
    events_file = tmp_path / "events.jsonl"
    code = trainer_main(["learn-photo", "--model", "nope" if case == "model" else base.id,
                         "--image", str(tmp_path / "photo.png"), "--mask", str(tmp_path / "hole.png"),
                         "--steps", "1", "--out-name", "x", "--out-dir", str(tmp_path / "out"),
                         "--events", str(events_file), "--device", "cpu"])
    events = read_events(events_file)
    assert code == 2 and [e["event"] for e in events] == ["error"] and message in events[0]["message"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.slow
def test_learn_photo_eval_table(base_state, tmp_path, capsys):
    base = save_generator(fresh(base_state), "Base", {})
    data = tmp_path / "val"
    data.mkdir()
    for i in range(2):
        write_image(data / f"p{i}.png", photo(80, 96, seed=i))
    code = trainer_main(["learn-photo-eval", "--model", base.id, "--data", str(data), "--steps", "1", "2",
                         "--size", "64", "--masks", "center", "--limit", "2"])
    assert code == 0
    table = capsys.readouterr().out
    rows = [line.split() for line in table.splitlines() if line.startswith("center")]
    assert [r[1:3] if r[1] == "adapted" else r[1:2] for r in rows] == [["base"], ["adapted", "1"], ["adapted", "2"]]
    for r in rows:  # hole PSNR, hole SSIM, PSNR, SSIM
        assert all(np.isfinite(float(v)) for v in (r[3:7] if r[1] == "adapted" else r[2:6]))
    assert "2 photos" in table and "64px training crops" in table
