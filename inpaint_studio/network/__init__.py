"""The networks in pure torch: PEN-Net (generator, Attention Transfer Network), DeepFill v1
(coarse and refinement networks, contextual attention), the SN-PatchGAN discriminator, and the
factory that builds them by architecture name.

Nothing here knows about files, devices or Qt.
"""
from .attention import AFFINITIES, ATTENTION_MODES, AttentionTransfer
from .deepfill import ContextualAttention, DeepFillGenerator
from .discriminator import PatchDiscriminator
from .factory import GENERATORS, make_discriminator, make_generator
from .generator import PENNetGenerator, generator_input

__all__ = [
    "AFFINITIES",
    "ATTENTION_MODES",
    "AttentionTransfer",
    "ContextualAttention",
    "DeepFillGenerator",
    "GENERATORS",
    "PatchDiscriminator",
    "PENNetGenerator",
    "generator_input",
    "make_discriminator",
    "make_generator",
]
