"""PEN-Net network: the ATN against a direct transcription of eqs. (2)-(4), the two attention
modes against each other, release-format weights, shapes."""
import functools
import math

import pytest
import torch
import torch.nn.functional as F

from inpaint_studio.network import AttentionTransfer, PatchDiscriminator, PENNetGenerator, generator_input


# -- a direct, slow transcription of eqs. (2)-(4) -----------------------------------------------
def _cell_holes(mask2d, rows, cols):
    """A cell of a coarser grid is a hole when any input pixel under it is."""
    h, w = mask2d.shape
    fy, fx = h // rows, w // cols
    return [[bool(mask2d[i * fy:(i + 1) * fy, j * fx:(j + 1) * fx].any()) for j in range(cols)] for i in range(rows)]


def slow_transfer(low, high, mask, ksize, affinity, scale=10.0, floor=1e-4, everywhere=False):
    b_, c1, h1, w1 = low.shape
    _, _, h2, w2 = high.shape
    pad = ksize // 2
    out = low.clone()
    for b in range(b_):
        hole2 = _cell_holes(mask[b, 0], h2, w2)
        hole1 = _cell_holes(mask[b, 0], h1, w1)
        hp = F.pad(high[b], (pad, pad, pad, pad))
        lp = F.pad(low[b], (1, 1, 1, 1))

        def patch(i, j):  # matching patch p^l centred on (i, j), zero outside the map
            return hp[:, i:i + ksize, j:j + ksize].reshape(-1)

        def known(i, j):  # fully outside the hole
            return not any(hole2[y][x] for y in range(i - pad, i + pad + 1) for x in range(j - pad, j + pad + 1)
                           if 0 <= y < h2 and 0 <= x < w2)

        keys = [(i, j) for i in range(h2) for j in range(w2) if known(i, j)]
        acc = torch.zeros(c1, h1 + 2, w1 + 2, dtype=torch.float64)
        for i in range(h2):
            for j in range(w2):
                p_j = patch(i, j).double()
                if affinity == "paper":
                    p_j = p_j / max(p_j.norm().item(), floor)
                s = [float(p_j @ (patch(u, v).double() / max(patch(u, v).norm().item(), floor))) for u, v in keys]
                exps = [math.exp(scale * x) for x in s]           # eq. (3)
                denom = sum(exps)
                if affinity == "release":                          # hole patches score 0 in the softmax
                    denom += h2 * w2 - len(keys)
                for (u, v), e in zip(keys, exps):                  # eq. (4), 4x4 patches at stride 2
                    acc[:, 2 * i:2 * i + 4, 2 * j:2 * j + 4] += (e / denom) * lp[:, 2 * u:2 * u + 4, 2 * v:2 * v + 4].double()
        filled = (acc[:, 1:-1, 1:-1] / 4).float()
        for y in range(h1):
            for x in range(w1):
                if hole1[y][x] or everywhere:
                    out[b, :, y, x] = filled[:, y, x]
    return out


def _random_case(seed, b=2, c=4, h2=8, size=64):
    g = torch.Generator().manual_seed(seed)
    high = torch.randn(b, c, h2, h2, generator=g)
    low = torch.randn(b, c, 2 * h2, 2 * h2, generator=g)
    mask = torch.zeros(b, 1, size, size)
    mask[0, :, 20:44, 16:40] = 1          # a square
    if b > 1:
        mask[1, :, 5:9, :] = 1            # a thin stripe across the image
        mask[1, :, 40:60, 48:62] = 1
    return low, high, mask


def _hole_cells(mask, h, w):
    return F.adaptive_max_pool2d(mask, (h, w)).expand(-1, 1, -1, -1) > 0


