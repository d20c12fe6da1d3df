"""The generator's objective: the terms below, weighted by contracts.training.LossWeights (each
architecture's defaults are there).

  hole         L1 over the hole, normalised by its area; with discount gamma < 1, the spatially
               discounted L1 of DeepFill v1 (section 3.1): each hole pixel weighs gamma**l, l its
               chessboard distance to the nearest known pixel
  valid        L1 over the known pixels, normalised by their area
  pyramid      PEN-Net's pyramid L1 (eq. 6): every auxiliary output against the ground truth
               downscaled to its size
  coarse       DeepFill's coarse-to-fine supervision: the first auxiliary output (the coarse
               network's) with the hole and valid terms above, at its size, summed
  adversarial  hinge, eq. (9), on the composite z = G(x)*M + x*(1-M)

PEN-Net (the authors' release): hole x6 + valid x1 + pyramid x0.5 + adversarial x0.1.
DeepFill v1: hole x1.2 (discounted, gamma 0.99) + valid x1.2 + coarse x1.44 + adversarial x0.02.
Discriminator: hinge loss, eq. (8) of PEN-Net, on real images and composites.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from inpaint_studio.contracts.training import LossWeights


def masked_l1(output: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean |output - target| over the pixels where weight is 1 (weight broadcasts over channels)."""
    diff = (output - target).abs() * weight
    return diff.mean() / weight.mean().clamp_min(1e-8)


def pyramid_l1(pyramid: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Eq. (6): the sum over scales of the L1 distance to the area-downscaled ground truth."""
    total = target.new_zeros(())
    for level in pyramid:
        total = total + (level - F.interpolate(target, size=level.shape[-2:], mode="area")).abs().mean()
    return total


def generator_adversarial(fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. (9): -E[D(z)]."""
    return -fake_logits.mean()


def discriminator_hinge(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. (8): E[max(0, 1 - D(x))] + E[max(0, 1 + D(z))]."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def spatial_discount(mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """gamma**l on hole pixels (l: chessboard distance to the nearest known pixel, 1 beside one),
    0 elsewhere: the known region grows by one pixel per 3x3 max-pool until it covers the hole.
    An item without any known pixel has no distance to measure: its hole weighs 1."""
    hole = (mask > 0).to(torch.float32)
    reached = 1 - hole
    empty = reached.flatten(1).amax(1) == 0
    weight = torch.zeros_like(hole)
    factor = 1.0
    for step in range(max(mask.shape[-2:])):
        grown = F.max_pool2d(reached, 3, 1, 1)
        factor *= gamma
        weight = weight + (grown - reached) * factor
        reached = grown
        # every 8 steps only: the check waits for the device
        if step % 8 == 7 and bool(((reached.flatten(1).amin(1) > 0) | empty).all()):
            break
    return torch.where(empty.view(-1, 1, 1, 1), hole, weight).to(mask.dtype)


def hole_l1(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, discount: float = 1.0) -> torch.Tensor:
    """The hole term: mean over the hole of |output - target|, each pixel weighted by the spatial
    discount when gamma < 1 (the normaliser stays the hole's area, so deep holes weigh less)."""
    if discount >= 1.0:
        return masked_l1(output, target, mask)
    weight = spatial_discount(mask, discount)
    return ((output - target).abs() * weight).mean() / mask.mean().clamp_min(1e-8)


def _at_size(image: torch.Tensor, mask: torch.Tensor, size) -> tuple[torch.Tensor, torch.Tensor]:
    """The ground truth and the hole at an auxiliary output's size (a cell holding any hole
    pixel is a hole)."""
    if tuple(size) == tuple(image.shape[-2:]):
        return image, mask
    return F.interpolate(image, size=size, mode="area"), F.adaptive_max_pool2d(mask, size)


def generator_losses(output, auxiliary, image, mask, fake_logits, weights: LossWeights) -> dict[str, torch.Tensor]:
    """Every term unweighted (0 when its weight is 0: it is not computed), plus "generator": their
    weighted sum (the value to minimise) and "reconstruction": the weighted sum of the L1 terms
    alone (what an overfit test watches). `auxiliary`: the generator's auxiliary outputs (PEN-Net's
    pyramid, DeepFill's coarse output)."""
    zero = output.new_zeros(())
    terms = {
        "hole": hole_l1(output, image, mask, weights.discount),
        "valid": masked_l1(output, image, 1 - mask),
        "pyramid": pyramid_l1(auxiliary, image) if auxiliary and weights.pyramid else zero,
        "coarse": zero,
        "adversarial": generator_adversarial(fake_logits) if fake_logits is not None else zero,
    }
    if auxiliary and weights.coarse:
        first = auxiliary[0]
        truth, hole = _at_size(image, mask, first.shape[-2:])
        terms["coarse"] = hole_l1(first, truth, hole, weights.discount) + masked_l1(first, truth, 1 - hole)
    terms["reconstruction"] = sum(getattr(weights, t) * terms[t] for t in LossWeights.TERMS if t != "adversarial")
    terms["generator"] = terms["reconstruction"] + weights.adversarial * terms["adversarial"]
    return terms
