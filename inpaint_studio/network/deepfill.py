"""DeepFill v1: "Generative Image Inpainting with Contextual Attention" (Yu et al., CVPR 2018).

A coarse network (two stride-2 convolutions, dilated 3x3 convolutions at rates 2, 4, 8, 16,
nearest-neighbour upsampling + convolution, ELU everywhere, the output clipped to [-1, 1]) makes a
first guess; its hole is pasted into the photo and a refinement network of two branches reads it:
one of dilated convolutions ("hallucination"), one ending in the contextual attention layer;
their features are concatenated and decoded like the coarse network's.

Contextual attention (section 3.2), on the attention branch's map x at 1/4 resolution:
  - matching runs on x downscaled 2x (nearest), i.e. at 1/8 resolution: every 3x3 patch of
    the background is a convolution filter, normalised, so the score of a (foreground,
    background) pair is their dot product over the key's norm (the authors' code; the paper
    prints the cosine of both, available as affinity "paper");
  - attention propagation ("fuse"): scores are summed along the diagonal of a 3x3 identity
    kernel, left-right then top-down, s'(q, k) = sum over d in 3x3 of s(q + d, k + d), with zero
    scores beyond the border (the authors' code convolves the flattened score matrix and so
    wraps around row ends; we follow the paper's equation);
  - softmax over the background with scale 10;
  - the 4x4 patches (stride 2) of x at 1/4 resolution are pasted back with the weights, a
    transposed convolution divided by 4.
This is PEN-Net's Attention Transfer with low = x and high = x downscaled, plus propagation; the
propagated score is the dot product of the 3x3 neighbourhoods of patch vectors (each key patch
normalised on its own), so `ContextualAttention` builds those vectors and leaves the unfold,
softmax, holes/reference modes, source region, flow and fold to `AttentionTransfer`.

Choices where the paper leaves one open (also in the README):
  - padding: zeros (the authors' released configuration, PADDING 'SAME'; the paper's text says
    mirror padding, which cannot pad a dilation-16 convolution on the 16x16 map of a 64 px crop);
  - channel widths: the authors' code, cnum = 32 (5x5 first convolutions, 4 * cnum in the middle);
  - input: the photo with its hole set to 0, a channel of ones and the mask (the authors' code);
    the network takes the same 4-channel `generator_input` as PEN-Net and rebuilds it;
  - masks in contextual attention: a cell of the 1/8 grid is a hole when any pixel under it is
    (max pooling, not the code's nearest-neighbour resize, which misses thin free-form strokes),
    and a key is usable when its whole 3x3 patch is known; with affinity "release" excluded keys
    keep score 0 inside the softmax and copy nothing (the code's y *= mm; softmax; y *= mm);
  - attention mode "holes" (the default; trained and run alike): only positions whose pasted
    patch touches the hole are rebuilt, the rest of x is kept; "reference" rebuilds the whole map
    as the authors' code does;
  - free-form masks: yes (trained with the project's masks; see trainer/fit/losses.py).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import _NORM_FLOOR, AFFINITIES, ATTENTION_MODES, AttentionTransfer

MULTIPLE = 8  # two stride-2 convolutions, then the 2x downscale of contextual attention


class ContextualAttention(AttentionTransfer):
    """The contextual attention layer (no parameters). forward(x, mask, source, return_flow):
    x (B,C,H,W) with H, W even; mask (B,1,h,w), 1 = hole, any resolution. Returns the rebuilt map
    and, with return_flow, the index (B,H/2,W/2) of the strongest background patch on the 1/2 grid
    of every rebuilt position (-1 elsewhere)."""

    def __init__(self, softmax_scale: float = 10.0, match: int = 3, propagation: int = 3,
                 mode: str = "holes", affinity: str = "release", **kernel_options):
        # ksize 1: the "patches" handed to the ATN are already the propagated patch neighbourhoods.
        # Kernel: the direct transcription unless asked (the fused kernels are measured and tested
        # for PEN-Net's ATN; with direct, a pass with the flow gives the same numbers as one without)
        kernel_options.setdefault("kernel", "direct")
        super().__init__(0, 0, ksize=1, softmax_scale=softmax_scale, fuse=False, mode=mode,
                         affinity=affinity, **kernel_options)
        self.match = match
        self.propagation = propagation

    def forward(self, x, mask, source=None, return_flow: bool = False):
        if x.shape[-2] % 2 or x.shape[-1] % 2:
            raise ValueError(f"contextual attention needs even sides, got {tuple(x.shape[-2:])}")
        filled, flow = self.transfer(x, self.neighbourhoods(x[..., ::2, ::2]), mask, source, return_flow)
        return (filled, flow) if return_flow else filled

    def neighbourhoods(self, small):
        """(B,C,h,w) -> (B, C*m*m*p*p, h, w): at every position, the m x m matching patches of the
        p x p positions around it (zeros beyond the border). Channel layout (C*m*m, p*p): the
        patch of neighbour d is the slice [..., d] of a (C*m*m, p*p) view."""
        b, _, h, w = small.shape
        m, p = self.match, self.propagation
        patches = F.unfold(small, m, padding=m // 2).view(b, -1, h, w)
        return F.unfold(patches, p, padding=p // 2).view(b, -1, h, w)

    def _normalised(self, rows):
        """Each matching patch of a neighbourhood normalised on its own (the propagated score is
        a sum of per-patch scores); an all-zero patch beyond the border stays zero."""
        p2 = self.propagation ** 2
        blocks = rows.unflatten(-1, (rows.shape[-1] // p2, p2))
        norms = blocks.norm(dim=-2, keepdim=True).clamp_min(_NORM_FLOOR)
        return (blocks / norms).flatten(-2)

    def _key_positions(self, mask, source, size):
        """Background patches: the whole m x m matching patch lies outside the hole (and, with a
        source region, inside it), as the ATN decides for its own patches."""
        m = self.match
        ok = F.max_pool2d(F.adaptive_max_pool2d(mask, size), m, 1, m // 2) == 0
        if source is not None:
            not_source = (F.adaptive_avg_pool2d(source.to(mask.dtype), size) < 0.5).to(mask.dtype)
            ok &= F.max_pool2d(not_source, m, 1, m // 2) == 0
        return ok


def _conv(cin, cout, k=3, stride=1, rate=1, act: str | None = "elu"):
    layers = [nn.Conv2d(cin, cout, k, stride, padding=rate * (k - 1) // 2, dilation=rate)]
    if act == "elu":
        layers.append(nn.ELU(inplace=True))
    elif act == "relu":
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _Up(nn.Module):
    """The authors' gen_deconv: nearest-neighbour x2, then a 3x3 convolution with ELU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = _conv(cin, cout)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