@pytest.mark.parametrize("affinity", ["release", "paper"])
@pytest.mark.parametrize("ksize", [3, 1])
def test_atn_matches_direct_transcription_of_eqs_2_to_4(affinity, ksize):
    low, high, mask = _random_case(seed=ksize)
    atn = AttentionTransfer(4, 4, ksize=ksize, fuse=False, mode="holes", affinity=affinity)
    got, _ = atn.transfer(low, high, mask)
    want = slow_transfer(low, high, mask, ksize, affinity)
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()


@pytest.mark.parametrize("affinity", ["release", "paper"])
def test_holes_mode_equals_reference_on_hole_pixels(affinity):
    low, high, mask = _random_case(seed=7)
    atn = AttentionTransfer(4, 4, fuse=False, affinity=affinity)
    atn.mode = "holes"
    holes, _ = atn.transfer(low, high, mask)
    atn.mode = "reference"
    reference, _ = atn.transfer(low, high, mask)
    hole = _hole_cells(mask, *low.shape[-2:]).expand_as(low)
    assert torch.allclose(holes[hole], reference[hole], atol=1e-5)
    # holes mode keeps every known feature as it was; reference rebuilds them
    assert torch.equal(holes[~hole], low[~hole])
    assert not torch.allclose(reference[~hole], low[~hole])


def test_reference_mode_rebuilds_known_positions_like_the_transcription():
    low, high, mask = _random_case(seed=3, b=1)
    atn = AttentionTransfer(4, 4, fuse=False, mode="reference", affinity="release")
    reference, _ = atn.transfer(low, high, mask)
    everywhere = slow_transfer(low, high, mask, 3, "release", everywhere=True)
    assert torch.allclose(reference, everywhere, atol=1e-4)


def test_batch_items_do_not_interact_and_chunking_does_not_change_results():
    low, high, mask = _random_case(seed=11)
    atn = AttentionTransfer(4, 4, fuse=False)
    together, _ = atn.transfer(low, high, mask)
    atn.chunk_elements = 7  # one query row at a time
    for i in range(2):
        alone, _ = atn.transfer(low[i:i + 1], high[i:i + 1], mask[i:i + 1])
        assert torch.allclose(together[i:i + 1], alone, atol=1e-6)


@pytest.mark.parametrize("mode", ["holes", "reference"])
@pytest.mark.parametrize("affinity", ["release", "paper"])
def test_no_known_patch_gives_zero_fill_not_nan(mode, affinity):
    low, high, _ = _random_case(seed=5)
    full = torch.ones(2, 1, 64, 64)
    atn = AttentionTransfer(4, 4, fuse=False, mode=mode, affinity=affinity)
    out, _ = atn.transfer(low, high, full)
    assert torch.isfinite(out).all()
    assert out.abs().max() == 0


@pytest.mark.parametrize("affinity", ["release", "paper"])
def test_item_without_known_patch_in_a_batch_with_keys(affinity):
    low, high, mask = _random_case(seed=6)
    mask[0] = 1  # item 0 has no known patch, item 1 has many
    atn = AttentionTransfer(4, 4, fuse=False, affinity=affinity)
    out, _ = atn.transfer(low, high, mask)
    assert torch.isfinite(out).all()
    assert out[0].abs().max() == 0
    alone, _ = atn.transfer(low[1:], high[1:], mask[1:])
    assert torch.allclose(out[1:], alone, atol=1e-6)


def test_source_region_restricts_keys_and_flow_points_into_it():
    low, high, mask = _random_case(seed=2, b=1)
    source = torch.zeros(1, 1, 64, 64)
    source[..., 48:, :] = 1  # bottom quarter only
    atn = AttentionTransfer(4, 4, fuse=False)
    _, flow = atn.transfer(low, high, mask, source=source, return_flow=True)
    chosen = flow[flow >= 0]
    assert chosen.numel() > 0
    rows = torch.div(chosen, 8, rounding_mode="floor")
    assert (rows >= 6).all()  # the 3x3 key patch lies inside rows 6..7 of the 8x8 grid


