"""PEN-Net generator: pyramid-context encoder (ATNs deep to shallow) and multi-scale decoder.

Layer names follow the authors' PyTorch release so that a released `netG` state dict loads with
strict=True. Input: cat(image * (1 - mask) + mask, mask) in [-1, 1] (see `generator_input`).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import AFFINITIES, ATTENTION_MODES, COMPUTES, KERNELS, AttentionTransfer

MULTIPLE = 64  # six stride-2 layers: sides must be multiples of 64


def generator_input(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """image (B,3,H,W) in [-1,1], mask (B,1,H,W) with 1 = hole -> the 4-channel network input;
    the hole is filled with 1 (white), as in the reference implementation."""
    return torch.cat([image * (1 - mask) + mask, mask], dim=1)


def _conv(cin, cout, stride, act):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), act)


def _up(t):
    return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=True)


class PENNetGenerator(nn.Module):
    multiple = MULTIPLE
    attention_stride = 4  # the finest ATN matches (and its flow points) on the 1/4 grid

    def __init__(self, attention: str = "holes", affinity: str = "release", cnum: int = 32):
        super().__init__()
        leaky = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        widths = [4, cnum, cnum * 2, cnum * 4, cnum * 8, cnum * 16, cnum * 16]
        for i in range(1, 7):  # encoder dw_conv01 ... dw_conv06
            act = relu() if i == 6 else leaky()
            setattr(self, f"dw_conv{i:02d}", _conv(widths[i - 1], widths[i], 2, act))
        # ATNs: the deepest matches 1x1 patches and has no refinement
        self.at_conv05 = AttentionTransfer(cnum * 16, cnum * 16, ksize=1, fuse=False)
        for i in range(4, 0, -1):
            setattr(self, f"at_conv{i:02d}", AttentionTransfer(widths[i], widths[i]))
        # decoder: upsample x2, conv, then concatenate with the ATN output of the next level
        self.up_conv05 = _conv(cnum * 16, cnum * 16, 1, relu())
        for i in range(4, 0, -1):
            setattr(self, f"up_conv{i:02d}", _conv(widths[i + 1] * 2, widths[i], 1, relu()))
        for i in range(5, 0, -1):  # 1x1 to-RGB heads on cat(up, atn) at every scale
            setattr(self, f"torgb{i}", nn.Sequential(nn.Conv2d(widths[i] * 2, 3, 1), nn.Tanh()))
        self.decoder = nn.Sequential(
            nn.Conv2d(cnum * 2, cnum, 3, 1, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(cnum, 3, 3, 1, 1),
            nn.Tanh(),
        )
        self.configure(attention, affinity)
        self.apply(_init_weights)

    # -- configuration --------------------------------------------------------------------------
    def attention_modules(self) -> list[AttentionTransfer]:
        return [getattr(self, f"at_conv{i:02d}") for i in range(5, 0, -1)]

    def configure(self, attention: str | None = None, affinity: str | None = None,
                  chunk_elements: int | None = None, kernel: str | None = None,
                  compute: str | None = None) -> "PENNetGenerator":
        """Set the ATNs' options (None leaves one as it is). attention and affinity must match
        the trained weights; kernel and compute change only speed and memory."""
        for name, value, allowed in (("attention mode", attention, ATTENTION_MODES),
                                     ("affinity", affinity, AFFINITIES),
                                     ("attention kernel", kernel, KERNELS),
                                     ("attention compute", compute, COMPUTES)):
            if value is not None and value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
        for atn in self.attention_modules():
            atn.mode = attention or atn.mode
            atn.affinity = affinity or atn.affinity
            atn.chunk_elements = chunk_elements or atn.chunk_elements
            atn.kernel = kernel or atn.kernel
            atn.compute = compute or atn.compute
        return self

    def attention_plan(self, batch: int, height: int, width: int, device_type: str,
                       return_flow: bool = False) -> list[tuple[str, str]]:
        """(compute, kernel) of each ATN, deepest first, for a forward pass of this size."""
        plan = []
        for i in range(5, 0, -1):
            atn = getattr(self, f"at_conv{i:02d}")
            low_channels = getattr(self, f"dw_conv{i:02d}")[0].out_channels
            high_channels = getattr(self, f"dw_conv{i + 1:02d}")[0].out_channels
            side = 2 ** (i + 1)
            plan.append(atn.plan(batch, (height // side, width // side), high_channels, low_channels,
                                 device_type, return_flow and i == 1))
        return plan

    def packs(self, batch: int, height: int, width: int, device_type: str, return_flow: bool = False) -> bool:
        """Whether any ATN packs (reads counts on the host, so the pass cannot be a CUDA graph)."""
        return any(c == "packed" for c, _ in self.attention_plan(batch, height, width, device_type, return_flow))

    @property
    def attention(self) -> str:
        return self.at_conv01.mode

    @property
    def affinity(self) -> str:
        return self.at_conv01.affinity

    # -- forward --------------------------------------------------------------------------------
    def forward(self, x, mask, source=None, pyramid: bool = True, return_flow: bool = False):
        """x: (B,4,H,W) from `generator_input`, H and W multiples of 64; mask (B,1,H,W), 1 = hole;
        source: optional (B,1,H,W), 1 = attention may copy from here.
        Returns (output, [img1 ... img5]) with img1 at H/2 down to img5 at H/32 (an empty list
        when pyramid=False), plus the finest level's flow (B,H/4,W/4) with return_flow."""
        if x.shape[-2] % MULTIPLE or x.shape[-1] % MULTIPLE:
            raise ValueError(f"PEN-Net needs sides that are multiples of {MULTIPLE}, got {tuple(x.shape[-2:])}")
        feats = [x]
        for i in range(1, 7):
            feats.append(getattr(self, f"dw_conv{i:02d}")(feats[-1]))
        filled = {6: feats[6]}
        flow = None
        for i in range(5, 0, -1):
            atn = getattr(self, f"at_conv{i:02d}")
            if i == 1 and return_flow:
                filled[i], flow = atn(feats[i], filled[i + 1], mask, source, return_flow=True)
            else:
                filled[i] = atn(feats[i], filled[i + 1], mask, source)
        del feats
        up = self.up_conv05(_up(filled[6]))
        images = []
        for i in range(5, 0, -1):
            joined = torch.cat([up, filled[i]], 1)
            if pyramid:
                images.append(getattr(self, f"torgb{i}")(joined))
            if i > 1:
                up = getattr(self, f"up_conv{i - 1:02d}")(_up(joined))
        output = self.decoder(_up(joined))
        images.reverse()
        return (output, images, flow) if return_flow else (output, images)


def _init_weights(module):
    """The release's initialisation: N(0, 0.02) weights, zero biases."""
    if isinstance(module, nn.Conv2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
