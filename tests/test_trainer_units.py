"""Trainer building blocks: masks, metrics, losses, checkpoints, events, config, data."""
import errno
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from test_trainer_support import make_folder, photo
from trainer.fit import checkpoint as ckpt
from inpaint_studio.contracts.training import learning_rate
from trainer.fit.config import build_config
from trainer.fit.data import (DataError, SampleStream, TrainImages, ValImages, holdout, random_crop,
                          scan_folder)
from inpaint_studio.contracts.events import read_events
from trainer.events import EventWriter
from trainer.fit.losses import LossWeights, discriminator_hinge, generator_losses, masked_l1, pyramid_l1
from trainer.fit.masks import EVAL_MASK_KINDS, MaskGenerator, fixed_masks, to_tensor
from trainer.fit.metrics import l1, psnr, ssim


# -- masks ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", EVAL_MASK_KINDS)
def test_masks_are_seeded_and_leave_context(kind):
    a = fixed_masks(kind, 12, 64, 96, seed=3)
    b = fixed_masks(kind, 12, 64, 96, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    for m in a:
        assert m.shape == (64, 96) and m.dtype == np.uint8
        assert set(np.unique(m)) <= {0, 255}
        cover = np.count_nonzero(m) / m.size
        assert 0 < cover <= 0.7
    if kind != "center":
        assert not all(np.array_equal(a[0], m) for m in a[1:]), "a random kind gave identical masks"
        assert not np.array_equal(a[0], fixed_masks(kind, 1, 64, 96, seed=4)[0])


def test_square_masks_are_squares_up_to_half_the_side():
    for m in fixed_masks("square", 30, 128, seed=0):
        ys, xs = np.nonzero(m)
        h, w = np.ptp(ys) + 1, np.ptp(xs) + 1
        assert h == w and 16 <= h <= 64
        assert np.count_nonzero(m) == h * w


def test_free_form_masks_are_thin_strokes_not_boxes():
    fills = []
    for m in fixed_masks("free", 20, 128, seed=1):
        ys, xs = np.nonzero(m)
        fills.append(np.count_nonzero(m) / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1)))
    assert np.median(fills) < 0.8  # strokes fill a small part of their bounding box


def test_mask_generator_rejects_unknown_kind():
    with pytest.raises(ValueError, match="mask kind"):
        MaskGenerator("triangles")


def test_to_tensor_marks_holes_with_one():
    m = np.zeros((4, 4), np.uint8)
    m[1, 2] = 255
    t = to_tensor(m)
    assert t.shape == (1, 4, 4) and t.dtype == torch.float32 and t.sum() == 1 and t[0, 1, 2] == 1


# -- metrics ----------------------------------------------------------------------------------------
def test_ssim_of_identical_images_is_one_and_drops_with_noise():
    x = torch.from_numpy(photo(1, 64, 64)).permute(2, 0, 1)[None].float() / 255
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
    g = torch.Generator().manual_seed(0)
    light = (x + 0.02 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    heavy = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert 1 > ssim(x, light).item() > ssim(x, heavy).item() > 0
    assert ssim(x, heavy).item() == pytest.approx(ssim(heavy, x).item(), abs=1e-6)


def test_ssim_of_flat_images_matches_the_formula():
    # flat images: no variance, so SSIM is the luminance term (2ab + C1) / (a^2 + b^2 + C1)
    a, b, c1 = 0.3, 0.6, 0.01 ** 2
    x, y = torch.full((1, 3, 32, 32), a), torch.full((1, 3, 32, 32), b)
    assert ssim(x, y).item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-5)


def test_psnr_and_l1_values():
    x = torch.zeros(2, 3, 8, 8)
    y = torch.full((2, 3, 8, 8), 0.1)
    assert psnr(x, y).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)  # mse 0.01
    assert l1(x, y).tolist() == pytest.approx([0.1, 0.1], abs=1e-6)