# -- the fast kernels and the dense computation of holes mode -------------------------------------
FAST = [("matmul", "packed"), ("matmul", "dense"), ("sdpa", "packed"), ("sdpa", "dense"), ("direct", "dense")]


def _transfer_with_grads(atn, low, high, mask, weight, source=None):
    low, high = low.clone().requires_grad_(), high.clone().requires_grad_()
    out, _ = atn.transfer(low, high, mask, source)
    (out * weight).sum().backward()
    grads = [g if g is not None else torch.zeros_like(t) for g, t in ((low.grad, low), (high.grad, high))]
    return out.detach(), *grads


@functools.lru_cache(maxsize=None)
def _transcribed(mode, affinity):
    low, high, mask = _random_case(seed=13)
    return slow_transfer(low, high, mask, 3, affinity, everywhere=mode == "reference")


@pytest.mark.parametrize("mode", ["holes", "reference"])
@pytest.mark.parametrize("affinity", ["release", "paper"])
@pytest.mark.parametrize("kernel,compute", FAST)
def test_fast_paths_match_the_transcription_forward_and_backward(mode, affinity, kernel, compute):
    low, high, mask = _random_case(seed=13)
    want = _transcribed(mode, affinity)
    atn = AttentionTransfer(4, 4, fuse=False, mode=mode, affinity=affinity, kernel="direct", compute="packed")
    weight = torch.randn_like(low)
    direct = _transfer_with_grads(atn, low, high, mask, weight)
    atn.kernel, atn.compute = kernel, compute
    fast = _transfer_with_grads(atn, low, high, mask, weight)
    assert torch.allclose(fast[0], want, atol=1e-4), (fast[0] - want).abs().max()
    for got, ref in zip(fast, direct):  # output, d/d low, d/d high
        assert torch.allclose(got, ref, atol=1e-4, rtol=1e-4), (got - ref).abs().max()
    assert atn.plan(2, (8, 8), 4, 4, "cpu") == ("dense" if mode == "reference" else compute, kernel)


@pytest.mark.parametrize("affinity", ["release", "paper"])
@pytest.mark.parametrize("kernel,compute", FAST)
def test_fast_paths_without_any_known_patch_are_zero_and_finite(affinity, kernel, compute):
    low, high, _ = _random_case(seed=5)
    weight = torch.randn_like(low)
    for mode in ("holes", "reference"):
        atn = AttentionTransfer(4, 4, fuse=False, mode=mode, affinity=affinity, kernel=kernel, compute=compute)
        out, g_low, g_high = _transfer_with_grads(atn, low, high, torch.ones(2, 1, 64, 64), weight)
        assert out.abs().max() == 0
        assert torch.isfinite(g_low).all() and torch.isfinite(g_high).all()
    # a hole over almost everything: one item keeps a single corner, the other nothing
    mask = torch.ones(2, 1, 64, 64)
    mask[0, :, :24, :24] = 0
    atn = AttentionTransfer(4, 4, fuse=False, mode="holes", affinity=affinity, kernel="direct", compute="packed")
    want = _transfer_with_grads(atn, low, high, mask, weight)
    atn.kernel, atn.compute = kernel, compute
    got = _transfer_with_grads(atn, low, high, mask, weight)
    for g, w in zip(got, want):
        assert torch.isfinite(g).all() and torch.allclose(g, w, atol=1e-4, rtol=1e-4)
    assert got[0][1].abs().max() == 0


@pytest.mark.parametrize("kernel,compute", FAST)
def test_fast_paths_respect_the_source_region(kernel, compute):
    low, high, mask = _random_case(seed=2)
    source = torch.zeros(2, 1, 64, 64)
    source[..., 48:, :] = 1
    weight = torch.randn_like(low)
    for affinity in ("release", "paper"):
        atn = AttentionTransfer(4, 4, fuse=False, affinity=affinity, kernel="direct", compute="packed")
        want = _transfer_with_grads(atn, low, high, mask, weight, source)
        atn.kernel, atn.compute = kernel, compute
        got = _transfer_with_grads(atn, low, high, mask, weight, source)
        for g, w in zip(got, want):
            assert torch.allclose(g, w, atol=1e-4, rtol=1e-4), (g - w).abs().max()


