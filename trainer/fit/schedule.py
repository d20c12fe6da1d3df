"""The learning rate over a run, aimed at its end: the iteration count or, with --max-minutes, the
deadline, whichever comes first. A linear warm-up over the first `warmup` share (Adam's first
steps from fresh moments are full-sized: on trained weights they would undo some of the training),
then constant or a cosine decay to FLOOR of the peak at the end."""
from __future__ import annotations

import math

FLOOR = 0.1


def run_share(iteration: int, total: int, elapsed_s: float, budget_s: float | None) -> float:
    """How far the run is, in [0, 1]: the larger of the iteration and the time shares."""
    share = iteration / total if total > 0 else 0.0
    if budget_s:
        share = max(share, elapsed_s / budget_s)
    return min(1.0, max(0.0, share))


def lr_factor(schedule: str, warmup: float, share: float) -> float:
    """The multiplier of the peak learning rate at `share` of the run."""
    if warmup > 0 and share < warmup:
        return max(share / warmup, 0.01)
    if schedule == "cosine":
        rest = (share - warmup) / (1 - warmup) if warmup < 1 else 1.0
        return FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * min(1.0, rest)))
    return 1.0
