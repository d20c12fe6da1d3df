"""The settings of a training run (`python -m trainer fit`), each default written once: the
trainer's config, its command-line help and the app's fine-tune form all read them here.

Three sets of defaults: the authors' release for a model from scratch (also a warm start, which
continues a model's own training), shorter and gentler ones for fine-tuning (with a base model),
and the app's quick first fine-tune. Settings chosen from
the machine at start ("automatic": batch size, data workers, device, precision) are stored as
resolved values in run.json, checkpoints and model cards; a resumed run chooses them afresh.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields

from .card import DEFAULT_ARCHITECTURE, Architecture

# A model from scratch, as the authors' release trains it.
SCRATCH = {"iterations": 200_000, "lr": 1e-4, "val_every": 1000}
# Fine-tuning starts from trained weights: a shorter run with the recipe that gained the most
# held-out quality per minute in `python -m trainer finetune-eval` (trainer/README.md, "Measured
# again"): at 10 CPU minutes lr 1e-4 kept the centred squares (2e-4 lost 0.6-1.1 dB there) and
# gained as much on free-form strokes. "weights" are merged into the loss weights.
FINETUNE = {"iterations": 5_000, "lr": 1e-4, "val_every": 500, "schedule": "cosine", "warmup": 0.05,
            "trainable": "all", "size": 128, "weights": {"adversarial": 0.0}}
# The app's form proposes a first fine-tune of this many minutes (its main control is the time).
FORM_MINUTES = 10
# Per process when left out (batch_size_for). CUDA: the fastest measured at 256 px (issue 13, one
# H200, bf16: batch 8 135 samples/s, 32 259, 64 210), the same pixels per batch at other sizes,
# and no more than fits in GPU_MEMORY_SHARE of the GPU's memory by activation_bytes. CPU: a CPU's
# patience.
BATCH_SIZE = {"cuda": 32, "cpu": 2}
# ... when fine-tuning on the CPU: FINETUNE's 128 px crops at batch 4, as measured (finetune-eval);
# on CUDA the rule above (the same pixels per batch)
FINETUNE_BATCH_SIZE = {"cpu": 4}
GPU_MEMORY_SHARE = 0.7
# Data loading processes when left out (workers_for). CUDA: every core but SPARE_CORES (the main
# process dispatches the GPU's work; at ~5-12 ms of decoding, cropping and masking per sample on
# one core, 2,500 samples/s needs 12 or more). CPU: none, the main process trains.
SPARE_CORES = 2
CPU_WORKERS = 0

# The learning rates of SCRATCH and FINETUNE are the release's, at its total batch of BASE_BATCH.
# Without --lr, a run whose total batch B (batch size x processes) is larger takes lr x sqrt(B / 8):
# the square-root rule for Adam (Malladi et al., NeurIPS 2022, "On the SDEs and scaling rules for
# adaptive gradient algorithms"; linear scaling is SGD's), reached by a linear warm-up from the
# batch-8 rate over the first WARMUP_ITERATIONS (at most a tenth of the run). This project's GPU
# run at batch 32 used exactly that rate (2e-4) and trained stably
# (shared/models/pennet-open-photos-gpu1). An --lr given explicitly is used as given, no warm-up.
BASE_BATCH = 8
WARMUP_ITERATIONS = 1000

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
# Learn from this photo: steps of the short fine-tune, a few minutes either way.
LEARN_PHOTO_STEPS = {"cpu": 100, "cuda": 300}
# ... and its quick setting, offered first in the app: about a third of the time
LEARN_PHOTO_QUICK_STEPS = {"cpu": 30, "cuda": 100}

MASK_KINDS = ("square", "free", "blob", "mixed")         # training masks (trainer/fit/masks.py)
EVAL_MASK_KINDS = ("center", *MASK_KINDS)                 # ... plus the paper's test mask
SMALL_IMAGES = ("upscale", "skip")
SCHEDULES = ("constant", "cosine")    # the learning rate over the run (after the warm-up)
TRAINABLE = ("all", "decoder")        # decoder: the encoder is frozen (decoder, ATN refinement, heads train)                        # images smaller than the crop
# What a resumed run keeps from the saved config no matter what is passed: the data split, the
# network and the starting weights define the run ...
FIXED_ON_RESUME = ("data", "val", "base", "warm_start", "arch", "cnum", "affinity", "seed", "size")
# ... except the photo folders, once they are no longer where the run found them (the run or the
# photos moved to another machine): then they are given anew.
MOVABLE = ("data", "val")
# Chosen from the machine when left out (None or "auto"), see resolved_record.
AUTOMATIC = ("batch_size", "workers", "device", "precision")


@dataclass
class LossWeights:
    """The generator's objective: the weight of each term (trainer/fit/losses.py defines them) and
    the spatial discount of the hole term. These defaults are PEN-Net's, as the authors' release
    weighs them; LOSS_WEIGHTS holds what differs for the other architectures."""
    hole: float = 6.0
    valid: float = 1.0
    pyramid: float = 0.5
    adversarial: float = 0.1
    coarse: float = 0.0
    discount: float = 1.0   # gamma of the spatially discounted hole L1; 1: every hole pixel alike

    TERMS = ("hole", "valid", "pyramid", "coarse", "adversarial")  # the weighted terms

    def to_dict(self) -> dict:
        return asdict(self)


# Each architecture's objective, where it differs from LossWeights' defaults (PEN-Net's).
# DeepFill v1, as its authors' code weighs it (inpaint.yml): hole and known-pixel L1 x1.2 on the
# refined output, the coarse output's x1.2 on top (1.2 * 1.2); the paper's spatial discount
# gamma 0.99. The adversarial weight keeps PEN-Net's ratio to the hole L1 (0.1 : 6): the paper's
# 0.001 belongs to WGAN-GP critics, not to the SN-PatchGAN hinge loss both are trained with here.
LOSS_WEIGHTS = {
    "pennet": {},
    "deepfill1": {"hole": 1.2, "valid": 1.2, "pyramid": 0.0, "coarse": 1.44, "adversarial": 0.02,
                  "discount": 0.99},
}


def loss_weights(arch: str, **overrides) -> LossWeights:
    """The default objective of `arch` (an unknown name: PEN-Net's), with `overrides`."""
    return LossWeights(**{**LOSS_WEIGHTS.get(arch, {}), **overrides})


@dataclass
class TrainConfig:
    data: str = ""
    out: str = ""
    val: str | None = None
    base: str | None = None                # fine-tune this registry model (FINETUNE defaults)
    warm_start: str | None = None          # continue training this one (SCRATCH defaults, its discriminator)
    arch: str = DEFAULT_ARCHITECTURE       # contracts.card.ARCHITECTURES
    cnum: int = Architecture.cnum          # base channel width of the generator
    size: int = 256
    iterations: int = SCRATCH["iterations"]
    batch_size: int | None = None          # None: batch_size_for the device
    lr: float | None = None                # None: learning_rate's rule
    d_lr: float | None = None              # None: same as lr
    betas: tuple[float, float] = (0.5, 0.999)
    masks: str = "mixed"
    attention: str = "holes"
    affinity: str = "release"
    device: str = "auto"
    precision: str = "auto"                # see contracts.devices
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    val_every: int = SCRATCH["val_every"]
    val_images: int = 16
    val_fraction: float = 0.05
    log_every: int = 10
    seed: int = 0
    workers: int | None = None             # None: workers_for the device
    compile: bool | None = None            # None: trainer.fit.step.resolve_compile (on for CUDA)
    attention_kernel: str = "auto"         # speed only: network.attention.choose_kernel
    attention_compute: str = "auto"        # speed only: network.attention.choose_compute
    small: str = "upscale"
    weights: LossWeights | None = None     # None: the architecture's (loss_weights)
    export_name: str | None = None
    max_minutes: float | None = None       # time budget of this invocation: stop (completed) at it
    schedule: str = "constant"             # lr after the warm-up: constant, or cosine to 10 % at the end
    warmup: float = 0.0                    # share of the run (iterations or budget) with a linear warm-up
    trainable: str = "all"
    crop_scale: float = 0.0                # smallest crop side / the photo's short side (0: the training size)

    def __post_init__(self):
        if self.weights is None:
            self.weights = loss_weights(self.arch)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "weights" in values and isinstance(values["weights"], dict):
            values["weights"] = loss_weights(values.get("arch", DEFAULT_ARCHITECTURE), **values["weights"])
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values)


