"""DeepFill v1's network: the contextual attention layer against a direct transcription of the
paper's section 3.2 (forward and gradients), its edge cases, and the generator's shapes."""
import pytest
import torch
import torch.nn.functional as F

from inpaint_studio.network import (GENERATORS, ContextualAttention, DeepFillGenerator, PatchDiscriminator,
                                    generator_input, make_discriminator, make_generator)


# -- a direct, slow transcription of section 3.2 --------------------------------------------------
def _cell_holes(mask2d, rows, cols):
    """A cell of a coarser grid is a hole when any pixel under it is (the documented choice)."""
    h, w = mask2d.shape
    fy, fx = h // rows, w // cols
    return torch.tensor([[bool(mask2d[i * fy:(i + 1) * fy, j * fx:(j + 1) * fx].any()) for j in range(cols)]
                         for i in range(rows)])


def slow_contextual_attention(x, mask, affinity, everywhere, scale=10.0, floor=1e-4):
    """Background 3x3 patches of the 2x-downscaled map as normalised convolution filters; scores
    propagated left-right, then top-down, with the 3x3 identity kernel; softmax x10 over the
    background; 4x4 patches of the full map pasted back by a transposed convolution, / 4."""
    out = x.clone().double()
    for b in range(x.shape[0]):
        f = x[b:b + 1].double()
        small = f[..., ::2, ::2]                                   # nearest-neighbour 1/2
        h, w = small.shape[-2:]
        padded = F.pad(small, (1, 1, 1, 1))
        keys = [(i, j) for i in range(h) for j in range(w)]
        filters = torch.stack([padded[0, :, i:i + 3, j:j + 3] for i, j in keys])
        norms = filters.flatten(1).norm(dim=1).clamp_min(floor)
        scores = F.conv2d(small, filters / norms.view(-1, 1, 1, 1), padding=1)[0]  # (keys, h, w)
        if affinity == "paper":                                   # cosine: the query normalised too
            q_norm = F.conv2d(small ** 2, torch.ones(1, small.shape[1], 3, 3, dtype=small.dtype), padding=1)
            scores = scores / q_norm[0].sqrt().clamp_min(floor)
        s = scores.reshape(h, w, h, w).permute(2, 3, 0, 1)        # s[qi, qj, ki, kj]
        lr = torch.zeros_like(s)                                  # left-right propagation
        for a in (-1, 0, 1):
            for qj in range(w):
                for kj in range(w):
                    if 0 <= qj + a < w and 0 <= kj + a < w:
                        lr[:, qj, :, kj] += s[:, qj + a, :, kj + a]
        prop = torch.zeros_like(s)                                # then top-down
        for a in (-1, 0, 1):
            for qi in range(h):
                for ki in range(h):
                    if 0 <= qi + a < h and 0 <= ki + a < h:
                        prop[qi, :, ki, :] += lr[qi + a, :, ki + a, :]
        hole = _cell_holes(mask[b, 0], h, w)
        known = ~F.max_pool2d(hole[None, None].double(), 3, 1, 1)[0, 0].bool()  # whole 3x3 patch known
        logits = prop.reshape(h, w, h * w) * scale
        flat_known = known.reshape(-1)
        if affinity == "release":                                 # y *= mm; softmax; y *= mm
            weights = torch.softmax(logits * flat_known, -1) * flat_known
        else:                                                     # softmax over the background only
            weights = torch.zeros_like(logits)
            if flat_known.any():
                weights[..., flat_known] = torch.softmax(logits[..., flat_known], -1)
        raw_padded = F.pad(f, (1, 1, 1, 1))
        raw = torch.stack([raw_padded[0, :, 2 * i:2 * i + 4, 2 * j:2 * j + 4] for i, j in keys])
        attention = weights.permute(2, 0, 1).unsqueeze(0)         # (1, keys, h, w)
        pasted = F.conv_transpose2d(attention, raw, stride=2, padding=1)[0] / 4
        if everywhere:
            out[b] = pasted
        else:
            hole_full = _cell_holes(mask[b, 0], *f.shape[-2:])
            out[b] = torch.where(hole_full, pasted, f[0])
    return out


def _case(seed, b=2, c=4, side=16):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, side, side, generator=g)
    mask = torch.zeros(b, 1, 4 * side, 4 * side)
    mask[0, :, 20:40, 12:44] = 1             # a rectangle
    if b > 1:
        mask[1, :, 6:9, :] = 1               # a thin stroke across the image
        mask[1, :, 44:60, 40:62] = 1
    return x, mask


@pytest.mark.parametrize("affinity", ["release", "paper"])
@pytest.mark.parametrize("mode", ["holes", "reference"])
def test_contextual_attention_matches_the_papers_layer(affinity, mode):
    x, mask = _case(seed=1)
    ca = ContextualAttention(mode=mode, affinity=affinity)
    got = ca(x, mask)
    want = slow_contextual_attention(x, mask, affinity, everywhere=mode == "reference")
    assert torch.allclose(got.double(), want, atol=1e-4), (got.double() - want).abs().max()


