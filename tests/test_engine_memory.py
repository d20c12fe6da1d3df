"""Engine memory stays bounded: colour adaptation of a large fill works in strips on a grid of
blocks (allocations measured with tracemalloc, small images); the long-running engine caps
oneDNN's per-shape caches and hands freed memory back. The figures on real sizes are printed by
tools/memory_bench.py, not asserted here."""
import os
import tracemalloc

import numpy as np

from inpaint_studio.engine import blend
from inpaint_studio.engine.blend import adapt_colours


def _tinted(h, w, hole_box):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    truth = np.stack([100 + 40 * np.sin(xx / 97), 120 + 30 * np.cos(yy / 71), 90 + 0 * xx], -1)
    x0, y0, x1, y1 = hole_box
    hole = np.zeros((h, w), bool)
    hole[y0:y1, x0:x1] = True
    tint = np.stack([20 + 0.02 * xx, -10 + 0.01 * yy, 5 + 0 * xx], -1)
    return truth.astype(np.float32), (truth - tint).astype(np.float32), hole


def test_a_large_window_is_adapted_on_blocks_like_the_exact_spread(monkeypatch):
    truth, filled, hole = _tinted(600, 800, (200, 150, 600, 450))
    exact = adapt_colours(filled, truth, ~hole)
    monkeypatch.setattr(blend, "ADAPT_MAX_SIDE", 128)             # 7 x 7 px blocks
    coarse = adapt_colours(filled, truth, ~hole)
    before = np.abs(filled - truth)[hole].mean()
    assert before > 10
    assert np.abs(coarse - truth)[hole].mean() < 0.5 and np.abs(coarse - exact)[hole].max() < 2.0


def test_adapting_a_large_fill_allocates_a_fraction_of_it(monkeypatch):
    """The whole-photo case (`--strategy resize`, a big hole): the fill is corrected in place and
    temporaries are strips and blocks. Before, about ten fill-sized float copies were alive."""
    truth, filled, hole = _tinted(900, 1200, (300, 200, 900, 700))
    truth_u8 = truth.astype(np.uint8)
    monkeypatch.setattr(blend, "ADAPT_MAX_SIDE", 128)          # blocks of 10 x 10 px
    monkeypatch.setattr(blend, "_STRIP_ROWS", 40)
    known = ~hole
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = adapt_colours(filled, truth_u8, known, in_place=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out is filled
    assert peak < 0.5 * filled.nbytes, f"peak {peak / 2**20:.1f} MB for a {filled.nbytes / 2**20:.1f} MB fill"
    assert np.abs(out - truth)[hole].mean() < 1.0


def test_the_engine_caps_the_kernel_caches_and_trims_after_each_request(monkeypatch):
    """oneDNN keeps kernels for every shape it meets: the engine caps its caches before its first
    convolution (a value the user set wins) and hands freed heap back after every request."""
    import torch

    from inpaint_studio.engine import device, pennet
    from inpaint_studio.engine.registry import save_generator
    from inpaint_studio.network import PENNetGenerator

    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "")   # recorded, so the test leaves it as it was
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY")
    monkeypatch.setenv("LRU_CACHE_CAPACITY", "99")
    torch.manual_seed(0)
    info = save_generator(PENNetGenerator(), "Memory test", {})
    trims = []
    monkeypatch.setattr(pennet, "release_host_memory", lambda: trims.append(1))
    engine = pennet.PENNetEngine(info, device="cpu", warm_up=False)
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == str(device.KERNEL_CACHE_ENTRIES)
    assert os.environ["LRU_CACHE_CAPACITY"] == "99"
    image = np.zeros((64, 64, 3), np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:30, 20:30] = 255
    engine.inpaint(image, mask)
    engine.inpaint(image, np.zeros_like(mask))          # nothing to fill: still trimmed
    assert len(trims) == 2
    device.release_host_memory()                        # the real one runs where glibc is