@pytest.mark.parametrize("kernel", ["matmul", "sdpa"])
def test_fast_kernels_in_bf16_keep_no_float32_scores_and_stay_close(kernel, monkeypatch):
    """Under autocast the fused kernels run in bf16 (the CUDA case with fp16/bf16); the softmax
    sees bf16 scores, never a float32 copy."""
    low, high, mask = _random_case(seed=3)
    atn = AttentionTransfer(4, 4, fuse=False, kernel="direct", compute="packed")
    want, _ = atn.transfer(low, high, mask)
    seen = []
    real_softmax = torch.softmax
    monkeypatch.setattr(torch, "softmax", lambda x, *a, **k: seen.append(x.dtype) or real_softmax(x, *a, **k))
    atn.kernel = kernel
    for compute in ("packed", "dense"):
        atn.compute = compute
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got, _ = atn.transfer(low.bfloat16(), high.bfloat16(), mask)
        assert got.dtype == torch.bfloat16 and torch.isfinite(got.float()).all()
        assert torch.allclose(got.float(), want, atol=0.1), (got.float() - want).abs().max()
    assert set(seen) <= {torch.bfloat16} and (kernel == "sdpa" or seen)


def test_packed_counts_are_bucketed_and_padding_is_exact():
    low, high, mask = _random_case(seed=8)
    atn = AttentionTransfer(4, 4, fuse=False, kernel="matmul", compute="packed")
    whole, _ = atn.transfer(low, high, mask)
    atn.chunk_elements = 40  # several chunks of query rows
    chunked, _ = atn.transfer(low, high, mask)
    assert torch.allclose(whole, chunked, atol=1e-6)
    from inpaint_studio.network.attention import _bucket, _pack
    flags = torch.zeros(2, 4096, dtype=torch.bool)
    flags[0, :100] = flags[1, 7:12] = True
    idx, valid = _pack(flags, _bucket(4096), reserve=1)
    assert idx.shape == (2, 128) and valid.sum(1).tolist() == [100, 5]  # 101 rounded up to 128
    assert torch.equal(idx[1][valid[1]], torch.arange(7, 12))


def test_automatic_choices_follow_the_measured_rule():
    from inpaint_studio.network.attention import PACK_ABOVE_FLOP, choose_compute, choose_kernel
    assert choose_kernel("cpu") == choose_kernel("cuda") == "matmul" and choose_kernel("mps") == "direct"
    assert choose_compute("cpu", 1.0) == "packed"
    generator = PENNetGenerator()
    plan = lambda b, s: generator.attention_plan(b, s, s, "cuda")[-1][0]  # noqa: E731 (the finest ATN)
    # issue 13's H200 figures: dense won at 256/512 px batch 1 and 256 px batch 8; packing won at
    # 1024 px batch 1 and 256 px batch 32 and 64
    assert [plan(1, 256), plan(1, 512), plan(8, 256)] == ["dense"] * 3
    assert [plan(1, 1024), plan(32, 256), plan(64, 256)] == ["packed"] * 3
    assert PACK_ABOVE_FLOP["cuda"] > 2 * 8 * 4096 ** 2 * (576 + 512)
    assert not generator.packs(1, 512, 512, "cuda") and generator.packs(1, 512, 512, "cpu")
    assert generator.packs(1, 256, 256, "cuda", return_flow=True)
    generator.configure(attention="reference")
    assert not generator.packs(64, 1024, 1024, "cpu")