DEFAULT = TrainConfig()


def batch_size_for(kind: str, size: int = DEFAULT.size, gpu_memory: int | None = None,
                   finetune: bool = False) -> int:
    """The batch size per process on a device of `kind` ("cuda", "cpu", ...) when none is given,
    for crops of `size`; gpu_memory: the CUDA device's bytes, when known (see BATCH_SIZE);
    finetune: for a run with a base model (the fine-tuning recipe)."""
    if kind != "cuda":
        return (FINETUNE_BATCH_SIZE if finetune else BATCH_SIZE)["cpu"]
    batch = max(1, round(BATCH_SIZE["cuda"] * (DEFAULT.size / size) ** 2))
    if gpu_memory:
        while batch > 1 and activation_bytes(size, batch) > GPU_MEMORY_SHARE * gpu_memory:
            batch //= 2
    return batch


def workers_for(kind: str, cpus: int | None = None) -> int:
    """Data loading processes on a device of `kind` when none is given (see SPARE_CORES)."""
    if kind != "cuda":
        return CPU_WORKERS
    return max(1, (cpus or os.cpu_count() or 4) - SPARE_CORES)


def activation_bytes(size: int, batch: int = 1) -> int:
    """Estimated training memory of `batch` samples of size x size, beyond the weights and the
    optimiser state (see SAVED_BYTES_256)."""
    finest = (size // 4) ** 2  # positions at the finest ATN
    per_sample = SAVED_BYTES_256 * (size / 256) ** 2 + 2 * 1.07 * finest ** 2
    return int(HEADROOM * per_sample * batch)


def learning_rate(config: TrainConfig, total_batch: int, iteration: int) -> float:
    """The generator's learning rate at `iteration` (0-based) for a total batch of `total_batch`
    (see BASE_BATCH)."""
    if config.lr is not None:
        return config.lr
    base = (FINETUNE if config.base else SCRATCH)["lr"]
    if total_batch <= BASE_BATCH:
        return base
    target = base * math.sqrt(total_batch / BASE_BATCH)
    warmup = max(1, min(WARMUP_ITERATIONS, config.iterations // 10))
    return base + (target - base) * min(1.0, (iteration + 1) / warmup)


def discriminator_learning_rate(config: TrainConfig, total_batch: int, iteration: int) -> float:
    return config.d_lr if config.d_lr is not None else learning_rate(config, total_batch, iteration)


def is_automatic(config: TrainConfig, key: str) -> bool:
    return getattr(config, key) in (None, "auto")


def resolved_record(config: TrainConfig, chosen: dict) -> dict:
    """The config as run.json, checkpoints and cards store it: the automatic settings replaced by
    the values `chosen` for this machine, and their names under "automatic" (so that a resumed
    run chooses them again, e.g. on a GPU after a start on the CPU)."""
    automatic = [k for k in AUTOMATIC if is_automatic(config, k) and k in chosen]
    return {**config.to_dict(), **{k: chosen[k] for k in automatic}, "automatic": automatic}


def saved_settings(record: dict) -> dict:
    """The settings to resume from a stored config: the automatic ones left to choose again."""
    settings = {k: v for k, v in record.items() if k != "automatic"}
    for key in record.get("automatic") or ():
        settings[key] = getattr(DEFAULT, key)
    return settings
