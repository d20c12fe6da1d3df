"""Attention Transfer Network (ATN): PEN-Net section 3.1, eqs. (2)-(4).

Affinity is learned between patches of the coarser map `high` (psi^l) and used to copy 4x4
patches (stride 2) of the finer map `low` (phi^(l-1)) into its hole: every matching position of
`high` is the centre of one transferred patch of `low`, and the overlapping patches are summed
and divided by 4, which is the convolution formulation of eq. (4) used by the release.

Two modes decide *which* positions are rebuilt (a property of the trained weights, kept in the
model card: a network trained in one mode gives other pixels in the other):
  reference  every position, against every patch (hole patches as zero keys): what the release does.
  holes      only positions whose transferred patch touches the hole, against the known patches;
             the rest of `low` is kept.

Two affinities decide *how* scores are made (also a property of the weights):
  release    keys are L2-normalised, queries are not (their norm acts as a learned softmax
             temperature); hole patches take part in the softmax with score 0 and copy nothing.
  paper      eq. (2) as printed: cosine similarity of normalised query and key, and a softmax
             over the known patches only.

How the numbers are computed changes nothing but speed and memory (`choose_*` below pick per call):
  compute    `holes` mode only. packed: gather the hole queries and the known keys (cost hole x
             known, plus a host sync to size them); dense: attend every position as `reference`
             does, then keep the known ones (cost all x all, no sync, fixed shapes).
  kernel     direct: the chunked transcription, scores in float32 (the reference); matmul:
             softmax(q k^T + bias) v as three batched operations in the compute dtype (no
             float32 copy of the scores; the default on CPU and CUDA); sdpa: torch's
             scaled_dot_product_attention with the bias as attn_mask (fused kernels, O(N)
             memory). The release's uncounted hole patches become one key of score log(count)
             and value 0, which is exact: exp(log n) = n zero-score keys.
No kernel builds an N x N matrix beyond its chunk budget.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

ATTENTION_MODES = ("holes", "reference")
AFFINITIES = ("release", "paper")
KERNELS = ("auto", "direct", "matmul", "sdpa")
COMPUTES = ("auto", "packed", "dense")

_NORM_FLOOR = 1e-4  # the release's floor on patch norms
_EXCLUDED = -1e4    # score of a key that may not be used: exp() of it is 0, yet never NaN
_ALIGN = 16         # key counts of the fused kernels are padded to this: tensor-core GEMMs want
                    # 16-byte rows, and SDPA copies a bias whose rows are not 16 elements aligned

# -- the automatic choices (written once; the engine, the trainer and the benches use them) -------
# Packing pays when the dense attention costs more than the packing's fixed cost (a host sync, a
# sort, gathers and scatters per ATN). Measured on one H200 (issue 13, the direct kernel, whole
# generator, packed = `holes`, dense = `reference`'s arithmetic): fp16 batch 1: 256 px 13.6 vs
# 6.2 ms, 512 px 15.9 vs 12.8, 1024 px 52 vs 146; bf16 training at 256 px: batch 8 135 vs 151
# samples/s, batch 32 259 vs 202, batch 64 210 vs 142. The finest ATN's dense work
# 2 B L^2 (D + Dv) was 0.29 and 0.58 TFLOP where dense won, 1.2 and 9.3 TFLOP where packing won.
# On the CPU packing won at every size measured (README: 2.97x at 256 px, 4.45x at 512, fp32).
PACK_ABOVE_FLOP = {"cuda": 8e11}  # other devices: always packed
# Kernels. CPU (2-core EPYC, one thread, CPU time, medians of interleaved runs): matmul against
# direct 2571 vs 2842 ms at 512 px fp32, 1578 vs 1796 bf16; 315 vs 312 at 256 fp32, 186 vs 200
# bf16; a training step at 128 px, batch 4: 1667 vs 1729 fp32, 1038 vs 1129 bf16; sdpa no faster
# (319 fp32, 263 bf16 at 256). CUDA: matmul runs both products as cuBLAS GEMMs (Hopper tensor-core
# kernels); the head dims here (576-4608) exceed flash attention's 256, which leaves sdpa the
# memory-efficient kernel, whose output for head dims over 128 round-trips a float32 buffer once
# per 64 keys. Predicted, not yet measured on a GPU: `python -m inpaint_studio bench --device
# cuda` prints both. The direct kernel stays the reference and takes the flow's argmax.
KERNEL_FOR_DEVICE = {"cuda": "matmul", "cpu": "matmul"}  # other devices: direct
# Chunk budget (score elements per chunk) of the direct and matmul kernels. CUDA: 64M (scores and
# weights 256 MB in half precision at most: large GEMMs, yet small beside the engine's memory budget).
CHUNK_ELEMENTS = {"cuda": 1 << 26}  # other devices: 1 << 23 (8M floats, 32 MB: fits CPU caches well)


def choose_kernel(device_type: str) -> str:
    return KERNEL_FOR_DEVICE.get(device_type, "direct")


def dense_flops(batch: int, length: int, dim: int, value_dim: int) -> float:
    """Multiply-adds x 2 of the two attention products when every position attends every patch."""
    return 2.0 * batch * length * length * (dim + value_dim)


def choose_compute(device_type: str, flops: float) -> str:
    """'packed' or 'dense' for `holes` mode, from the dense work of one ATN call."""
    limit = PACK_ABOVE_FLOP.get(device_type)
    return "packed" if limit is None or flops >= limit else "dense"


def default_chunk_elements(device_type: str) -> int:
    return CHUNK_ELEMENTS.get(device_type, 1 << 23)


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
        chunk_elements: int | None = None,
        kernel: str = "auto",
        compute: str = "auto",
    ):
        super().__init__()
        self.ksize = ksize
        self.softmax_scale = softmax_scale
        self.fuse = fuse
        self.groups = len(rates) if fuse else 0
        self.mode = mode
        self.affinity = affinity
        self.chunk_elements = chunk_elements  # None: default_chunk_elements(device)
        self.kernel = kernel
        self.compute = compute
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

    def plan(self, batch: int, high_size: tuple[int, int], high_channels: int, low_channels: int,
             device_type: str, return_flow: bool = False) -> tuple[str, str]:
        """(compute, kernel) that a call with these sizes will use: 'packed' or 'dense' (always
        'dense' in reference mode), and 'direct', 'matmul' or 'sdpa'. The flow (an argmax) is
        taken on the direct, packed path."""
        if return_flow:
            return ("packed" if self.mode == "holes" else "dense"), "direct"
        kernel = choose_kernel(device_type) if self.kernel == "auto" else self.kernel
        if self.mode == "reference":
            return "dense", kernel
        if self.compute != "auto":
            return self.compute, kernel
        length = high_size[0] * high_size[1]
        flops = dense_flops(batch, length, high_channels * self.ksize ** 2, low_channels * 16)
        return choose_compute(device_type, flops), kernel

    def transfer(self, low, high, mask, source=None, return_flow: bool = False):
        """Eqs. (2)-(4) without refinement: (filled map, flow or None)."""
        self._check(low, high)
        b, c1, h1, w1 = low.shape
        _, c2, h2, w2 = high.shape
        length = h2 * w2
        compute, kernel = self.plan(b, (h2, w2), c2, c1, low.device.type, return_flow)
        mask = mask.to(high.dtype)
        hole_low = F.adaptive_max_pool2d(mask, (h1, w1))
        key_ok = self._key_positions(mask, source, (h2, w2)).view(b, length)

        patches = _patches(high, self.ksize)  # B,L,D
        values = F.unfold(low, 4, stride=2, padding=1).transpose(1, 2)  # B,L,C1*16
        q_idx = flow_idx = None
        if compute == "dense":
            rows, flow_idx = self._attend_all(patches, values, key_ok, return_flow, kernel)
            filled = F.fold(rows.transpose(1, 2), (h1, w1), 4, stride=2, padding=1) / 4.0
            if self.mode == "holes":  # keep the known features: the same numbers as packed
                filled = torch.where(hole_low > 0, filled.to(low.dtype), low)
        else:
            touched = F.max_pool2d(hole_low, 4, 2, 1).view(b, length) > 0
            rows, flow_idx, q_idx, q_valid = self._attend_holes(patches, values, key_ok, touched,
                                                                return_flow, kernel)
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
        if self.kernel not in KERNELS:
            raise ValueError(f"attention kernel must be one of {KERNELS}, not {self.kernel!r}")
        if self.compute not in COMPUTES:
            raise ValueError(f"attention compute must be one of {COMPUTES}, not {self.compute!r}")
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

    def _attend_all(self, patches, values, key_ok, return_flow, kernel):
        """Every position against every patch; excluded patches are zero keys (release: score 0,
        inside the softmax) or masked out (paper)."""
        keep = key_ok.unsqueeze(-1).to(patches.dtype)
        keys = self._normalised(patches)
        queries = keys if self.affinity == "paper" else patches
        bias = has_key = None
        if self.affinity == "paper":
            bias = torch.zeros(key_ok.shape, dtype=torch.float32, device=keys.device)
            bias.masked_fill_(~key_ok, _EXCLUDED)
            has_key = key_ok.any(1).view(-1, 1, 1)
        if kernel == "direct":
            return self._attend(queries, keys * keep, values * keep, bias, None, return_flow)
        return self._attend_fused(queries, keys * keep, values * keep, bias, has_key, kernel), None

    def _attend_holes(self, patches, values, key_ok, touched, return_flow, kernel):
        """Holes mode: packed hole positions against packed known patches. Padding keys are
        excluded by their bias; the release's zero-score hole patches are counted, not stored
        (direct), or stand in one padding slot as a key of score log(count) (fused kernels)."""
        length = patches.shape[1]
        fused = kernel != "direct"
        release = self.affinity == "release"
        # fused kernels: counts rounded up (aligned rows, and few distinct shapes for compiled
        # graphs), one slot more for the release's hole-patch key
        multiple = _bucket(length) if fused else 1
        q_idx, q_valid = _pack(touched, multiple)
        k_idx, k_valid = _pack(key_ok, multiple, reserve=int(fused and release))
        keys = self._normalised(_gather_rows(patches, k_idx))
        queries = _gather_rows(patches, q_idx)
        if not release:
            queries = self._normalised(queries)
        bias = torch.zeros(k_valid.shape, dtype=torch.float32, device=keys.device)
        bias.masked_fill_(~k_valid, _EXCLUDED)
        holes = (length - key_ok.sum(1)).to(torch.float32)  # hole (and non-source) patches
        if not fused:
            extra = holes.view(-1, 1, 1) if release else None
            rows, best = self._attend(queries, keys, _gather_rows(values, k_idx), bias, extra, return_flow)
            if best is not None:
                best = torch.where(k_valid.any(1, keepdim=True), k_idx.gather(1, best), torch.full_like(best, -1))
            return rows, best, q_idx, q_valid
        keep = k_valid.unsqueeze(-1).to(keys.dtype)
        keys, vals = keys * keep, _gather_rows(values, k_idx) * keep
        has_key = None
        if release:  # the first free slot: a zero key and value, scored log(count)
            slot = torch.arange(k_idx.shape[1], device=keys.device).unsqueeze(0) == k_valid.sum(1, keepdim=True)
            bias = torch.where(slot, holes.clamp_min(1).log().unsqueeze(1), bias)
        else:
            has_key = k_valid.any(1).view(-1, 1, 1)
        rows = self._attend_fused(queries, keys, vals, bias, has_key, kernel)
        return rows, None, q_idx, q_valid

    def _chunk_rows(self, b, nq, nk, device_type):
        budget = self.chunk_elements or default_chunk_elements(device_type)
        return max(1, min(nq, budget // max(1, b * nk)))

    def _attend(self, q, k, v, bias, extra, return_flow):
        """The direct kernel: softmax(scale * q k^T + bias) v, the softmax also counting `extra`
        (B,1,1) zero-score keys of zero value. Chunked over query rows; scores and weights are
        kept in float32."""
        b, nq, _ = q.shape
        nk = k.shape[1]
        out = v.new_zeros(b, nq, v.shape[-1])
        best = torch.zeros(b, nq, dtype=torch.long, device=q.device) if return_flow else None
        if nq == 0 or nk == 0:
            return out, best
        k_t = k.transpose(1, 2).contiguous()  # a contiguous right operand runs ~2x faster on CPU
        step = self._chunk_rows(b, nq, nk, q.device.type)
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

    def _attend_fused(self, q, k, v, bias, has_key, kernel):
        """The matmul and sdpa kernels: softmax(scale * q k^T + bias) v with q, k, v, the bias and
        the scores in the compute dtype (the autocast dtype, else the inputs'); rows of items
        without any usable key (has_key False, (B,1,1)) are 0. Returns (B,Nq,Dv)."""
        device = q.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else q.dtype
        b, nq, _ = q.shape
        if nq == 0 or k.shape[1] == 0:  # no hole, or no known patch anywhere in the batch
            return v.new_zeros(b, nq, v.shape[-1], dtype=dtype)
        q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
        if k.shape[1] % _ALIGN:  # pad with excluded zero keys
            pad = _ALIGN - k.shape[1] % _ALIGN
            k, v = F.pad(k, (0, 0, 0, pad)), F.pad(v, (0, 0, 0, pad))
            if bias is None:
                bias = torch.zeros(b, k.shape[1] - pad, dtype=dtype, device=q.device)
            bias = F.pad(bias, (0, pad), value=_EXCLUDED)
        bias = bias.to(dtype) if bias is not None else None
        # autocast off: it would run the softmax in float32 (a float32 copy of every score)
        with torch.autocast(device, enabled=False):
            if kernel == "sdpa":
                mask = bias[:, None, None, :] if bias is not None else None
                out = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1),
                                                     attn_mask=mask, scale=self.softmax_scale).squeeze(1)
            else:
                nk = k.shape[1]
                k_t = k.transpose(1, 2)
                step = self._chunk_rows(b, nq, nk, device)
                parts = []
                for s in range(0, nq, step):
                    rows = min(step, nq - s)
                    # the scale is applied in the GEMM's float32 epilogue; beta=0 reads no input
                    start = bias.unsqueeze(1) if bias is not None else q.new_zeros(1, 1, 1)
                    scores = torch.baddbmm(start.expand(b, rows, nk), q[:, s:s + step], k_t,
                                           beta=1 if bias is not None else 0, alpha=self.softmax_scale)
                    parts.append(torch.bmm(torch.softmax(scores, -1), v))
                    del scores
                out = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
        return out if has_key is None else out * has_key.to(dtype)


def _bucket(length: int) -> int:
    """Packed counts of the fused kernels are multiples of this: aligned, and at most ~32 shapes."""
    return max(_ALIGN, -(-length // 32 // _ALIGN) * _ALIGN)


def _pack(flags, multiple: int = 1, reserve: int = 0):
    """(B,L) bool -> indices (B,N) of the True entries first, and which of them are real;
    N is the largest count in the batch plus `reserve`, rounded up to `multiple`, so that the
    batch is processed in one go. The count is read on the host: the shapes depend on the mask."""
    b, length = flags.shape
    counts = flags.sum(1, keepdim=True)
    largest = int(counts.max()) if flags.numel() else 0
    n = -(-(largest + reserve) // multiple) * multiple if largest else 0
    order = torch.sort(flags.to(torch.uint8), dim=1, descending=True, stable=True).indices
    order = order[:, :n] if n <= length else F.pad(order, (0, n - length))
    valid = torch.arange(n, device=flags.device).unsqueeze(0) < counts
    return order, valid


def _patches(t, ksize):
    """(B,C,H,W) -> (B,H*W,C*k*k): the k x k patch around every position, zero outside."""
    if ksize == 1:
        return t.flatten(2).transpose(1, 2)
    return F.unfold(t, ksize, padding=ksize // 2).transpose(1, 2)


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
