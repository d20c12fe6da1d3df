"""Device choice and mixed precision for the engine and the trainer (the "auto" rules are in
contracts.devices), and memory estimates for inference."""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import sys

import torch

from ..contracts import devices
from ..contracts.devices import INFERENCE, PRECISIONS, TRAINING  # noqa: F401 (PRECISIONS: the choices)
from .base import InpaintError


class DeviceError(InpaintError, devices.ChoiceError):
    """A device or precision that does not exist or is not there: an InpaintError for the engine's
    callers, a ValueError (bad input) for the trainer's."""


DEVICE_CHOICES = devices.DEVICES[devices.INFERENCE]
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


def resolve_device(name: str | torch.device = "auto", purpose: str = INFERENCE,
                   index: int | None = None) -> torch.device:
    """'auto' -> CUDA, then MPS (inference only), then CPU (contracts.devices); 'cpu' | 'cuda' |
    'cuda:N' | 'mps' forced, with a clear DeviceError when that device is not there. `index`
    picks the GPU of an automatic or plain 'cuda' choice (a torchrun process's local rank)."""
    text = str(name).strip().lower() if name is not None else "auto"
    kind, _, number = text.partition(":")
    if kind not in devices.DEVICES[purpose] or (number and kind != "cuda"):
        raise DeviceError(f"Unknown device '{name}': use one of {', '.join(devices.DEVICES[purpose])}.")
    if kind == "cuda" and not torch.cuda.is_available():
        why = "this PyTorch build has no CUDA support" if torch.version.cuda is None else "no CUDA GPU was found"
        raise DeviceError(f"The CUDA device was requested but is not available: {why}. Use --device cpu or auto.")
    if kind == "mps" and not _mps_available():
        raise DeviceError("The MPS device (Apple GPU) was requested but is not available on this machine.")
    kind = devices.device_kind(kind, available_devices(), purpose)
    if kind != "cuda":
        return torch.device(kind)
    if number:
        if not number.isdigit() or int(number) >= torch.cuda.device_count():
            raise DeviceError(f"There is no GPU '{name}' (this machine has {torch.cuda.device_count()}).")
        return torch.device(text)
    return torch.device("cuda", index % torch.cuda.device_count()) if index is not None else torch.device("cuda")


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


def resolve_precision(choice: str, device: torch.device, purpose: str = INFERENCE) -> str:
    """'fp32', 'bf16' or 'fp16': what `choice` means on `device` (rules: contracts.devices)."""
    kind = torch.device(device).type
    cuda_bf16 = purpose == TRAINING and kind == "cuda" and torch.cuda.is_bf16_supported()
    try:
        return devices.precision(choice, kind, purpose, cuda_bf16=cuda_bf16,
                                 cpu_bf16=kind == "cpu" and cpu_has_native_bf16())
    except devices.ChoiceError as exc:
        raise DeviceError(str(exc)) from None


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The inference autocast dtype on `device`, None for float32 (see contracts.devices)."""
    return _DTYPES[resolve_precision(precision, device)]


_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str = "auto", cache_enabled: bool = True):
    """Autocast context on `device` for `precision` (a choice, or a resolved one from
    resolve_precision, as the trainer passes); a no-op for float32. A CUDA graph capture needs
    cache_enabled=False (cached weight casts would outlive it)."""
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


# oneDNN compiles CPU kernels for every input shape it meets and keeps up to 1024 of them (and
# ideep an LRU of as many again), about a megabyte each: an editor that runs for hours on holes
# of every size grew by a gigabyte. One request needs about 45 per model shape, so this keeps
# the last few shapes' kernels (a repeated size stays fast) and bounds the rest.
KERNEL_CACHE_ENTRIES = 256
_KERNEL_CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")


def limit_kernel_caches() -> None:
    """Cap oneDNN's per-shape kernel caches. Read when the first convolution runs, so call it
    before that; a value set in the environment wins."""
    for name in _KERNEL_CACHE_VARIABLES:
        os.environ.setdefault(name, str(KERNEL_CACHE_ENTRIES))


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc


def release_host_memory() -> None:
    """Hand the heap's free pages back to the system. glibc keeps what a request freed, and
    tensors of ever-different sizes fragment the heap, so a long session's RSS would creep up."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


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
