"""Inference without Qt: engines (PEN-Net models from the registry, OpenCV Telea and
Navier-Stokes, PatchMatch when installed, and Auto, which picks one of them per hole region),
their common interface, devices, strategies and blending."""
from __future__ import annotations

import threading

from .auto import AUTO_ID, AutoEngine
from .base import (CancelFn, Cancelled, Engine, InpaintError, InpaintOptions, InpaintResult,
                   ProgressFn, STRATEGIES)
from .classical import NavierStokesEngine, OpenCVEngine, PatchMatchEngine, TeleaEngine, patchmatch_available
from .device import DEVICE_CHOICES, autocast_dtype, available_devices, resolve_device
from .pennet import PENNetEngine

CLASSICAL = {"telea": TeleaEngine, "ns": NavierStokesEngine}
if patchmatch_available():
    CLASSICAL["patchmatch"] = PatchMatchEngine
_cache: dict[tuple, Engine] = {}
_cache_lock = threading.Lock()


def available_engines(registry=None) -> list[tuple[str, str, str]]:
    """Choices for a menu: (id, label, kind), the default first: Auto ('auto', kind 'auto' with a
    PEN-Net model, else 'classical'), then the registry models (the default one first), then the
    classical ones ('telea', 'ns', 'patchmatch' when installed). kind: 'auto', 'pennet' or 'classical'."""
    from .auto import LABEL, LABEL_CLASSICAL
    from .registry import ModelRegistry, RegistryError

    registry = registry if registry is not None else ModelRegistry()
    try:
        models = registry.models()
        default = registry.default_id()
    except RegistryError:
        models, default = [], None  # an unreadable model folder still leaves the classical engines
    models.sort(key=lambda m: m.id != default)
    choices = [(AUTO_ID, LABEL, "auto") if models else (AUTO_ID, LABEL_CLASSICAL, "classical")]
    choices += [(m.id, f"{m.architecture.label}: {m.name}", "pennet") for m in models]
    choices += [(cls().id, cls().label, "classical") for cls in CLASSICAL.values()]
    return choices


def auto_model_id(registry=None) -> str | None:
    """The PEN-Net model Auto uses: the default model, None when none is installed."""
    from .registry import ModelRegistry, RegistryError

    try:
        return (registry if registry is not None else ModelRegistry()).default_id()
    except RegistryError:
        return None


def create_engine(engine_id: str, device: str = "auto", registry=None, precision: str = "auto") -> Engine:
    """'auto', 'telea', 'ns', 'patchmatch' or a registry model id -> an engine. PEN-Net engines
    are cached per (model, device, precision, weights file), so a model is loaded and warmed up
    once; Auto uses the default model (`auto_model_id`) that way, or only the classical engines."""
    if engine_id in CLASSICAL:
        return CLASSICAL[engine_id]()
    if engine_id == AUTO_ID:
        model_id = auto_model_id(registry)
        model = create_engine(model_id, device, registry, precision) if model_id else None
        return AutoEngine(model, {key: cls() for key, cls in CLASSICAL.items()})
    from .registry import ModelRegistry, RegistryError

    registry = registry if registry is not None else ModelRegistry()
    try:
        info = registry.get(engine_id)
    except RegistryError as exc:
        raise InpaintError(f"{exc} Built-in engines: {', '.join(CLASSICAL)}.") from None
    resolved = resolve_device(device)
    autocast_dtype(resolved, precision)  # an unknown precision is refused before anything loads
    try:
        stamp = info.weights_path.stat().st_mtime_ns
    except OSError:
        stamp = None
    key = (info.id, str(resolved), precision, str(info.weights_path), stamp)
    with _cache_lock:
        engine = _cache.get(key)
        if engine is None:
            engine = PENNetEngine(info, device=resolved, precision=precision)
            _cache[key] = engine
    return engine


def clear_engine_cache() -> None:
    """Forget loaded models (after a model was deleted or replaced, or to free memory)."""
    with _cache_lock:
        _cache.clear()


__all__ = [
    "AUTO_ID", "AutoEngine", "CLASSICAL", "auto_model_id", "CancelFn", "Cancelled", "Engine", "InpaintError", "InpaintOptions", "InpaintResult",
    "ProgressFn", "STRATEGIES", "DEVICE_CHOICES", "OpenCVEngine", "TeleaEngine",
    "NavierStokesEngine", "PatchMatchEngine", "PENNetEngine", "available_devices", "available_engines", "clear_engine_cache",
    "create_engine", "resolve_device",
]