def test_the_plan_is_what_the_generator_runs(monkeypatch):
    from inpaint_studio.network.attention import AttentionTransfer as ATN
    generator = PENNetGenerator().eval().configure(compute="dense", kernel="sdpa")
    used = []
    real = ATN.plan
    monkeypatch.setattr(ATN, "plan", lambda self, *a, **k: used.append(real(self, *a, **k)) or used[-1])
    image = torch.rand(1, 3, 128, 128) * 2 - 1
    mask = torch.zeros(1, 1, 128, 128)
    mask[..., 40:90, 30:70] = 1
    with torch.no_grad():
        generator(generator_input(image, mask), mask)
    monkeypatch.setattr(ATN, "plan", real)
    assert used == generator.attention_plan(1, 128, 128, "cpu") == [("dense", "sdpa")] * 5


def _square_and_stroke_batch():
    """A seeded random generator and two 128 px images, one with a square hole, one with a stroke."""
    torch.manual_seed(0)
    generator = PENNetGenerator().eval()
    image = torch.rand(2, 3, 128, 128) * 2 - 1
    mask = torch.zeros(2, 1, 128, 128)
    mask[0, :, 32:96, 32:96] = 1
    mask[1, :, 10:20, :] = 1
    return generator, generator_input(image, mask), mask


def test_generator_dense_holes_equals_packed_holes_not_reference():
    """Holes mode computed densely is the same network; reference mode is another one."""
    generator, x, mask = _square_and_stroke_batch()
    outs = {}
    with torch.no_grad():
        for name, kw in {"packed": dict(compute="packed", kernel="direct"),
                         "dense": dict(compute="dense", kernel="matmul"),
                         "reference": dict(attention="reference")}.items():
            outs[name], _ = generator.configure(**kw)(x, mask, pyramid=False)
    assert torch.allclose(outs["dense"], outs["packed"], atol=1e-5)
    assert not torch.allclose(outs["reference"], outs["packed"], atol=1e-3)


