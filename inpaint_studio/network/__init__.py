"""PEN-Net in pure torch: generator, PatchGAN discriminator and the Attention Transfer Network.

Nothing here knows about files, devices or Qt.
"""
from .attention import AFFINITIES, ATTENTION_MODES, AttentionTransfer
from .discriminator import PatchDiscriminator
from .generator import PENNetGenerator, generator_input

__all__ = [
    "AFFINITIES",
    "ATTENTION_MODES",
    "AttentionTransfer",
    "PatchDiscriminator",
    "PENNetGenerator",
    "generator_input",
]