@pytest.mark.parametrize("affinity", ["release", "paper"])
def test_contextual_attention_gradients_match_the_transcription(affinity):
    x, mask = _case(seed=2)
    probe = torch.randn(x.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    mine = x.clone().requires_grad_(True)
    (ContextualAttention(mode="holes", affinity=affinity)(mine, mask).double() * probe).sum().backward()
    slow = x.clone().double().requires_grad_(True)
    (slow_contextual_attention(slow, mask, affinity, everywhere=False) * probe).sum().backward()
    assert mine.grad.abs().max() > 0
    assert torch.allclose(mine.grad.double(), slow.grad, atol=1e-4, rtol=1e-3), (mine.grad.double() - slow.grad).abs().max()


def test_propagation_changes_the_result():
    """Without the 3x3 propagation the layer is plain patch attention: the transcription's
    propagation must matter, or the test above could not tell them apart."""
    x, mask = _case(seed=3)
    with_prop = ContextualAttention(mode="reference")(x, mask)
    without = ContextualAttention(mode="reference", propagation=1)(x, mask)
    assert not torch.allclose(with_prop, without, atol=1e-3)


@pytest.mark.parametrize("mode", ["holes", "reference"])
@pytest.mark.parametrize("affinity", ["release", "paper"])
def test_no_background_patch_gives_zeros_not_nan(mode, affinity):
    x, _ = _case(seed=4)
    full = torch.ones(2, 1, 64, 64)
    x.requires_grad_(True)
    out = ContextualAttention(mode=mode, affinity=affinity)(x, full)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    assert out.abs().max() == 0
    # one item without background beside one with: the first is zero, the second unaffected
    x2, mask = _case(seed=4)
    mask[0] = 1
    ca = ContextualAttention(mode=mode, affinity=affinity)
    both = ca(x2, mask)
    assert torch.isfinite(both).all() and both[0].abs().max() == 0
    assert torch.allclose(both[1:], ca(x2[1:], mask[1:]), atol=1e-6)


def test_flow_is_the_argmax_of_the_propagated_scores_and_points_at_background():
    x, mask = _case(seed=5, b=1)
    ca = ContextualAttention(mode="holes")
    _, flow = ca(x, mask, return_flow=True)
    assert flow.shape == (1, 8, 8)
    hole = _cell_holes(mask[0, 0], 8, 8)
    known = ~F.max_pool2d(hole[None, None].float(), 3, 1, 1)[0, 0].bool().reshape(-1)
    chosen = flow[flow >= 0]
    assert chosen.numel() > 0 and known[chosen].all()
    # positions whose pasted patch misses the hole are not rebuilt: no flow there
    touched = F.max_pool2d(F.adaptive_max_pool2d(mask, (16, 16)), 4, 2, 1)[0, 0] > 0
    assert ((flow[0] >= 0) == touched).all()
    # the strongest key of each rebuilt position, by the transcription's own scores
    small = x[..., ::2, ::2]
    hood = ca.neighbourhoods(small).flatten(2).transpose(1, 2)[0]  # (positions, D)
    scores = hood @ ca._normalised(hood).T
    scores[:, ~known] = -1e9
    rebuilt = touched.reshape(-1)
    assert torch.equal(flow[0].reshape(-1)[rebuilt], scores.argmax(1)[rebuilt])


def test_source_region_restricts_where_the_attention_copies_from():
    x, mask = _case(seed=6, b=1)
    source = torch.zeros(1, 1, 64, 64)
    source[..., 48:, :] = 1   # the bottom quarter only
    _, flow = ContextualAttention()(x, mask, source=source, return_flow=True)
    chosen = flow[flow >= 0]
    assert chosen.numel() > 0
    assert (torch.div(chosen, 8, rounding_mode="floor") >= 6).all()  # 1/8 grid rows 6, 7 (and their 3x3)


# -- the generator ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return DeepFillGenerator(cnum=4).eval()


@pytest.mark.parametrize("size", [256, 384, 512])
def test_generator_shapes(tiny, size):
    image = torch.rand(1, 3, size, size) * 2 - 1
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4:size // 2, size // 3:2 * size // 3] = 1
    with torch.no_grad():
        out, aux, flow = tiny(generator_input(image, mask), mask, return_flow=True)
        plain, none = tiny(generator_input(image, mask), mask, pyramid=False)
    assert out.shape == (1, 3, size, size) and [a.shape for a in aux] == [(1, 3, size, size)]
    assert flow.shape == (1, size // 8, size // 8) and flow.max() >= 0
    assert none == [] and torch.equal(plain, out)
    assert torch.isfinite(out).all() and out.abs().max() <= 1 and aux[0].abs().max() <= 1


def test_generator_refuses_sides_that_are_not_multiples_of_8(tiny):
    with pytest.raises(ValueError, match="multiples of 8"):
        tiny(torch.zeros(1, 4, 60, 64), torch.zeros(1, 1, 60, 64))


def test_every_parameter_learns_and_the_photo_outside_the_hole_is_what_it_sees():
    torch.manual_seed(1)
    g = DeepFillGenerator(cnum=8)
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    mask = torch.zeros(2, 1, 64, 64)
    mask[..., 16:40, 20:44] = 1
    out, (coarse,) = g(generator_input(image, mask), mask)
    (out.mean() + coarse.mean()).backward()
    silent = [n for n, p in g.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent
    # what is under the hole cannot change the output: the network sees the hole as 0
    other = image.clone()
    other[..., 16:40, 20:44] = torch.rand(2, 3, 24, 24)
    with torch.no_grad():
        again, _ = g(generator_input(other, mask), mask)
        first, _ = g(generator_input(image, mask), mask)
    assert torch.equal(again, first)


def test_factory_builds_both_architectures_by_name():
    assert set(GENERATORS) == {"pennet", "deepfill1"}
    g = make_generator("deepfill1", attention="reference", affinity="paper", cnum=8)
    assert isinstance(g, DeepFillGenerator) and (g.attention, g.affinity) == ("reference", "paper")
    assert isinstance(make_discriminator("deepfill1"), PatchDiscriminator)
    with pytest.raises(ValueError, match="unknown architecture 'deepfill9'"):
        make_generator("deepfill9")
