"""A training run's settings: the defaults of the paper's release, the fine-tuning defaults used
with --base, and the rules for what --resume may change."""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields

from .losses import LossWeights

# Fine-tuning starts from trained weights: a lower learning rate and a shorter run. The learning
# rates are the release's, at its batch of BASE_BATCH (see learning_rate for larger batches).
SCRATCH_DEFAULTS = {"iterations": 200_000, "lr": 1e-4, "val_every": 1000}
FINETUNE_DEFAULTS = {"iterations": 5_000, "lr": 2e-5, "val_every": 500}

# The learning rate of a larger batch (written once). Without --lr, a run whose total batch B
# (batch size x processes) exceeds the release's 8 takes lr x sqrt(B / 8): the square-root rule
# for Adam (Malladi et al., NeurIPS 2022, "On the SDEs and scaling rules for adaptive gradient
# algorithms"; linear scaling is SGD's). It is reached by a linear warm-up from the batch-8 rate
# over the first WARMUP_ITERATIONS (at most a tenth of the run). This project's GPU run at batch
# 32 used exactly that rate (2e-4) and trained stably (shared/models/pennet-open-photos-gpu1).
# An --lr given explicitly is used as given, without warm-up.
BASE_BATCH = 8
WARMUP_ITERATIONS = 1000

# Default batch per process. CUDA: the fastest measured at 256 px (issue 13, one H200, bf16:
# batch 8 135 samples/s, 32 259, 64 210), the same pixels per batch at other sizes, and no more
# than fits in GPU_MEMORY_SHARE of the GPU's memory by activation_bytes. CPU: 2.
CUDA_BATCH_256 = 32
CPU_BATCH = 2
GPU_MEMORY_SHARE = 0.7
# Activation memory per sample (bf16, one training step): what autograd saves in the generator and
# discriminator passes, counted on the CPU as CUDA would run them (trainer.bench.saved_bytes,
# the growth from one batch size to the next at 256 px: 105.8 MB a sample dense, 118.5 packed, whose
# padding grows with the batch; the bf16 copies of the weights, ~52 MB, are once per step): ~88 MiB
# that scales with the pixels, plus the attention weights the matmul kernel keeps, 2 bytes x
# (positions at the finest ATN)^2 x ~1.07 for the coarser levels (36 MB at 256 px). Doubled for
# the backward pass's transient gradients, cuDNN workspaces and allocator slack (the old kernels'
# measured peak: 9.8 GB at batch 32, 306 MB a sample).
SAVED_BYTES_256 = 88 << 20
HEADROOM = 2.0
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
    batch_size: int | None = None          # None: default_batch
    lr: float | None = None                # None: learning_rate's rule
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
    workers: int | None = None             # None: default_workers
    compile: bool | None = None            # None: step.resolve_compile (on for CUDA)
    attention_kernel: str = "auto"         # speed only: network.attention.choose_kernel
    attention_compute: str = "auto"        # speed only: network.attention.choose_compute
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
    if base:  # the learning rate is left to learning_rate(), which knows the batch
        values.update({k: v for k, v in FINETUNE_DEFAULTS.items() if k != "lr"})
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
    if (c.lr is not None and not c.lr > 0) or (c.d_lr is not None and not c.d_lr > 0):
        problems.append("learning rates must be positive")
    for name in ("checkpoint_every", "val_every", "log_every", "keep_checkpoints"):
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
    if c.small not in ("upscale", "skip"):
        problems.append("--small must be 'upscale' or 'skip'")
    if not 0 <= c.val_fraction < 1:
        problems.append("the held-out fraction must be in [0, 1)")
    if problems:
        raise ValueError("; ".join(problems))


# -- rules that need the device ---------------------------------------------------------------------
def learning_rate(c: TrainConfig, total_batch: int, iteration: int) -> float:
    """The generator's learning rate at `iteration` (0-based) for a total batch of `total_batch`."""
    if c.lr is not None:
        return c.lr
    base = (FINETUNE_DEFAULTS if c.base else SCRATCH_DEFAULTS)["lr"]
    if total_batch <= BASE_BATCH:
        return base
    target = base * math.sqrt(total_batch / BASE_BATCH)
    warmup = max(1, min(WARMUP_ITERATIONS, c.iterations // 10))
    return base + (target - base) * min(1.0, (iteration + 1) / warmup)


def discriminator_learning_rate(c: TrainConfig, total_batch: int, iteration: int) -> float:
    return c.d_lr if c.d_lr is not None else learning_rate(c, total_batch, iteration)


def activation_bytes(size: int, batch: int = 1) -> int:
    """Estimated training memory of `batch` samples of size x size, beyond the weights and the
    optimiser state (see SAVED_BYTES_256)."""
    finest = (size // 4) ** 2  # positions at the finest ATN
    per_sample = SAVED_BYTES_256 * (size / 256) ** 2 + 2 * 1.07 * finest ** 2
    return int(HEADROOM * per_sample * batch)


def default_batch(device_type: str, size: int, gpu_memory: int | None = None) -> int:
    """Batch per process when --batch-size is left out; gpu_memory: the CUDA device's bytes."""
    if device_type != "cuda":
        return CPU_BATCH
    batch = max(1, round(CUDA_BATCH_256 * (256 / size) ** 2))
    if gpu_memory:
        while batch > 1 and activation_bytes(size, batch) > GPU_MEMORY_SHARE * gpu_memory:
            batch //= 2
    return batch


def default_workers(device_type: str, cpus: int | None = None) -> int:
    """Data loading processes when --workers is left out. CUDA: every core but two (the main
    process dispatches the GPU's work; at ~5-12 ms of decoding, cropping and masking per sample
    on one core, 2,500 samples/s needs 12 or more). CPU: 0 (the cores train)."""
    if device_type != "cuda":
        return 0
    return max(1, (cpus or os.cpu_count() or 4) - 2)
