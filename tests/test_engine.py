"""Inference engines: classical and PEN-Net (random weights saved through the registry), the
strategies, paste-back, regions and batching, cancel, progress, source, flow, out-of-memory."""
import numpy as np
import pytest
import torch

from inpaint_studio.engine import (Cancelled, InpaintError, InpaintOptions, NavierStokesEngine,
                                   PatchMatchEngine, PENNetEngine, TeleaEngine, available_engines,
                                   clear_engine_cache, create_engine)
from inpaint_studio.engine import device as devices
from inpaint_studio.engine import pennet as pennet_module
from inpaint_studio.engine.blend import adapt_colours, band_weights, paste
from inpaint_studio.engine.regions import MODEL_MAX, batches, hole_groups, plan_crops
from inpaint_studio.engine.registry import ModelRegistry, save_generator
from inpaint_studio.network import PENNetGenerator


def photo(h=192, w=256, seed=0):
    """Photo-like: smooth gradients, a textured band and a few shapes, plus sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sky = np.stack([90 + 80 * yy / h, 140 + 60 * yy / h, 230 - 30 * yy / h], -1)
    ground = np.stack([100 + 30 * np.sin(xx / 3) * np.cos(yy / 4), 120 + 20 * np.sin(xx / 7), 60 + 0 * xx], -1)
    img = np.where((yy > h * 0.55)[..., None], ground, sky)
    img[(xx - w * 0.7) ** 2 + (yy - h * 0.3) ** 2 < (h * 0.1) ** 2] = (250, 230, 120)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def box_mask(shape, *boxes):
    mask = np.zeros(shape[:2], np.uint8)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = 255
    return mask


def assert_outside_unchanged(result, image, mask, feather=0):
    outside = band_weights(mask > 0, feather) == 0
    np.testing.assert_array_equal(result[outside], image[outside])


@pytest.fixture(scope="module")
def model_info(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("models")
    return save_generator(PENNetGenerator(attention="holes"), "Random test model", {"licence": "test"},
                          directory=folder)


@pytest.fixture(scope="module")
def engine(model_info):
    return PENNetEngine(model_info, device="cpu")


class Recorder:
    """Wraps a generator: records batch shapes; can raise out-of-memory a number of times."""

    def __init__(self, generator, fail=0, error=torch.OutOfMemoryError):
        self.generator, self.fail, self.error, self.shapes = generator, fail, error, []

    def __call__(self, x, mask, **kw):
        self.shapes.append(tuple(x.shape))
        if self.fail:
            self.fail -= 1
            raise self.error("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.generator(x, mask, **kw)


# -- validation, shared by every engine -----------------------------------------------------------
@pytest.mark.parametrize("make", [TeleaEngine, NavierStokesEngine, "pennet"])
def test_empty_and_full_masks(make, engine):
    eng = engine if make == "pennet" else make()
    img = photo(64, 96)
    result = eng.inpaint(img, np.zeros(img.shape[:2], np.uint8))
    assert result.changed is False and result.message == "Nothing to fill: the mask is empty."
    np.testing.assert_array_equal(result.image, img)
    assert result.image is not img
    with pytest.raises(InpaintError, match="covers the whole image"):
        eng.inpaint(img, np.ones(img.shape[:2], bool))


def test_bad_inputs_are_clear_errors():
    eng = TeleaEngine()
    img = photo(32, 32)
    with pytest.raises(InpaintError, match="HxWx3 RGB.*keep alpha apart"):
        eng.inpaint(np.dstack([img, img[..., :1]]), np.zeros((32, 32)))
    with pytest.raises(InpaintError, match="8-bit"):
        eng.inpaint(img.astype(np.float32), np.zeros((32, 32)))
    with pytest.raises(InpaintError, match="mask is 20x10 but the image is 32x32"):
        eng.inpaint(img, np.zeros((10, 20)))
    with pytest.raises(InpaintError, match="Unknown strategy 'tiles'"):
        eng.inpaint(img, np.zeros((32, 32)), InpaintOptions(strategy="tiles"))
    with pytest.raises(InpaintError, match="feather"):
        eng.inpaint(img, np.zeros((32, 32)), InpaintOptions(feather=-1))
    with pytest.raises(InpaintError, match="source region is 8x8"):
        eng.inpaint(img, np.zeros((32, 32)), InpaintOptions(source=np.ones((8, 8))))


# -- classical engines ----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [TeleaEngine, NavierStokesEngine, PatchMatchEngine])
def test_classical_fills_only_the_hole(cls):
    img = photo()
    mask = box_mask(img.shape, (20, 20, 40, 40), (150, 30, 170, 50), (0, 150, 30, 192))  # one at a corner
    calls = []
    result = cls().inpaint(img, mask, progress=lambda f, m: calls.append(f))
    assert result.changed and len(result.regions) == 3
    assert_outside_unchanged(result.image, img, mask)
    # a hole in the smooth sky is filled with sky colours, not left as it was under the mask
    filled = result.image[25:35, 25:35].astype(int)
    ring = img[15:45, 15:45][~(mask[15:45, 15:45] > 0)].astype(int)
    assert np.abs(filled.mean((0, 1)) - ring.mean(0)).max() < 12
    assert calls[0] == 0.0 and calls[-1] == 1.0 and calls == sorted(calls)


def test_patchmatch_copies_texture_from_around_the_hole_and_repeats_itself():
    """Stripes around a square hole: PatchMatch continues them; Telea smears them."""
    y, x = np.mgrid[0:96, 0:96]
    img = np.repeat(np.where((x // 4) % 2 == 0, 230, 30).astype(np.uint8)[..., None], 3, -1)
    mask = box_mask(img.shape, (36, 36, 60, 60))
    inside = mask > 0
    ours = PatchMatchEngine().inpaint(img, mask).image
    telea = TeleaEngine().inpaint(img, mask).image
    error = lambda out: np.abs(out.astype(int) - img)[inside].mean()  # noqa: E731
    assert error(ours) < 0.5 * error(telea), (error(ours), error(telea))
    np.testing.assert_array_equal(ours, PatchMatchEngine().inpaint(img, mask).image)
    assert_outside_unchanged(ours, img, mask)


def test_classical_cancel_and_source_note():
    img = photo(64, 96)
    mask = box_mask(img.shape, (10, 10, 20, 20))
    with pytest.raises(Cancelled):
        TeleaEngine().inpaint(img, mask, cancel=lambda: True)
    src = box_mask(img.shape, (50, 0, 96, 64))
    result = TeleaEngine().inpaint(img, mask, InpaintOptions(source=src))
    assert any("only by PEN-Net" in n for n in result.notes)


# -- blending -------------------------------------------------------------------------------------
def test_feather_band_weights_and_paste():
    original = np.zeros((21, 21, 3), np.uint8)
    filled = np.full((21, 21, 3), 200, np.uint8)
    hole = np.zeros((21, 21), bool)
    hole[8:13, 8:13] = True
    out = paste(original, filled, hole, feather=3)
    assert (out[hole] == 200).all()
    assert (out[10, 13] == 150).all()   # distance 1: w = 1 - 1/4
    assert (out[10, 15] == 50).all()    # distance 3: w = 1/4
    assert (out[10, 16] == 0).all() and (out[0, 0] == 0).all()
    np.testing.assert_array_equal(paste(original, filled, hole, feather=0)[~hole], 0)


def test_colour_adaptation_removes_a_smooth_tint_and_keeps_detail():
    truth = photo(96, 128).astype(np.float32)
    hole = box_mask(truth.shape, (30, 20, 90, 70)) > 0
    yy, xx = np.mgrid[0:96, 0:128].astype(np.float32)
    tint = np.stack([25 + 0.2 * xx, -15 + 0.1 * yy, 10 + 0 * xx], -1)
    detail = np.where(hole, 12 * np.sin(xx / 2), 0)[..., None]   # drawn by the "model" in the hole
    filled = truth - tint + detail
    adapted = adapt_colours(filled, truth, ~hole)
    assert adapted.dtype == np.float32 and adapted.shape == truth.shape
    error = np.abs(adapted - detail - truth)[hole]
    assert error.mean() < 1.5 and np.abs(tint).mean() > 15      # the tint is gone ...
    kept = (adapted - truth)[hole].reshape(-1, 3) - (adapted - truth)[hole].reshape(-1, 3).mean(0)
    assert np.corrcoef(kept[:, 0], detail[hole][:, 0])[0, 1] > 0.98   # ... the detail is not
    np.testing.assert_allclose(adapted[~hole], truth[~hole], atol=1e-3)
    np.testing.assert_array_equal(adapt_colours(filled, truth, np.zeros_like(hole)), filled)
    one = np.zeros_like(hole)
    one[0, 0] = True                                             # a single known pixel: its offset
    np.testing.assert_allclose(adapt_colours(truth - 7, truth, one), truth, atol=1e-3)



def test_colour_adaptation_looks_only_around_the_hole():
    truth = np.full((600, 900, 3), 100, np.float32)
    hole = np.zeros((600, 900), bool)
    hole[280:300, 440:470] = True                   # 30 px wide: the window reaches 64 px around it
    filled = truth - 5
    filled[:, :300] -= 60                           # far away, the network is much further off
    adapted = adapt_colours(filled, truth, ~hole)
    np.testing.assert_allclose(adapted[hole], 100, atol=1e-3)
    np.testing.assert_array_equal(adapted[:, :300], filled[:, :300])


# -- regions and batching -------------------------------------------------------------------------
def test_regions_merge_nearby_holes_and_partition_the_hole():
    hole = np.zeros((1500, 2000), bool)
    hole[100:140, 100:150] = hole[100:140, 170:200] = True   # 20 px apart: one region
    hole[1000:1040, 1500:1540] = True                       # far away: its own crop
    hole[400:1300, 300:1200] = True                         # huge: scaled down
    hole[0:20, 1900:2000] = True                            # touches two borders
    hole[1450:1460, 100:1900] = True                        # a long scratch: tiles at full resolution
    labels, boxes = hole_groups(hole)
    assert len(boxes) == 5 and (100, 100, 200, 140) in boxes
    crops = plan_crops(hole)
    owned = np.zeros(hole.shape, np.int32)
    for c in crops:
        x0, y0, x1, y1 = c.box
        assert 0 <= x0 < x1 <= 2000 and 0 <= y0 < y1 <= 1500
        owned[y0:y1, x0:x1] += c.owned
        mh, mw = c.model_size
        assert mh % 64 == 0 and mw % 64 == 0 and max(mh, mw) <= MODEL_MAX
    np.testing.assert_array_equal(owned, hole.astype(np.int32))  # every hole pixel exactly once
    huge = [c for c in crops if c.owned.sum() == 900 * 900]
    assert len(huge) == 1 and huge[0].scale < 1 and max(huge[0].size) == MODEL_MAX
    scratch = [c for c in crops if c.box[1] >= 1200]
    assert len(scratch) == 8 and sum(c.owned.sum() for c in scratch) == 1800 * 10
    assert all(c.scale == 1 for c in scratch)
    small = [c for c in crops if c is not huge[0] and c not in scratch]
    assert len(small) == 3 and all(c.scale == 1 and c.model_size == (256, 256) for c in small)
    groups = batches(crops, max_pixels=2 * 256 * 256)
    assert sorted(i for g in groups for i in g) == list(range(len(crops)))
    for size in {c.model_size for c in crops}:  # equal sizes together, two 256x256 per batch
        same = [g for g in groups if crops[g[0]].model_size == size]
        assert all(crops[i].model_size == size for g in same for i in g)
        count = sum(c.model_size == size for c in crops)
        per = max(1, 2 * 256 * 256 // (size[0] * size[1]))
        assert [len(g) for g in same] == [min(per, count - k) for k in range(0, count, per)]


def test_crops_of_a_request_run_as_one_batch(engine, monkeypatch):
    img = photo(300, 900)
    mask = box_mask(img.shape, (40, 40, 80, 80), (800, 200, 850, 260))
    rec = Recorder(engine.generator)
    monkeypatch.setattr(engine, "generator", rec)
    result = engine.inpaint(img, mask)
    assert rec.shapes == [(2, 4, 256, 256)]
    assert len(result.regions) == 2
    assert_outside_unchanged(result.image, img, mask)


# -- PEN-Net: strategies and paste-back -----------------------------------------------------------
@pytest.mark.parametrize("strategy", ["crop", "resize", "original"])
def test_pennet_strategies_keep_everything_outside_the_hole(engine, strategy):
    img = photo(200, 280)
    mask = box_mask(img.shape, (30, 40, 70, 90), (200, 120, 280, 200))  # second one at the corner
    result = engine.inpaint(img, mask, InpaintOptions(strategy=strategy, resize_limit=128))
    assert result.changed and result.device.startswith("cpu") and result.seconds > 0
    assert_outside_unchanged(result.image, img, mask)
    assert (result.image[mask > 0] != img[mask > 0]).any()


def test_feather_changes_only_the_band(engine):
    img = photo(128, 128)
    mask = box_mask(img.shape, (40, 40, 80, 80))
    plain = engine.inpaint(img, mask, InpaintOptions(colour_adaptation=False)).image
    soft = engine.inpaint(img, mask, InpaintOptions(feather=6, colour_adaptation=False)).image
    assert_outside_unchanged(soft, img, mask, feather=6)
    band = (band_weights(mask > 0, 6) > 0) & (mask == 0)
    assert (soft[band] != img[band]).any()
    np.testing.assert_array_equal(soft[mask > 0], plain[mask > 0])


def test_colour_adaptation_makes_a_tinted_fill_meet_the_photo(engine, monkeypatch):
    img = photo(128, 128)
    mask = box_mask(img.shape, (40, 30, 100, 90))
    truth = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1

    def tinted(x, m, **kw):    # knows the photo, but draws it 25 grey levels too dark
        return truth - 0.2, None

    monkeypatch.setattr(engine, "generator", tinted)
    hole = mask > 0
    for adapt, expected in ((False, 25.5), (True, 0.0)):
        result = engine.inpaint(img, mask, InpaintOptions(strategy="original", colour_adaptation=adapt)).image
        assert_outside_unchanged(result, img, mask)
        error = img[hole].astype(float) - result[hole].astype(float)
        assert abs(error.mean() - expected) < 1.0, adapt


def test_tiny_image_and_huge_hole(engine):
    tiny = photo(30, 41)
    mask = box_mask(tiny.shape, (10, 10, 20, 18))
    result = engine.inpaint(tiny, mask)
    assert result.image.shape == tiny.shape
    assert_outside_unchanged(result.image, tiny, mask)
    wide = photo(120, 700)
    mask = box_mask(wide.shape, (30, 10, 670, 110))  # mostly hole: scaled into the model as a whole
    result = engine.inpaint(wide, mask)
    assert result.regions == [(0, 0, 700, 120)]
    assert_outside_unchanged(result.image, wide, mask)
    scratch = box_mask(wide.shape, (20, 50, 680, 56))  # long and thin: full-resolution tiles
    result = engine.inpaint(wide, scratch)
    assert len(result.regions) == 3
    assert_outside_unchanged(result.image, wide, scratch)
    assert (result.image[scratch > 0] != wide[scratch > 0]).any()


def test_original_strategy_refuses_above_the_memory_limit(engine, monkeypatch):
    monkeypatch.setattr(pennet_module, "memory_available", lambda device: 1 << 20)
    img = photo(128, 128)
    with pytest.raises(InpaintError, match="too large for the 'original' strategy.*crop"):
        engine.inpaint(img, box_mask(img.shape, (10, 10, 30, 30)), InpaintOptions(strategy="original"))


# -- progress, cancel ----------------------------------------------------------------------------
def test_progress_and_cancel_between_batches(engine, monkeypatch):
    img = photo(192, 900)
    mask = box_mask(img.shape, (20, 20, 60, 60), (820, 120, 880, 170))
    monkeypatch.setattr(pennet_module, "MAX_BATCH", 1)  # one crop per batch
    calls = []
    engine.inpaint(img, mask, progress=lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert "Filled 1 of 2 regions" in [m for _, m in calls]
    polls = []
    rec = Recorder(engine.generator)
    monkeypatch.setattr(engine, "generator", rec)
    with pytest.raises(Cancelled):
        engine.inpaint(img, mask, cancel=lambda: polls.append(1) or len(polls) > 1)
    assert len(rec.shapes) == 1  # the first batch ran, the second was never started


# -- source region and flow -----------------------------------------------------------------------
def test_source_region_limits_where_attention_copies_from(engine):
    img = photo(128, 256)
    mask = box_mask(img.shape, (100, 40, 150, 90))
    source = box_mask(img.shape, (190, 0, 256, 128))
    result = engine.inpaint(img, mask, InpaintOptions(source=source, return_flow=True))
    assert result.flow.shape == (128, 256, 2) and result.flow.dtype == np.float32
    hole = mask > 0
    assert np.isfinite(result.flow[hole]).all() and np.isnan(result.flow[~hole]).all()
    ys, xs = np.nonzero(hole)
    sx = xs + result.flow[hole][:, 0]
    sy = ys + result.flow[hole][:, 1]
    assert (sx >= 190 - 8).all() and (sx < 256).all() and (sy >= 0).all() and (sy < 128).all()
    with pytest.raises(InpaintError, match="source region has no pixels outside the hole"):
        engine.inpaint(img, mask, InpaintOptions(source=mask))


def test_flow_with_every_strategy(engine):
    img = photo(160, 200)
    mask = box_mask(img.shape, (60, 50, 110, 100))
    for strategy in ("crop", "resize"):
        result = engine.inpaint(img, mask, InpaintOptions(strategy=strategy, resize_limit=128, return_flow=True))
        assert result.flow.shape == (160, 200, 2)
        assert np.isfinite(result.flow[mask > 0]).all()
        ys, xs = np.nonzero(mask > 0)
        sx, sy = xs + result.flow[mask > 0][:, 0], ys + result.flow[mask > 0][:, 1]
        assert ((sx > -8) & (sx < 208) & (sy > -8) & (sy < 168)).all()


# -- out of memory -------------------------------------------------------------------------------
def test_oom_once_retries_with_smaller_batches_then_crops(engine, monkeypatch):
    img = photo(300, 900)
    mask = box_mask(img.shape, (40, 40, 80, 80), (800, 200, 850, 260))
    base = engine.generator
    rec = Recorder(base, fail=1)
    monkeypatch.setattr(engine, "generator", rec)
    result = engine.inpaint(img, mask)
    assert rec.shapes[0][0] == 2 and all(s[0] == 1 for s in rec.shapes[1:])
    assert pennet_module.NOTE_SMALLER_BATCHES in result.notes
    assert_outside_unchanged(result.image, img, mask)

    single = box_mask(img.shape, (40, 40, 80, 80))
    rec = Recorder(base, fail=1, error=lambda m: RuntimeError(m))
    monkeypatch.setattr(engine, "generator", rec)
    result = engine.inpaint(img, single)
    assert rec.shapes == [(1, 4, 256, 256), (1, 4, 128, 128)]
    assert pennet_module.NOTE_SMALLER_CROPS in result.notes
    assert_outside_unchanged(result.image, img, single)


def test_oom_on_the_gpu_falls_back_to_the_cpu(engine, monkeypatch):
    """The engine believes it runs on an accelerator whose every call runs out of memory."""
    img = photo(128, 128)
    mask = box_mask(img.shape, (40, 40, 80, 80))
    cpu_generator = engine.cpu_generator()
    monkeypatch.setattr(engine, "device", torch.device("meta"))
    monkeypatch.setattr(engine, "generator", Recorder(None, fail=10**6))
    monkeypatch.setattr(engine, "_cpu_generator", cpu_generator)
    result = engine.inpaint(img, mask)
    assert pennet_module.NOTE_CPU in result.notes and result.device.startswith("cpu")
    assert_outside_unchanged(result.image, img, mask)


def test_oom_on_the_cpu_is_a_clear_error(engine, monkeypatch):
    monkeypatch.setattr(engine, "generator", Recorder(engine.generator, fail=10**6))
    img = photo(128, 128)
    with pytest.raises(InpaintError, match="Not enough memory"):
        engine.inpaint(img, box_mask(img.shape, (40, 40, 80, 80)))


# -- engine choice and devices --------------------------------------------------------------------
def test_available_and_create_engines(tmp_path, model_info):
    registry = ModelRegistry(bundled_dir=tmp_path / "none", user_dir=tmp_path / "models")
    assert [c[0] for c in available_engines(registry)] == ["auto", "telea", "ns", "patchmatch"]
    first = save_generator(PENNetGenerator(), "Alpha", {}, directory=registry.user_dir)
    second = save_generator(PENNetGenerator(), "Beta", {}, directory=registry.user_dir)
    registry.set_default(second.id)
    choices = available_engines(registry)
    assert [c[0] for c in choices] == ["auto", second.id, first.id, "telea", "ns", "patchmatch"]
    assert [c[2] for c in choices] == ["auto", "pennet", "pennet", "classical", "classical", "classical"]
    clear_engine_cache()
    a = create_engine(second.id, device="cpu", registry=registry)
    assert isinstance(a, PENNetEngine) and a is create_engine(second.id, device="cpu", registry=registry)
    auto = create_engine("auto", device="cpu", registry=registry)
    assert auto.model is a                                      # Auto uses the default model, cached
    assert isinstance(create_engine("telea"), TeleaEngine) and isinstance(create_engine("ns"), NavierStokesEngine)
    assert isinstance(create_engine("patchmatch"), PatchMatchEngine)
    with pytest.raises(InpaintError, match="Unknown model 'nope'.*telea, ns, patchmatch"):
        create_engine("nope", registry=registry)
    clear_engine_cache()


def test_cpu_bf16_fills_like_fp32_and_keeps_the_rest_exact(model_info):
    image, mask = photo(), box_mask((192, 256), (60, 80, 130, 170))
    results = {p: PENNetEngine(model_info, device="cpu", precision=p, warm_up=False).inpaint(image, mask)
               for p in ("fp32", "bf16")}
    assert results["bf16"].device == "cpu · bf16" and results["fp32"].device == "cpu"
    for result in results.values():
        assert_outside_unchanged(result.image, image, mask)
    hole = mask > 0
    diff = np.abs(results["bf16"].image.astype(int) - results["fp32"].image.astype(int))[hole]
    assert diff.mean() < 1.0 and diff.max() <= 16


def test_devices(monkeypatch):
    assert devices.resolve_device("cpu").type == "cpu"
    with pytest.raises(InpaintError, match="Unknown device 'tpu'"):
        devices.resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    assert devices.resolve_device("auto").type == "cpu"
    with pytest.raises(InpaintError, match="CUDA device was requested but is not available"):
        devices.resolve_device("cuda")
    with pytest.raises(InpaintError, match="MPS"):
        devices.resolve_device("mps")
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert devices.autocast_dtype(cpu) is None and devices.autocast_dtype(cpu, "fp16") is None
    assert devices.autocast_dtype(cpu, "bf16") is torch.bfloat16  # asked for: emulated, but honoured
    with devices.autocast(cpu):
        assert not torch.is_autocast_enabled("cpu")
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)  # AVX512-BF16 / AMX
    assert devices.autocast_dtype(cpu) is torch.bfloat16 and devices.autocast_dtype(cpu, "fp32") is None
    with devices.autocast(cpu):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") is torch.bfloat16
    assert devices.describe(cpu, "auto") == "cpu · bf16" and devices.describe(cpu) == "cpu"
    assert devices.autocast_dtype(torch.device("mps")) is None
    assert devices.autocast_dtype(cuda) is torch.float16
    assert devices.autocast_dtype(cuda, "bf16") is torch.bfloat16 and devices.autocast_dtype(cuda, "fp32") is None
    assert devices.is_out_of_memory(torch.OutOfMemoryError("x"))
    assert devices.is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate"))
    assert not devices.is_out_of_memory(RuntimeError("shape mismatch"))
