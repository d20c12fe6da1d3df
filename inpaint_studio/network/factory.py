"""The one place that maps an architecture's name (a model card's `architecture.name`, the
trainer's --arch) to its modules. Everything else builds networks through these two functions
and treats every generator alike: forward(x, mask, source=None, pyramid=True, return_flow=False)
-> (output, auxiliary outputs[, flow]), `configure(attention=, affinity=, chunk_elements=)`,
`attention_modules()`, and class attributes `multiple` (what the sides must divide by) and
`attention_stride` (model pixels per cell of the grid its attention matches on).
"""
from __future__ import annotations

import torch.nn as nn

from .deepfill import DeepFillGenerator
from .discriminator import PatchDiscriminator
from .generator import PENNetGenerator

GENERATORS: dict[str, type[nn.Module]] = {
    "pennet": PENNetGenerator,
    "deepfill1": DeepFillGenerator,
}
# Both are trained against the SN-PatchGAN: DeepFill v1's global and local WGAN-GP critics assume
# one rectangular hole, and the project trains on free-form masks (DeepFill v2 made the same move).
DISCRIMINATORS: dict[str, type[nn.Module]] = {
    "pennet": PatchDiscriminator,
    "deepfill1": PatchDiscriminator,
}


def _lookup(table: dict, kind: str):
    try:
        return table[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown architecture {kind!r} (known: {', '.join(table)})") from None


def make_generator(kind: str, **options) -> nn.Module:
    """A new generator of architecture `kind` with `options` (attention, affinity, cnum)."""
    return _lookup(GENERATORS, kind)(**options)


def make_discriminator(kind: str, **options) -> nn.Module:
    """The discriminator that a generator of architecture `kind` is trained against."""
    return _lookup(DISCRIMINATORS, kind)(**options)