# -- losses -----------------------------------------------------------------------------------------
def test_generator_losses_are_finite_and_weighted():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    output = torch.rand(2, 3, 64, 64, requires_grad=True)
    mask = torch.from_numpy(np.stack(fixed_masks("mixed", 2, 64, seed=0)) > 0).float()[:, None]
    pyramid = [torch.rand(2, 3, 64 // 2 ** k, 64 // 2 ** k) for k in range(1, 6)]
    w = LossWeights()
    terms = generator_losses(output, pyramid, image, mask, torch.randn(2, 1, 8, 8), w)
    assert all(torch.isfinite(v) for v in terms.values())
    expected = 6 * terms["hole"] + terms["valid"] + 0.5 * terms["pyramid"] + 0.1 * terms["adversarial"]
    assert terms["generator"].item() == pytest.approx(expected.item(), rel=1e-6)
    terms["generator"].backward()
    assert torch.isfinite(output.grad).all() and output.grad.abs().sum() > 0


def test_hole_and_valid_l1_are_means_over_their_own_pixels():
    target = torch.zeros(1, 3, 4, 4)
    output = torch.zeros(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :1, :] = 1  # a quarter of the image
    output[..., :1, :] = 0.5  # wrong only in the hole
    assert masked_l1(output, target, mask).item() == pytest.approx(0.5)
    assert masked_l1(output, target, 1 - mask).item() == pytest.approx(0.0)
    # a mask with no hole at all stays finite
    assert masked_l1(output, target, torch.zeros_like(mask)).item() == 0.0


def test_pyramid_l1_compares_against_the_downscaled_truth():
    truth = torch.rand(1, 3, 32, 32)
    exact = [torch.nn.functional.avg_pool2d(truth, 2 ** k) for k in (1, 2, 3)]
    assert pyramid_l1(exact, truth).item() == pytest.approx(0.0, abs=1e-6)
    assert pyramid_l1([e + 0.1 for e in exact], truth).item() == pytest.approx(0.3, abs=1e-5)


def test_discriminator_hinge():
    assert discriminator_hinge(torch.tensor([2.0]), torch.tensor([-3.0])).item() == 0.0
    assert discriminator_hinge(torch.tensor([0.0]), torch.tensor([0.0])).item() == 2.0


# -- checkpoints ------------------------------------------------------------------------------------
def _payload(value: float) -> dict:
    model = torch.nn.Linear(3, 2)
    torch.nn.init.constant_(model.weight, value)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.5, 0.999))
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    return {"iteration": int(value), "model": model.state_dict(), "opt": opt.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "python": (3, (1, 2, 3), None)},
            "config": {"lr": 1e-4, "val": None}, "metrics": None}


def test_checkpoint_round_trip_keeps_tensors_types_and_optimizer_state(tmp_path):
    folder = tmp_path / "checkpoints"
    payload = _payload(2.0)
    path = ckpt.save_checkpoint(folder, 2, payload)
    back = ckpt.load_checkpoint(path)
    assert torch.equal(back["model"]["weight"], payload["model"]["weight"])
    assert back["rng"]["python"] == (3, (1, 2, 3), None)
    assert torch.equal(back["rng"]["torch"], payload["rng"]["torch"])
    assert back["opt"]["param_groups"][0]["betas"] == (0.5, 0.999)
    assert set(back["opt"]["state"]) == {0, 1}  # integer keys survive
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    opt.load_state_dict(back["opt"])
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], payload["opt"]["state"][0]["exp_avg"])
    assert back["config"] == {"lr": 1e-4, "val": None} and back["metrics"] is None


def test_checkpoints_keep_the_last_few(tmp_path):
    folder = tmp_path / "checkpoints"
    for it in (1, 2, 3, 4):
        ckpt.save_checkpoint(folder, it, _payload(float(it)), keep=2)
    assert [i for i, _ in ckpt.list_checkpoints(folder)] == [3, 4]
    path, payload = ckpt.latest_checkpoint(folder)
    assert payload["iteration"] == 4 and path.name == "ckpt-000000004.safetensors"


def test_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints"
    ckpt.save_checkpoint(folder, 1, _payload(1.0))

    def full_disk(path, data):
        with open(path, "wb") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "_write_file", full_disk)
    with pytest.raises(ckpt.CheckpointError, match="No space left on device.*previous checkpoint is kept"):
        ckpt.save_checkpoint(folder, 2, _payload(2.0))
    assert [p.name for p in folder.iterdir()] == ["ckpt-000000001.safetensors"]  # no temp file left
    assert ckpt.latest_checkpoint(folder)[1]["iteration"] == 1


def test_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path):
    folder = tmp_path / "checkpoints"
    ckpt.save_checkpoint(folder, 1, _payload(1.0))
    ckpt.checkpoint_path(folder, 2).write_bytes(b"garbage")
    assert ckpt.latest_checkpoint(folder)[1]["iteration"] == 1
    ckpt.checkpoint_path(folder, 1).write_bytes(b"garbage too")
    with pytest.raises(ckpt.CheckpointError, match="unreadable checkpoint"):
        ckpt.latest_checkpoint(folder)