# -- the generator and discriminator --------------------------------------------------------------
def _release_layout(cnum=32):
    """Parameter names and shapes of the release's netG, written from its description."""
    shapes = {}
    widths = [4, cnum, cnum * 2, cnum * 4, cnum * 8, cnum * 16, cnum * 16]
    for i in range(1, 7):
        shapes[f"dw_conv{i:02d}.0.weight"] = (widths[i], widths[i - 1], 3, 3)
        shapes[f"dw_conv{i:02d}.0.bias"] = (widths[i],)
    for i in range(1, 5):  # at_conv05 has no refinement groups
        for g, _rate in enumerate((1, 2, 4, 8)):
            shapes[f"at_conv{i:02d}.conv{g:02d}.0.weight"] = (widths[i] // 4, widths[i], 3, 3)
            shapes[f"at_conv{i:02d}.conv{g:02d}.0.bias"] = (widths[i] // 4,)
    shapes["up_conv05.0.weight"] = (cnum * 16, cnum * 16, 3, 3)
    shapes["up_conv05.0.bias"] = (cnum * 16,)
    for i in range(1, 5):
        shapes[f"up_conv{i:02d}.0.weight"] = (widths[i], widths[i + 1] * 2, 3, 3)
        shapes[f"up_conv{i:02d}.0.bias"] = (widths[i],)
    for i in range(1, 6):
        shapes[f"torgb{i}.0.weight"] = (3, widths[i] * 2, 1, 1)
        shapes[f"torgb{i}.0.bias"] = (3,)
    shapes["decoder.0.weight"] = (cnum, cnum * 2, 3, 3)
    shapes["decoder.0.bias"] = (cnum,)
    shapes["decoder.2.weight"] = (3, cnum, 3, 3)
    shapes["decoder.2.bias"] = (3,)
    return shapes


def test_release_format_state_dict_loads_strictly_and_counts_10_23_m():
    layout = _release_layout()
    state = {name: torch.randn(shape) * 0.01 for name, shape in layout.items()}
    generator = PENNetGenerator()
    generator.load_state_dict(state, strict=True)
    total = sum(p.numel() for p in generator.parameters())
    assert total == sum(math.prod(s) for s in layout.values())
    assert round(total / 1e6, 2) == 10.23


@pytest.mark.parametrize("size", [256, 384, 512])
def test_generator_shapes(size):
    torch.manual_seed(0)
    generator = PENNetGenerator().eval()
    image = torch.rand(1, 3, size, size) * 2 - 1
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4: size // 2, size // 3: size // 2] = 1
    with torch.no_grad():
        out, pyramid = generator(generator_input(image, mask), mask)
    assert out.shape == (1, 3, size, size)
    assert [p.shape[-1] for p in pyramid] == [size // 2, size // 4, size // 8, size // 16, size // 32]
    assert all(p.shape[1] == 3 for p in pyramid)
    assert torch.isfinite(out).all() and out.abs().max() <= 1


def test_generator_rejects_sizes_that_are_not_multiples_of_64():
    with pytest.raises(ValueError, match="multiples of 64"):
        PENNetGenerator()(torch.zeros(1, 4, 100, 128), torch.zeros(1, 1, 100, 128))


def test_generator_full_mask_and_empty_mask_stay_finite():
    generator = PENNetGenerator().eval()
    image = torch.rand(2, 3, 128, 128) * 2 - 1
    mask = torch.stack([torch.ones(1, 128, 128), torch.zeros(1, 128, 128)])
    with torch.no_grad():
        for mode in ("holes", "reference"):
            generator.configure(attention=mode)
            out, _ = generator(generator_input(image, mask), mask)
            assert torch.isfinite(out).all()


def test_generator_is_trainable_in_both_modes():
    generator = PENNetGenerator()
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:40, 16:40] = 1
    for mode in ("holes", "reference"):
        generator.zero_grad()
        generator.configure(attention=mode)
        out, pyramid = generator(generator_input(image, mask), mask)
        (out.mean() + sum(p.mean() for p in pyramid)).backward()
        grads = [p.grad for p in generator.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)


def test_patch_discriminator():
    disc = PatchDiscriminator()
    names = [n for n, _ in disc.named_parameters()]
    assert sum("parametrizations.weight.original" in n for n in names) == 4  # spectral norm on 4 convs
    logits = disc(torch.randn(2, 3, 256, 256))
    assert logits.shape[:2] == (2, 1) and logits.shape[-1] >= 28


def test_reduced_precision_keeps_the_modes_equal_on_hole_pixels():
    """The CUDA paths run under fp16/bf16 autocast; bf16 autocast on the CPU takes the same
    dtype paths through the ATN (scores in fp32, weights and values in half precision)."""
    low, high, mask = _random_case(seed=3)
    atn = AttentionTransfer(4, 4, fuse=False)
    hole = _hole_cells(mask, *low.shape[-2:]).expand_as(low)
    results = {}
    for mode in ("holes", "reference"):
        atn.mode = mode
        with torch.autocast("cpu", dtype=torch.bfloat16):
            results[mode], _ = atn.transfer(low.bfloat16(), high.bfloat16(), mask)
        assert results[mode].dtype == torch.bfloat16 and torch.isfinite(results[mode].float()).all()
    assert torch.allclose(results["holes"][hole].float(), results["reference"][hole].float(), atol=0.05)


def test_generator_in_channels_last_and_bf16_autocast_matches_fp32():
    generator, x, mask = _square_and_stroke_batch()
    with torch.no_grad():
        expected, _ = generator(x, mask, pyramid=False)
        generator.to(memory_format=torch.channels_last)
        nhwc, _ = generator(x.contiguous(memory_format=torch.channels_last), mask, pyramid=False)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half, _, flow = generator(x, mask, pyramid=False, return_flow=True)
    assert torch.allclose(nhwc, expected, atol=1e-5)
    assert half.dtype == torch.bfloat16 and torch.allclose(half.float(), expected, atol=0.02)
    assert flow.shape == (2, 32, 32) and (flow[0][8:24, 8:24] >= 0).all()
