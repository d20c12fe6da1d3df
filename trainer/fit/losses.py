"""PEN-Net's objective (section 3, eqs. 6-10) with the weights of the authors' release.

Generator: hole L1 x6 + valid L1 x1 (each normalised by its area, so that small and large holes
weigh alike) + pyramid L1 x0.5 (every decoder scale against the ground truth downscaled to it) +
hinge adversarial x0.1 on the composite z = G(x)*M + x*(1-M).
Discriminator: hinge loss, eq. (8), on real images and composites.
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


def generator_losses(output, pyramid, image, mask, fake_logits, weights: LossWeights) -> dict[str, torch.Tensor]:
    """Every term unweighted, plus "generator": their weighted sum (the value to minimise) and
    "reconstruction": the weighted sum of the L1 terms alone (what an overfit test watches)."""
    terms = {
        "hole": masked_l1(output, image, mask),
        "valid": masked_l1(output, image, 1 - mask),
        "pyramid": pyramid_l1(pyramid, image) if pyramid else output.new_zeros(()),
        "adversarial": generator_adversarial(fake_logits) if fake_logits is not None else output.new_zeros(()),
    }
    terms["reconstruction"] = (weights.hole * terms["hole"] + weights.valid * terms["valid"]
                               + weights.pyramid * terms["pyramid"])
    terms["generator"] = terms["reconstruction"] + weights.adversarial * terms["adversarial"]
    return terms