def _encoder(cin, c, widths, dilated: bool, last_act: str = "elu"):
    """5x5 conv, stride-2 3x3, 3x3, stride-2 3x3, two 3x3 (the last with `last_act`), then the
    dilated 3x3 convolutions at rates 2, 4, 8, 16 when `dilated`."""
    w1, w2, w3, w4 = widths
    layers = [_conv(cin, c, 5), _conv(c, w1, 3, 2), _conv(w1, w2), _conv(w2, w3, 3, 2),
              _conv(w3, w4), _conv(w4, w4, act=last_act)]
    if dilated:
        layers += [_conv(w4, w4, rate=r) for r in (2, 4, 8, 16)]
    return nn.Sequential(*layers)


def _decoder(cin, c):
    """Two 3x3 convs, up x2, conv, up x2, conv to c/2, conv to RGB (no activation)."""
    return nn.Sequential(_conv(cin, 4 * c), _conv(4 * c, 4 * c), _Up(4 * c, 2 * c), _conv(2 * c, 2 * c),
                         _Up(2 * c, c), _conv(c, c // 2), _conv(c // 2, 3, act=None))


class DeepFillGenerator(nn.Module):
    """forward(x, mask, source=None, pyramid=True, return_flow=False) with x from
    `generator_input` (B,4,H,W), H and W multiples of 8, mask (B,1,H,W), 1 = hole. Returns
    (refined output, [coarse output] or [] without pyramid) and with return_flow the contextual
    attention's flow (B,H/8,W/8) as `ContextualAttention` gives it: the same interface as
    PENNetGenerator, so that engine and trainer treat both alike."""

    multiple = MULTIPLE
    attention_stride = 8  # contextual attention matches (and its flow points) on the 1/8 grid

    def __init__(self, attention: str = "holes", affinity: str = "release", cnum: int = 32):
        super().__init__()
        c = cnum
        self.coarse = nn.Sequential(
            _encoder(5, c, (2 * c, 2 * c, 4 * c, 4 * c), dilated=True),
            _decoder(4 * c, c),
        )
        self.hallucination = _encoder(5, c, (c, 2 * c, 2 * c, 4 * c), dilated=True)
        self.attention_encoder = _encoder(5, c, (c, 2 * c, 4 * c, 4 * c), dilated=False, last_act="relu")
        self.contextual = ContextualAttention(mode=attention, affinity=affinity)
        self.attention_decoder = nn.Sequential(_conv(4 * c, 4 * c), _conv(4 * c, 4 * c))
        self.refine = _decoder(8 * c, c)
        self.configure(attention, affinity)
        self.apply(_init_weights)

    # -- configuration (as PENNetGenerator) ------------------------------------------------------
    def attention_modules(self) -> list[AttentionTransfer]:
        return [self.contextual]

    def configure(self, attention: str | None = None, affinity: str | None = None,
                  chunk_elements: int | None = None) -> "DeepFillGenerator":
        if attention is not None and attention not in ATTENTION_MODES:
            raise ValueError(f"attention mode must be one of {ATTENTION_MODES}, not {attention!r}")
        if affinity is not None and affinity not in AFFINITIES:
            raise ValueError(f"affinity must be one of {AFFINITIES}, not {affinity!r}")
        ca = self.contextual
        ca.mode = attention or ca.mode
        ca.affinity = affinity or ca.affinity
        ca.chunk_elements = chunk_elements or ca.chunk_elements
        return self

    @property
    def attention(self) -> str:
        return self.contextual.mode

    @property
    def affinity(self) -> str:
        return self.contextual.affinity

    # -- forward --------------------------------------------------------------------------------
    def forward(self, x, mask, source=None, pyramid: bool = True, return_flow: bool = False):
        if x.shape[-2] % MULTIPLE or x.shape[-1] % MULTIPLE:
            raise ValueError(f"DeepFill needs sides that are multiples of {MULTIPLE}, got {tuple(x.shape[-2:])}")
        mask = mask.to(x.dtype)
        known = x[:, :3] * (1 - mask)  # the authors' input: the hole is 0, not generator_input's 1
        ones = torch.ones_like(mask)
        coarse = self.coarse(torch.cat([known, ones, mask], 1)).clamp(-1, 1)
        pasted = torch.cat([coarse * mask + known, ones, mask], 1)
        hallucinated = self.hallucination(pasted)
        attended = self.contextual(self.attention_encoder(pasted), mask, source, return_flow=return_flow)
        flow = None
        if return_flow:
            attended, flow = attended
        merged = torch.cat([hallucinated, self.attention_decoder(attended)], 1)
        output = self.refine(merged).clamp(-1, 1)
        aux = [coarse] if pyramid else []
        return (output, aux, flow) if return_flow else (output, aux)


def _init_weights(module):
    """As the authors' TensorFlow layers start: Glorot-uniform kernels, zero biases."""
    if isinstance(module, nn.Conv2d):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)
