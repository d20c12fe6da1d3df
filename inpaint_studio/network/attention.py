"""Attention Transfer Network (ATN): PEN-Net section 3.1, eqs. (2)-(4).

Affinity is learned between patches of the coarser map `high` (psi^l) and used to copy 4x4
patches (stride 2) of the finer map `low` (phi^(l-1)) into its hole: every matching position of
`high` is the centre of one transferred patch of `low`, and the overlapping patches are summed
and divided by 4, which is the convolution formulation of eq. (4) used by the release.

Two modes decide *which* positions are rebuilt; both compute the same numbers there:
  reference  every position, against every patch (hole patches as zero keys): what the release does.
  holes      only positions whose transferred patch touches the hole, against the known patches;
             the rest of `low` is kept. Cost: hole positions x known positions.

Two affinities decide *how* scores are made (a property of the trained weights, kept in the
model card):
  release    keys are L2-normalised, queries are not (their norm acts as a learned softmax
             temperature); hole patches take part in the softmax with score 0 and copy nothing.
  paper      eq. (2) as printed: cosine similarity of normalised query and key, and a softmax
             over the known patches only.
Neither builds an N x N matrix: scores are computed in chunks of query rows.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

ATTENTION_MODES = ("holes", "reference")
AFFINITIES = ("release", "paper")

_NORM_FLOOR = 1e-4  # the release's floor on patch norms
_EXCLUDED = -1e4    # score of a key that may not be used: exp() of it is 0, yet never NaN


class AttentionTransfer(nn.Module):
    """One ATN level. `fuse` adds the four dilated 3x3 groups (rates 1, 2, 4, 8) that refine the
    filled map; parameter names (conv00 ... conv03) are the release's."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ksize: int = 3,
        softmax_scale: float = 10.0,
        fuse: bool = True,
        rates: tuple[int, ...] = (1, 2, 4, 8),
        mode: str = "holes",
        affinity: str = "release",
        chunk_elements: int = 1 << 23,
    ):
        super().__init__()
        self.ksize = ksize
        self.softmax_scale = softmax_scale
        self.fuse = fuse
        self.groups = len(rates) if fuse else 0
        self.mode = mode
        self.affinity = affinity
        self.chunk_elements = chunk_elements
        for i, rate in enumerate(rates if fuse else ()):
            branch = nn.Sequential(
                nn.Conv2d(in_channels, out_channels // len(rates), 3, padding=rate, dilation=rate),
                nn.ReLU(inplace=True),
            )
            setattr(self, f"conv{i:02d}", branch)

    # -- public -------------------------------------------------------------------------------
    def forward(self, low, high, mask, source=None, return_flow: bool = False):
        """low: (B,C1,2H,2W) map to fill; high: (B,C2,H,W) map to match on; mask: (B,1,h,w),
        1 = hole, any resolution; source: optional (B,1,h,w), 1 = keys may come from here.
        Returns the filled (and refined) map, and with return_flow the source position index
        (B,H,W) of the strongest key of every rebuilt position (-1 elsewhere)."""
        filled, flow = self.transfer(low, high, mask, source, return_flow)
        if self.fuse:
            filled = torch.cat([getattr(self, f"conv{i:02d}")(filled) for i in range(self.groups)], 1)
        return (filled, flow) if return_flow else filled

    def transfer(self, low, high, mask, source=None, return_flow: bool = False):
        """Eqs. (2)-(4) without refinement: (filled map, flow or None)."""
        self._check(low, high)
        b, _, h1, w1 = low.shape
        _, _, h2, w2 = high.shape
        length = h2 * w2
        mask = mask.to(high.dtype)
        hole_low = F.adaptive_max_pool2d(mask, (h1, w1))
        key_ok = self._key_positions(mask, source, (h2, w2)).view(b, length)

        patches = F.unfold(high, self.ksize, padding=self.ksize // 2).transpose(1, 2)  # B,L,D
        values = F.unfold(low, 4, stride=2, padding=1).transpose(1, 2)  # B,L,C1*16
        if self.mode == "reference":
            q_idx = None
            rows, flow_idx = self._attend_all(patches, values, key_ok, return_flow)
            filled = F.fold(rows.transpose(1, 2), (h1, w1), 4, stride=2, padding=1) / 4.0
        else:
            touched = F.max_pool2d(hole_low, 4, 2, 1).view(b, length) > 0
            rows, flow_idx, q_idx, q_valid = self._attend_holes(patches, values, key_ok, touched, return_flow)
            filled = _paste_patches(rows, q_idx, q_valid, w2, (h1, w1)).to(low.dtype)
            filled = torch.where(hole_low > 0, filled, low)
        del patches, values
        flow = None
        if return_flow:
            if q_idx is None:
                flow = flow_idx
            else:
                flow = torch.full((b, length + 1), -1, dtype=torch.long, device=low.device)
                flow.scatter_(1, torch.where(q_valid, q_idx, length), flow_idx)
                flow = flow[:, :length]
            flow = flow.reshape(b, h2, w2)
        return filled, flow

    # -- helpers ------------------------------------------------------------------------------
    def _check(self, low, high):
        if self.mode not in ATTENTION_MODES:
            raise ValueError(f"attention mode must be one of {ATTENTION_MODES}, not {self.mode!r}")
        if self.affinity not in AFFINITIES:
            raise ValueError(f"affinity must be one of {AFFINITIES}, not {self.affinity!r}")
        if low.shape[-2] != 2 * high.shape[-2] or low.shape[-1] != 2 * high.shape[-1]:
            raise ValueError(f"ATN needs a finer map twice the size: {tuple(low.shape)} vs {tuple(high.shape)}")

    def _key_positions(self, mask, source, size):
        """Matching patches that lie fully outside the hole (and inside the source region)."""
        hole = F.adaptive_max_pool2d(mask, size)
        k = self.ksize
        ok = F.max_pool2d(hole, k, 1, k // 2) == 0
        if source is not None:
            not_source = (F.adaptive_avg_pool2d(source.to(mask.dtype), size) < 0.5).to(mask.dtype)
            ok &= F.max_pool2d(not_source, k, 1, k // 2) == 0
        return ok

    def _normalised(self, patches):
        return patches / patches.norm(dim=-1, keepdim=True).clamp_min(_NORM_FLOOR)

    def _attend_all(self, patches, values, key_ok, return_flow):
        """Reference mode: every position against every patch; excluded patches are zero keys
        (release: score 0, inside the softmax) or masked out (paper)."""
        keep = key_ok.unsqueeze(-1).to(patches.dtype)
        keys = self._normalised(patches)
        queries = keys if self.affinity == "paper" else patches
        bias = None
        if self.affinity == "paper":
            bias = torch.zeros(key_ok.shape, dtype=torch.float32, device=keys.device)
            bias.masked_fill_(~key_ok, _EXCLUDED)
        return self._attend(queries, keys * keep, values * keep, bias, None, return_flow)

    def _attend_holes(self, patches, values, key_ok, touched, return_flow):
        """Holes mode: packed hole positions against packed known patches. Padding keys are
        excluded by their bias; the release's zero-score hole patches are counted, not stored."""
        length = patches.shape[1]
        q_idx, q_valid = _pack(touched)
        k_idx, k_valid = _pack(key_ok)
        keys = self._normalised(_gather_rows(patches, k_idx))
        queries = _gather_rows(patches, q_idx)
        if self.affinity == "paper":
            queries = self._normalised(queries)
        bias = torch.zeros(k_valid.shape, dtype=torch.float32, device=keys.device)
        bias.masked_fill_(~k_valid, _EXCLUDED)
        extra = None
        if self.affinity == "release":
            extra = (length - key_ok.sum(1)).to(torch.float32).view(-1, 1, 1)
        rows, best = self._attend(queries, keys, _gather_rows(values, k_idx), bias, extra, return_flow)
        if best is not None:
            best = torch.where(k_valid.any(1, keepdim=True), k_idx.gather(1, best), torch.full_like(best, -1))
        return rows, best, q_idx, q_valid

    def _attend(self, q, k, v, bias, extra, return_flow):
        """softmax(scale * q k^T + bias) v, the softmax also counting `extra` (B,1,1) zero-score
        keys of zero value. Chunked over query rows; scores and weights are kept in float32."""
        b, nq, _ = q.shape
        nk = k.shape[1]
        out = v.new_zeros(b, nq, v.shape[-1])
        best = torch.zeros(b, nq, dtype=torch.long, device=q.device) if return_flow else None
        if nq == 0 or nk == 0:
            return out, best
        k_t = k.transpose(1, 2).contiguous()  # a contiguous right operand runs ~2x faster on CPU
        step = max(1, self.chunk_elements // (b * nk))
        # in-place arithmetic saves memory at inference; autograd needs the out-of-place forms
        inplace = not (torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad))
        for s in range(0, nq, step):
            scores = torch.bmm(q[:, s:s + step], k_t).float()
            scores = scores.mul_(self.softmax_scale) if inplace else scores * self.softmax_scale
            if bias is not None:
                scores = scores.add_(bias.unsqueeze(1)) if inplace else scores + bias.unsqueeze(1)
            if best is not None:
                best[:, s:s + step] = scores.argmax(-1)
            # the shift keeps exp() in range; clamping it makes rows without any usable key
            # (all scores _EXCLUDED) come out as 0 rather than an average of excluded values
            top = scores.detach().amax(-1, keepdim=True).clamp(min=0.0 if extra is not None else _EXCLUDED / 2)
            weights = scores.sub_(top).exp_() if inplace else torch.exp(scores - top)
            denom = weights.sum(-1, keepdim=True)
            if extra is not None:
                denom = denom + extra * torch.exp(-top)
            chunk = torch.bmm(weights.to(v.dtype), v).float() / denom.clamp_min(1e-30)
            out[:, s:s + step] = chunk.to(out.dtype)
        return out, best


def _pack(flags):
    """(B,L) bool -> indices (B,N) of the True entries first, and which of them are real;
    N is the largest count in the batch, so that the batch is processed in one go."""
    count = int(flags.sum(1).max()) if flags.numel() else 0
    order = torch.sort(flags.to(torch.uint8), dim=1, descending=True, stable=True).indices[:, :count]
    valid = torch.arange(count, device=flags.device).unsqueeze(0) < flags.sum(1, keepdim=True)
    return order, valid


def _gather_rows(t, idx):
    return t.gather(1, idx.unsqueeze(-1).expand(-1, -1, t.shape[-1]))



def _paste_patches(rows, q_idx, q_valid, grid_width, size):
    """Overlap-add the 4x4 patches of the rebuilt positions (rows: B,Q,C*16) into a (B,C,H,W)
    map and divide by 4: eq. (4) as a transposed convolution, touching only those positions."""
    b, q, d = rows.shape
    h, w = size
    c = d // 16
    pw = w + 2  # one pixel of padding on each side, cropped at the end
    spare = (h + 2) * pw  # padded query rows go to one extra cell, dropped as well
    acc = rows.new_zeros(b, spare + 1, c)
    corner = 2 * torch.div(q_idx, grid_width, rounding_mode="floor") * pw + 2 * (q_idx % grid_width)
    patches = rows.view(b, q, c, 16)
    for offset in range(16):
        dy, dx = divmod(offset, 4)
        target = torch.where(q_valid, corner + dy * pw + dx, spare)
        acc.scatter_add_(1, target.unsqueeze(-1).expand(-1, -1, c), patches[..., offset])
    acc = acc[:, :spare].view(b, h + 2, pw, c)[:, 1:-1, 1:-1]
    return acc.permute(0, 3, 1, 2) / 4.0
