"""The training step's speed settings on the CPU: the optimiser implementation, torch.compile
(inductor) against eager, the learning rate of a larger batch (a real run that must not diverge),
the default batch and loader, and the activation memory estimate against a count."""
import copy

import numpy as np
import pytest
import torch

from test_trainer_support import photo
from inpaint_studio.contracts.training import (BASE_BATCH, BATCH_SIZE, FINETUNE, GPU_MEMORY_SHARE, SCRATCH, TrainConfig,
                                               activation_bytes, batch_size_for, discriminator_learning_rate,
                                               learning_rate, workers_for)
from inpaint_studio.network import PatchDiscriminator, PENNetGenerator
from trainer.fit.data import to_network
from trainer.fit.losses import LossWeights
from trainer.fit.masks import fixed_masks, to_tensor
from trainer.fit.step import TrainStep, adam_flags, make_adam, place, resolve_compile

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def _batch(n, size, seed=0):
    image = torch.stack([to_network(photo(i, size, size)) for i in range(n)])
    mask = torch.stack([to_tensor(m) for m in fixed_masks("mixed", n, size, seed=seed)])
    return image, mask


def _step(g, d, lr=1e-4, compile=False):
    return TrainStep(g, d, make_adam(g.parameters(), lr, (0.5, 0.999), CPU),
                     make_adam(d.parameters(), lr, (0.5, 0.999), CPU), LossWeights(), CPU, "fp32", compile=compile)


def test_adam_is_fused_on_cuda_and_cpu_and_steps_like_the_plain_one():
    assert adam_flags(CUDA) == adam_flags(CPU) == {"fused": True, "foreach": False}
    assert adam_flags(torch.device("mps")) == {"fused": False, "foreach": True}
    weights = [torch.nn.Parameter(torch.randn(5, 3)) for _ in range(2)]
    plain = [torch.nn.Parameter(w.detach().clone()) for w in weights]
    fused = make_adam(weights, 1e-2, (0.5, 0.999), CPU)
    reference = torch.optim.Adam(plain, lr=1e-2, betas=(0.5, 0.999), foreach=False)
    assert fused.param_groups[0]["fused"]
    for _ in range(3):
        for opt, params in ((fused, weights), (reference, plain)):
            opt.zero_grad()
            sum((p ** 2).sum() for p in params).backward()
            opt.step()
    for a, b in zip(weights, plain):
        assert torch.allclose(a, b, atol=1e-6)
    assert resolve_compile(None, CUDA) and not resolve_compile(None, CPU) and resolve_compile(True, CPU)


def test_learning_rate_rule_scales_with_the_square_root_of_the_batch_after_a_warm_up():
    cfg = TrainConfig(iterations=200_000)
    base = SCRATCH["lr"]
    assert learning_rate(cfg, BASE_BATCH, 0) == base and learning_rate(cfg, 2, 5) == base
    ramp = [learning_rate(cfg, 32, i) for i in (0, 250, 500, 998, 999, 50_000)]
    assert ramp == sorted(ramp) and ramp[0] < 1.01 * base
    assert ramp[-2] == ramp[-1] == pytest.approx(base * 2)  # sqrt(32 / 8)
    assert learning_rate(TrainConfig(iterations=100), 128, 9) == pytest.approx(base * 4)  # warm-up <= 1/10
    assert learning_rate(TrainConfig(lr=3e-4), 128, 0) == 3e-4  # given: as given
    assert discriminator_learning_rate(TrainConfig(d_lr=1e-5), 128, 0) == 1e-5
    assert discriminator_learning_rate(cfg, 32, 999) == pytest.approx(base * 2)
    tuned = TrainConfig(base="m", iterations=5000)
    assert learning_rate(tuned, 32, 499) == pytest.approx(2 * FINETUNE["lr"])


def test_default_batch_and_workers():
    assert batch_size_for("cpu", 256) == BATCH_SIZE["cpu"] and workers_for("cpu") == 0
    assert batch_size_for("cuda", 256, 141 << 30) == BATCH_SIZE["cuda"] == batch_size_for("cuda")
    assert batch_size_for("cuda", 512, 141 << 30) == BATCH_SIZE["cuda"] // 4
    small = batch_size_for("cuda", 256, 4 << 30)  # a 4 GB GPU: what fits
    assert small < BATCH_SIZE["cuda"] and activation_bytes(256, small) <= GPU_MEMORY_SHARE * (4 << 30)
    assert activation_bytes(256, 2 * small) > GPU_MEMORY_SHARE * (4 << 30)
    assert workers_for("cuda", 16) == 14 and workers_for("cuda", 2) == 1


