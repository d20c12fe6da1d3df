"""A training run's settings (defined in inpaint_studio.contracts.training): how the defaults,
the fine-tuning defaults, a resumed run's saved settings and the options given combine, and the
checks that refuse bad values before anything starts."""
from __future__ import annotations

import os

from inpaint_studio.contracts.training import FINETUNE, FIXED_ON_RESUME, MOVABLE, SMALL_IMAGES, TrainConfig


def build_config(given: dict, saved: dict | None = None) -> TrainConfig:
    """given: options the user set explicitly (None = not given); saved: the config of the run
    being resumed. Order: defaults < fine-tuning defaults (with a base) < saved < given."""
    values: dict = {}
    weights: dict = {}
    if given.get("base") and given.get("warm_start"):
        raise ValueError("--base and --warm-start exclude each other: --base fine-tunes a model (gentle defaults), "
                         "--warm-start continues its training (the from-scratch defaults)")
    base = given.get("base") if given.get("base") is not None else (saved or {}).get("base")
    if base:  # the learning rate is left to contracts.training.learning_rate, which knows the batch
        values.update({k: v for k, v in FINETUNE.items() if k not in ("lr", "weights")})
        weights.update(FINETUNE.get("weights") or {})
    if saved:
        values.update(saved)
        for key in FIXED_ON_RESUME:
            moved = key in MOVABLE and saved.get(key) and not os.path.isdir(saved[key])
            if given.get(key) is not None and given[key] != saved.get(key) and not moved:
                raise ValueError(f"--{key.replace('_', '-')} cannot change when resuming "
                                 f"(the run was started with {saved.get(key)!r})")
    values.update({k: v for k, v in given.items() if v is not None})
    # the architecture's objective, then the fine-tuning recipe's, what the saved run and the options change
    weights.update((saved or {}).get("weights") or {})
    weights.update(given.get("weights") or {})
    values["weights"] = weights
    config = TrainConfig.from_dict(values)
    _check(config)
    return config


def _check(c: TrainConfig) -> None:
    from inpaint_studio.contracts.card import ARCHITECTURES
    from inpaint_studio.contracts.training import MASK_KINDS, SCHEDULES, TRAINABLE
    from inpaint_studio.network import AFFINITIES, ATTENTION_MODES

    problems = []
    if c.arch not in ARCHITECTURES:
        problems.append(f"--arch must be one of {', '.join(ARCHITECTURES)}, not {c.arch!r}")
    if c.cnum < 2 or c.cnum % 2:
        problems.append(f"--cnum must be an even number of channels, at least 2, not {c.cnum}")
    if not 0 < c.weights.discount <= 1:
        problems.append(f"--hole-discount must be in (0, 1], not {c.weights.discount}")
    if c.size < 64 or c.size % 64:
        problems.append(f"--size must be a multiple of 64 (PEN-Net halves it six times, and the app's crops "
                        f"are multiples of 64 for every model), not {c.size}")
    if c.iterations < 0:
        problems.append("--iterations cannot be negative")
    if c.batch_size is not None and c.batch_size < 1:
        problems.append("--batch-size must be at least 1")
    if (c.lr is not None and not c.lr > 0) or (c.d_lr is not None and not c.d_lr > 0):
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
    from inpaint_studio.network.attention import COMPUTES, KERNELS

    if c.attention_kernel not in KERNELS:
        problems.append(f"--attention-kernel must be one of {', '.join(KERNELS)}")
    if c.attention_compute not in COMPUTES:
        problems.append(f"--attention-compute must be one of {', '.join(COMPUTES)}")
    if c.workers is not None and c.workers < 0:
        problems.append("--workers cannot be negative")
    if c.small not in SMALL_IMAGES:
        problems.append(f"--small must be one of {', '.join(SMALL_IMAGES)}")
    if not 0 <= c.val_fraction < 1:
        problems.append("the held-out fraction must be in [0, 1)")
    if c.max_minutes is not None and not c.max_minutes > 0:
        problems.append("--max-minutes must be positive")
    if c.schedule not in SCHEDULES:
        problems.append(f"--schedule must be one of {', '.join(SCHEDULES)}")
    if not 0 <= c.warmup < 1:
        problems.append("--warmup is a share of the run, in [0, 1)")
    if not 0 <= c.crop_scale <= 1:
        problems.append("--crop-scale is a share of the photo's short side, in [0, 1]")
    if c.trainable not in TRAINABLE:
        problems.append(f"--trainable must be one of {', '.join(TRAINABLE)}")
    elif c.trainable == "decoder" and c.arch != "pennet":
        problems.append(f"--trainable decoder freezes PEN-Net's encoder; a {c.arch} model trains all its parts")
    if problems:
        raise ValueError("; ".join(problems))
