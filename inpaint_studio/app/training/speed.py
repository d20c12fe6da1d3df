"""How long a fine-tune will take: seconds per training sample per device kind, measured by the
runs on this computer (kept in the settings) or, before the first run, a conservative default.
Time grows with the crop area, so speeds are kept for 256 px crops and scaled."""
from __future__ import annotations

REFERENCE_SIZE = 256
# seconds per 256 px sample (generator + discriminator step), on the slow side of common hardware
DEFAULT_SECONDS = {"cpu": 2.5, "cuda": 0.04, "mps": 0.5}
OVERHEAD = 1.1  # validation, previews and checkpoints
# beyond a time budget: starting the trainer (imports, folder scan, model) and the final save and export
START_AND_SAVE = {"cpu": 60.0, "cuda": 30.0}
KEY = "training/seconds_per_sample/{}"


def seconds_per_sample(settings, device_kind: str) -> tuple[float, bool]:
    """(seconds per 256 px sample, measured here?)"""
    value = settings.qsettings.value(KEY.format(device_kind))
    try:
        measured = float(value)
    except (TypeError, ValueError):
        measured = 0.0
    if measured > 0:
        return measured, True
    return DEFAULT_SECONDS.get(device_kind, DEFAULT_SECONDS["cpu"]), False


def record(settings, device_kind: str, size: int, samples_per_s: float) -> None:
    """Remember the pace a run reached (samples/s at crop `size`)."""
    if samples_per_s and samples_per_s > 0 and size > 0:
        scale = (REFERENCE_SIZE / size) ** 2
        settings.qsettings.setValue(KEY.format(device_kind), round(scale / samples_per_s, 5))


def estimate(settings, device_kind: str, size: int, batch_size: int, iterations: int) -> tuple[float, bool]:
    """(seconds for the whole run, from a measurement?)"""
    seconds, measured = seconds_per_sample(settings, device_kind)
    return iterations * batch_size * seconds * (size / REFERENCE_SIZE) ** 2 * OVERHEAD, measured


def steps_in(settings, device_kind: str, size: int, batch_size: int, seconds: float) -> tuple[int, bool]:
    """(training steps that fit in `seconds`, from a measurement?)"""
    per_step, measured = estimate(settings, device_kind, size, batch_size, 1)
    return int(seconds / per_step) if per_step > 0 else 0, measured


def format_duration(seconds: float | None) -> str:
    """'45 s', '12 min', '1 h 20 min', '2 d 3 h'."""
    if seconds is None:
        return "—"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