def test_activation_estimate_covers_the_counted_saved_tensors():
    """The estimate behind the default batch against a count of what autograd saves at 256 px
    (bf16, holes mode, the matmul kernel CUDA uses), per added sample (the bf16 weight copies are
    once per step): dense, and packed, whose padding grows with the batch."""
    from trainer.bench import saved_bytes

    def per_sample(compute, a, b):
        counts = [saved_bytes(256, batch=n, compute=compute, kernel="matmul", precision="bf16") for n in (a, b)]
        return (counts[1] - counts[0]) / (b - a)

    dense, packed = per_sample("dense", 1, 2), per_sample("packed", 2, 4)
    estimate = activation_bytes(256) / 2.0  # without the headroom factor
    assert max(dense, packed) <= estimate <= 1.3 * min(dense, packed), (dense / 2**20, packed / 2**20)


@pytest.mark.slow
def test_scaled_learning_rate_at_batch_32_trains_without_diverging():
    """A real run at CUDA's default batch with the rule's learning rate (warm-up over a tenth of
    the run, then twice the release's) on 32 small photos: losses finite, reconstruction falling.
    The generator is the real one (a narrow one barely moves in so few steps); D is narrower.
    (Seen: 5.04 at the start, a bounce to 5.6 at step 10 without the warm-up, 3.8 at step 16;
    the release's rate at this batch: 4.3.)"""
    torch.manual_seed(0)
    cfg = TrainConfig(iterations=40)  # a warm-up of 4 steps
    g, d = PENNetGenerator(), PatchDiscriminator(cnum=16)
    step = _step(g, d)
    image, mask = _batch(32, 64)
    history = []
    for it in range(16):
        for group in step.opt_g.param_groups + step.opt_d.param_groups:
            group["lr"] = learning_rate(cfg, 32, it)
        terms = step(image, mask)
        assert all(torch.isfinite(v) for v in terms.values()), terms
        history.append(terms["reconstruction"].item())
    assert step.opt_g.param_groups[0]["lr"] == pytest.approx(2 * SCRATCH["lr"])
    assert np.mean(history[-3:]) < 0.85 * np.mean(history[:3]), history


@pytest.mark.slow
def test_compiled_step_agrees_with_the_eager_step():
    """torch.compile with inductor (C++ kernels through gcc; ~2 minutes of compilation on 2 idle
    cores the first time, seconds from inductor's cache after) on a tiny model: one step of holes
    mode computed dense (fixed shapes, one graph per pass); losses and updated weights agree."""
    torch.manual_seed(0)
    g = place(PENNetGenerator(cnum=4).configure(kernel="matmul", compute="dense"), CPU)
    d = place(PatchDiscriminator(cnum=4), CPU)
    image, mask = _batch(2, 128)
    runs = {}
    for compiled in (False, True):
        gc, dc = copy.deepcopy(g), copy.deepcopy(d)
        losses = _step(gc, dc, compile=compiled)(image, mask)
        runs[compiled] = (losses, gc.state_dict(), dc.state_dict())
    (eager, g_e, d_e), (comp, g_c, d_c) = runs[False], runs[True]
    for k in eager:
        assert torch.allclose(eager[k], comp[k], rtol=1e-3, atol=1e-5), (k, eager[k], comp[k])
    for ref, got in ((g_e, g_c), (d_e, d_c)):
        for k in ref:
            assert torch.allclose(ref[k], got[k], rtol=1e-3, atol=1e-6), k


@pytest.mark.slow
def test_compiled_packed_attention_agrees_with_eager_across_counts():
    """Packing breaks the graph at its host-side count; compiled forward and backward of one ATN
    agree with eager for masks with different counts (the packed dimension turns dynamic)."""
    from inpaint_studio.network import AttentionTransfer

    atn = AttentionTransfer(8, 8, mode="holes", kernel="matmul", compute="packed")
    run = torch.compile(atn)
    g = torch.Generator().manual_seed(0)
    for top in (8, 20):
        low = torch.randn(2, 8, 32, 32, generator=g)
        high = torch.randn(2, 8, 16, 16, generator=g)
        mask = torch.zeros(2, 1, 64, 64)
        mask[0, :, top:top + 20, 10:40] = 1
        mask[1, :, 4:10, :] = 1
        results = []
        for fn in (atn, run):
            lo, hi = low.clone().requires_grad_(), high.clone().requires_grad_()
            out = fn(lo, hi, mask)
            out.square().sum().backward()
            results.append((out.detach(), lo.grad, hi.grad))
        for a, b in zip(*results):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), top
