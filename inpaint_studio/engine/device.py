"""Device choice, mixed precision and memory estimates for inference."""
from __future__ import annotations

import contextlib
import functools
import os

import torch

from .base import InpaintError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
# Peak inference memory of the PEN-Net generator per model pixel (fp32, `holes` attention,
# activations of the encoder, the ATNs' unfolded patches and the decoder), with headroom.
BYTES_PER_PIXEL = 3 * 1024


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    found = ["cpu"]
    if torch.cuda.is_available():
        found.insert(0, "cuda")
    if _mps_available():
        found.insert(0, "mps")
    return found


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """'auto' -> CUDA, then MPS, then CPU; 'cpu' | 'cuda' | 'cuda:N' | 'mps' forced, with a clear
    InpaintError when that device is not there."""
    text = str(name).strip().lower() if name is not None else "auto"
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind, _, index = text.partition(":")
    if kind == "cpu" and not index:
        return torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            why = "this PyTorch build has no CUDA support" if torch.version.cuda is None else "no CUDA GPU was found"
            raise InpaintError(f"The CUDA device was requested but is not available: {why}. Use --device cpu or auto.")
        if index:
            if not index.isdigit() or int(index) >= torch.cuda.device_count():
                raise InpaintError(f"There is no GPU '{name}' (this machine has {torch.cuda.device_count()}).")
        return torch.device(text)
    if kind == "mps" and not index:
        if not _mps_available():
            raise InpaintError("The MPS device (Apple GPU) was requested but is not available on this machine.")
        return torch.device("mps")
    raise InpaintError(f"Unknown device '{name}': use one of {', '.join(DEVICE_CHOICES)}.")


PRECISIONS = ("auto", "fp16", "bf16", "fp32")
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX): there bf16 matrix work
    runs ~3x faster than float32. Read from /proc/cpuinfo; False where that is missing."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in _CPU_BF16_FLAGS)
    except OSError:
        pass
    return False


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype on `device`, None for float32. CUDA: fp16 by default (its 10-bit
    mantissa is ample for 8-bit images), bf16 on request. CPU: bf16 by default where the CPU has
    it in hardware (twice the speed; results within ~0.1 of a grey level of float32), on request
    elsewhere; fp16 is a GPU format and means float32 there. MPS: float32."""
    if precision not in PRECISIONS:
        raise InpaintError(f"Unknown precision '{precision}': use one of {', '.join(PRECISIONS)}.")
    kind = torch.device(device).type
    if precision == "fp32" or kind not in ("cuda", "cpu"):
        return None
    if kind == "cpu":
        wanted = precision == "bf16" or (precision == "auto" and cpu_has_native_bf16())
        return torch.bfloat16 if wanted else None
    return torch.bfloat16 if precision == "bf16" else torch.float16


def autocast(device: torch.device, precision: str = "auto", cache_enabled: bool = True):
    """Autocast context for inference on `device` (see autocast_dtype); a no-op for float32.
    A CUDA graph capture needs cache_enabled=False (cached weight casts would outlive it)."""
    dtype = autocast_dtype(device, precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype, cache_enabled=cache_enabled)


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def free_memory(device: torch.device) -> None:
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def memory_available(device: torch.device) -> int:
    """Bytes a request may use on `device`: free GPU memory, or half of the machine's RAM."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.current_allocated_memory())
        except (AttributeError, RuntimeError):
            pass
    return _system_memory() // 2


def _system_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 8 << 30


def model_pixels_budget(device: torch.device, fraction: float = 0.5) -> int:
    """How many model pixels one batch may hold on `device`."""
    return max(1, int(memory_available(device) * fraction) // BYTES_PER_PIXEL)


def describe(device: torch.device, precision: str | None = None) -> str:
    """'cuda (NVIDIA H200)', 'cpu'; with a precision, the reduced one in use: 'cpu · bf16'."""
    device = torch.device(device)
    text = f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else device.type
    dtype = autocast_dtype(device, precision) if precision else None
    return f"{text} · {str(dtype).replace('torch.bfloat16', 'bf16').replace('torch.float16', 'fp16')}" if dtype else text