# -- events -----------------------------------------------------------------------------------------
def test_events_are_strict_json_lines_flushed_at_once(tmp_path):
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path=path)
    writer.emit("progress", iteration=3, total=10, losses={"hole": float("nan"), "valid": 0.5},
                samples_per_s=np.float32(2.5), eta_s=None, path=tmp_path)
    lines = path.read_text().splitlines()  # readable before close: flushed
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "progress" and isinstance(record["time"], float)
    assert record["losses"] == {"hole": None, "valid": 0.5} and record["samples_per_s"] == 2.5
    assert record["path"] == str(tmp_path)
    writer.close()
    with pytest.raises(ValueError, match="unknown event"):
        EventWriter(stream=io.StringIO()).emit("finished")


def test_silent_writer_writes_nothing():
    stream = io.StringIO()
    EventWriter(stream=stream, enabled=False).emit("start")
    assert stream.getvalue() == ""


def test_read_events_ignores_a_half_written_last_line(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"event": "start", "time": 1}\n{"event": "progr')
    assert [e["event"] for e in read_events(path)] == ["start"]


# -- config -----------------------------------------------------------------------------------------
def test_config_defaults_finetune_defaults_and_resume_rules(tmp_path):
    scratch = build_config({"data": "/d", "out": "/o"})
    assert (learning_rate(scratch, 8, 0), scratch.betas, scratch.iterations) == (1e-4, (0.5, 0.999), 200_000)
    assert scratch.weights == LossWeights(6.0, 1.0, 0.5, 0.1)
    tuned = build_config({"data": "/d", "out": "/o", "base": "pennet-places2"})
    from inpaint_studio.contracts.training import FINETUNE

    assert learning_rate(tuned, 2, 0) == FINETUNE["lr"] and tuned.iterations == FINETUNE["iterations"]
    assert tuned.weights.adversarial == FINETUNE["weights"]["adversarial"] and tuned.schedule == FINETUNE["schedule"]
    assert build_config({"data": "/d", "out": "/o", "base": "m", "lr": 1e-3}).lr == 1e-3
    saved = build_config({"data": "/d", "out": "/o", "iterations": 50, "hole_weight": None,
                          "weights": {"hole": 3.0}}).to_dict()
    resumed = build_config({"out": "/o", "iterations": 80, "data": None}, saved)
    assert resumed.iterations == 80 and resumed.weights.hole == 3.0 and resumed.data == "/d"
    # photos still where the run found them: the folder is part of the run
    with pytest.raises(ValueError, match="--data cannot change when resuming"):
        build_config({"out": "/o", "data": "/elsewhere"}, dict(saved, data=str(tmp_path)))
    # photos gone from there (the run moved to another machine): they may be given anew
    assert build_config({"out": "/o", "data": "/elsewhere"}, saved).data == "/elsewhere"
    with pytest.raises(ValueError, match="multiple of 64"):
        build_config({"data": "/d", "out": "/o", "size": 100})


# -- data -------------------------------------------------------------------------------------------
def test_scan_counts_unreadable_and_ignored_files(tmp_path):
    folder = make_folder(tmp_path / "photos", images=3)
    scan = scan_folder(folder, 64)
    names = sorted(p.split("/")[-1] for p in (e.path for e in scan.entries))
    assert names == ["photo0.png", "photo1.jpg", "photo2.png"]  # photo0 is in a subfolder
    reasons = dict((p.split("/")[-1], r) for p, r in scan.unreadable)
    assert set(reasons) == {"broken.png", "truncated.jpg"}  # the truncated one has a valid header
    assert "not an image" in reasons["broken.png"] and "truncated" in reasons["truncated.jpg"]
    assert scan.ignored == 1
    summary = scan.summary()
    assert summary["images"] == 3 and summary["unreadable"] == 2 and summary["megapixels"] > 0
    assert any("skipped 2 unreadable files" in line for line in scan.report())


def test_small_images_are_upscaled_or_skipped(tmp_path):
    folder = make_folder(tmp_path / "small", images=2, corrupt=False, size=(48, 50))
    scan = scan_folder(folder, 64)
    assert len(scan.entries) == 2 and len(scan.upscaled) == 2
    assert any("will be upscaled" in line for line in scan.report())
    with pytest.raises(DataError, match="no usable images.*2 image files found.*smaller than 64 px"):
        scan_folder(folder, 64, small="skip")
    with pytest.raises(DataError, match="smaller than 64 px"):
        scan_folder(folder, 256)  # below a quarter of the crop: never upscaled


@pytest.mark.parametrize("setup, message", [
    (lambda p: p, "no such folder"),
    (lambda p: (p.write_text("x"), p)[1], "not a folder"),
    (lambda p: (p.mkdir(), p)[1], "no usable images \\(no files ending in .png"),
])
def test_unusable_folders_are_clear_errors(tmp_path, setup, message):
    with pytest.raises(DataError, match=message):
        scan_folder(setup(tmp_path / "where"), 64)


def test_holdout_is_fixed_and_disjoint(tmp_path):
    entries = list(range(40))
    train, val = holdout(entries, 0.05, seed=0)
    assert len(val) == 2 and not set(train) & set(val) and len(train) + len(val) == 40
    assert holdout(entries, 0.05, seed=0) == (train, val)
    assert holdout([7], 0.05) == ([7], [7])


def test_samples_are_seeded_augmented_and_skip_unreadable_images(tmp_path):
    folder = make_folder(tmp_path / "photos", images=3)
    scan = scan_folder(folder, 64)
    dataset = TrainImages(scan.entries, 64, "mixed")
    a, b = dataset[(0, 5, 0, 0, 1)], dataset[(0, 5, 0, 0, 1)]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    assert a["image"].shape == (3, 64, 64) and a["mask"].shape == (1, 64, 64)
    assert -1 <= a["image"].min() and a["image"].max() <= 1 and 0 < a["mask"].mean() < 1
    assert not torch.equal(a["image"], dataset[(0, 5, 0, 0, 2)]["image"])
    # a file damaged after the scan (edited, synced, half-copied) is replaced by the next image
    bad = next(i for i, e in enumerate(scan.entries) if e.path.endswith("photo2.png"))
    Path(scan.entries[bad].path).write_bytes(b"gone")
    item = dataset[(bad, 0, 0, 0, 0)]
    assert [p.split("/")[-1] for p, _ in item["failed"]] == ["photo2.png"]
    assert item["image"].shape == (3, 64, 64)


def test_random_crops_span_scales():
    rgb = photo(0, 400, 300)
    rng = np.random.default_rng(0)
    crops = [random_crop(rgb, 64, rng) for _ in range(20)]
    assert all(c.shape == (64, 64, 3) for c in crops)
    assert len({c.tobytes() for c in crops}) == 20


def test_crop_scale_keeps_crops_near_the_whole_scene():
    """The red channel ramps across the photo, so a crop's range of red tells its side."""
    ramp = np.linspace(0, 255, 400, dtype=np.float32)
    rgb = np.zeros((300, 400, 3), np.uint8)
    rgb[..., 0] = ramp.round().astype(np.uint8)[None, :]
    rng = np.random.default_rng(0)

    def sides(scale):
        crops = [random_crop(rgb, 64, rng, scale) for _ in range(40)]
        return [(int(c[..., 0].max()) - int(c[..., 0].min())) / 255 * 400 for c in crops]

    free, whole, half = sides(0.0), sides(1.0), sides(0.5)
    assert min(free) < 150                         # down to the crop size: fine detail
    assert all(s > 290 for s in whole)             # the short side (300 px), every time
    assert min(half) > 140 and max(half) > 250     # between half the short side and all of it


def test_sample_stream_resumes_where_it_stopped():
    dataset = list(range(5))
    full = SampleStream(dataset, seed=1)
    keys = [k for _, k in zip(range(17), full)]
    resumed = SampleStream(dataset, seed=1, skip=11)
    assert [k for _, k in zip(range(6), resumed)] == keys[11:]
    epoch0 = sorted(k[0] for k in keys[:5])
    assert epoch0 == [0, 1, 2, 3, 4]
    shards = [[k[0] for _, k in zip(range(3), SampleStream(dataset, seed=1, rank=r, world=2))] for r in (0, 1)]
    assert set(shards[0]) | set(shards[1]) == {0, 1, 2, 3, 4}  # two ranks cover the data between them
    assert shards[0] != shards[1]


def test_validation_images_are_fixed(tmp_path):
    folder = make_folder(tmp_path / "photos", images=3)
    entries = scan_folder(folder, 64).entries
    Path(entries[0].path).write_bytes(b"damaged after the scan")
    a, b = ValImages(entries, 64, "mixed", limit=10), ValImages(entries, 64, "mixed", limit=10)
    assert len(a) == 2 and [p for p, _ in a.skipped] == [entries[0].path]
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert a.images.shape == (2, 3, 64, 64) and -1 <= a.images.min() and a.images.max() <= 1


def test_auto_precision_uses_bf16_on_cpus_that_have_it(monkeypatch):
    from inpaint_studio.engine import device

    cpu, T = torch.device("cpu"), device.TRAINING
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert device.resolve_precision("auto", cpu, T) == "bf16" and device.resolve_precision("fp32", cpu, T) == "fp32"
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    assert device.resolve_precision("auto", cpu, T) == "fp32" and device.resolve_precision("bf16", cpu, T) == "bf16"
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        device.resolve_precision("fp16", cpu, T)
    assert device.resolve_precision("fp16", cpu) == "fp32"      # inference: a GPU format means fp32 here
