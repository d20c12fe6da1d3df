"""A training run's settings: the defaults of the paper's release, the fine-tuning defaults used
with --base, and the rules for what --resume may change."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields

from .losses import LossWeights

# Fine-tuning starts from trained weights: a lower learning rate and a shorter run.
SCRATCH_DEFAULTS = {"iterations": 200_000, "lr": 1e-4, "val_every": 1000}
FINETUNE_DEFAULTS = {"iterations": 5_000, "lr": 2e-5, "val_every": 500}
# What a resumed run keeps from the saved config no matter what is passed: the data split, the
# network and the starting weights define the run.
FIXED_ON_RESUME = ("data", "val", "base", "affinity", "seed", "size")
# ... except the photo folders, once they are no longer where the run found them (the run or the
# photos moved to another machine): then they are given anew.
MOVABLE = ("data", "val")


@dataclass
class TrainConfig:
    data: str = ""
    out: str = ""
    val: str | None = None
    base: str | None = None
    size: int = 256
    iterations: int = SCRATCH_DEFAULTS["iterations"]
    batch_size: int | None = None          # None: 8 on CUDA, 2 on CPU
    lr: float = SCRATCH_DEFAULTS["lr"]
    d_lr: float | None = None              # None: same as lr
    betas: tuple[float, float] = (0.5, 0.999)
    masks: str = "mixed"
    attention: str = "holes"
    affinity: str = "release"
    device: str = "auto"
    precision: str = "auto"                # auto: see step.resolve_precision
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    val_every: int = SCRATCH_DEFAULTS["val_every"]
    val_images: int = 16
    val_fraction: float = 0.05
    log_every: int = 10
    seed: int = 0
    workers: int | None = None             # None: 4 on CUDA, 0 on CPU (the CPU trains)
    small: str = "upscale"                 # images smaller than the crop: "upscale" or "skip"
    weights: LossWeights = field(default_factory=LossWeights)
    export_name: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "weights" in values and isinstance(values["weights"], dict):
            values["weights"] = LossWeights(**values["weights"])
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values)


def build_config(given: dict, saved: dict | None = None) -> TrainConfig:
    """given: options the user set explicitly (None = not given); saved: the config of the run
    being resumed. Order: defaults < fine-tuning defaults (with a base) < saved < given."""
    values: dict = {}
    base = given.get("base") if given.get("base") is not None else (saved or {}).get("base")
    if base:
        values.update(FINETUNE_DEFAULTS)
    if saved:
        values.update(saved)
        for key in FIXED_ON_RESUME:
            moved = key in MOVABLE and saved.get(key) and not os.path.isdir(saved[key])
            if given.get(key) is not None and given[key] != saved.get(key) and not moved:
                raise ValueError(f"--{key.replace('_', '-')} cannot change when resuming "
                                 f"(the run was started with {saved.get(key)!r})")
    values.update({k: v for k, v in given.items() if v is not None})
    weights = dict((saved or {}).get("weights") or {})
    weights.update(given.get("weights") or {})
    values["weights"] = weights
    config = TrainConfig.from_dict(values)
    _check(config)
    return config


def _check(c: TrainConfig) -> None:
    from inpaint_studio.network import AFFINITIES, ATTENTION_MODES

    from .masks import MASK_KINDS

    problems = []
    if c.size < 64 or c.size % 64:
        problems.append(f"--size must be a multiple of 64 (PEN-Net halves it six times), not {c.size}")
    if c.iterations < 0:
        problems.append("--iterations cannot be negative")
    if c.batch_size is not None and c.batch_size < 1:
        problems.append("--batch-size must be at least 1")
    if not c.lr > 0 or (c.d_lr is not None and not c.d_lr > 0):
        problems.append("learning rates must be positive")
    for name in ("checkpoint_every", "val_every", "log_every", "keep_checkpoints", "val_images"):
        if getattr(c, name) < 1:
            problems.append(f"--{name.replace('_', '-')} must be at least 1")
    if c.masks not in MASK_KINDS:
        problems.append(f"--masks must be one of {', '.join(MASK_KINDS)}")
    if c.attention not in ATTENTION_MODES:
        problems.append(f"--attention must be one of {', '.join(ATTENTION_MODES)}")
    if c.affinity not in AFFINITIES:
        problems.append(f"--affinity must be one of {', '.join(AFFINITIES)}")
    if c.small not in ("upscale", "skip"):
        problems.append("--small must be 'upscale' or 'skip'")
    if not 0 <= c.val_fraction < 1:
        problems.append("the held-out fraction must be in [0, 1)")
    if problems:
        raise ValueError("; ".join(problems))
