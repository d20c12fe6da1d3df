"""Learn from this photo: a short fine-tune of a generator (PEN-Net or DeepFill v1) on the one image
it will fill.

Random crops of the photo get synthetic holes, and the generator learns to rebuild them from the
rest of the crop: the photo's own textures, colours and structures. The real hole never teaches
anything:
  - its pixels are zeroed (torch.where, so even NaN goes) before anything else sees the image;
  - the network sees them only as hole: the input mask is the synthetic hole united with the
    real one, so they enter as masked-out input, exactly as at inference;
  - every loss is weighted by `trusted` = outside the real hole (the pyramid loss by the
    downscaled cells that lie wholly outside it), so no loss ever reads a real-hole pixel.
Synthetic holes are, half of the time, the real hole's own shape (moved, flipped, or a window of
it when it is large), else the trainer's mixed masks (blocks, strokes, blobs).

Losses: the reconstruction terms of training (hole L1 x6, valid L1 x1, pyramid L1 x0.5 over the
auxiliary outputs: PEN-Net's decoder pyramid, DeepFill's coarse output), the same for both
architectures, no adversarial term. A few hundred steps are too few for a discriminator: the registry keeps no
discriminator, so one would start untrained and its gradient would be noise for most of the run,
and its job (sharper textures over long training) does not fit a run this short on one image. It
would also double the cost per step.

Events: the JSON lines of trainer/EVENTS.md ("learn-photo" section). The adapted generator is saved with
registry.save_generator into --out-dir (a session folder the app owns, not the model list).
"""
from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from inpaint_studio.contracts.card import Metrics, ModelCard, Training
from inpaint_studio.contracts.training import FINETUNE, LEARN_PHOTO_STEPS
from inpaint_studio.engine.device import TRAINING, autocast, resolve_device, resolve_precision
from inpaint_studio.network import generator_input
from inpaint_studio.network.generator import MULTIPLE

from ..events import EventWriter
from ..fit.losses import LossWeights, masked_l1
from ..fit.masks import MaskGenerator
from ..fit.schedule import lr_factor
from ..fit.step import MEMORY_FORMAT, place

MAX_CROP = 256          # crop side at most (the training size)
MIN_CROP = MULTIPLE     # the generator's smallest input
MAX_HOLE_SHARE = 0.5    # a training crop is mostly known pixels
REAL_SHAPE_SHARE = 0.5  # how often a synthetic hole takes the real hole's shape


class LearnPhotoError(ValueError):
    """Input that cannot be adapted to (image too small, empty or full mask); for the user."""


@dataclass
class LearnPhotoConfig:
    steps: int = LEARN_PHOTO_STEPS["cpu"]
    size: int | None = None       # crop side; None: half the short side, 64..256 in steps of 64
    batch_size: int = 1
    lr: float = 5e-5
    # the fine-tuning recipe's warm-up (contracts.training.FINETUNE), then a constant rate: in runs
    # of a few dozen steps its cosine decay left most of the gain unmade (25 steps, lr 1e-3, from
    # random weights: +0.13 dB with the decay, +1.35 dB constant after the warm-up)
    schedule: str = "constant"
    warmup: float = FINETUNE["warmup"]
    betas: tuple[float, float] = (0.5, 0.999)
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    val_crops: int = 4            # fixed synthetic holes measured before and after
    log_every: int = 5
    weights: LossWeights = field(default_factory=lambda: LossWeights(adversarial=0.0))

    def to_dict(self) -> dict:
        return {**asdict(self), "betas": list(self.betas)}


def crop_size(height: int, width: int, wanted: int | None = None) -> int:
    """The training crop side: `wanted`, or half the short side (so that crops vary), as a
    multiple of 64 between 64 and 256, and never larger than the image."""
    short = min(height, width)
    if short < MIN_CROP:
        raise LearnPhotoError(f"The image is {width}x{height}: learning from it needs at least "
                         f"{MIN_CROP}x{MIN_CROP} pixels.")
    side = wanted if wanted else min(MAX_CROP, short // 2)
    side = max(MIN_CROP, side // MULTIPLE * MULTIPLE)
    return min(side, short // MULTIPLE * MULTIPLE)


def image_tensor(image: np.ndarray, hole: np.ndarray) -> torch.Tensor:
    """HxWx3 (uint8, or float in 0..255) -> (3,H,W) in [-1, 1] with the real hole zeroed: from
    here on nothing can read what the hole held."""
    x = torch.from_numpy(np.ascontiguousarray(np.asarray(image, np.float32).transpose(2, 0, 1)))
    x = x / 127.5 - 1.0
    return torch.where(torch.from_numpy(np.asarray(hole, bool))[None], torch.zeros(()), x)


class PhotoSamples:
    """Training (and fixed validation) crops of one photo with synthetic holes. Every random
    choice comes from one seeded numpy generator. `draw(n)` -> (image, input mask, trusted), each
    (n,C,s,s): image in [-1,1] with the real hole zeroed, input mask = synthetic | real hole,
    trusted = outside the real hole."""

    def __init__(self, image: np.ndarray, hole: np.ndarray, size: int | None = None, seed: int = 0):
        hole = np.asarray(hole) != 0
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != hole.shape:
            raise LearnPhotoError(f"The image ({image.shape}) and the mask ({hole.shape}) do not match.")
        if hole.all():
            raise LearnPhotoError("The mask covers the whole image: there is nothing left to learn from.")
        self.height, self.width = hole.shape
        self.size = crop_size(self.height, self.width, size)
        self.hole = hole
        self.image = image_tensor(image, hole)
        self.rng = np.random.default_rng(seed)
        self.masks = MaskGenerator("mixed", rng=self.rng)
        ys, xs = np.nonzero(hole)
        self._hole_box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) if xs.size else None

    def draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        items = [self._one() for _ in range(n)]
        return tuple(torch.stack(parts) for parts in zip(*items))

    def _one(self):
        s = self.size
        y, x = self._crop_origin()
        real = self.hole[y:y + s, x:x + s]
        synth = self._synthetic(real)
        img = self.image[:, y:y + s, x:x + s]
        if self.rng.random() < 0.5:  # horizontal flip
            img, real, synth = img.flip(-1), real[:, ::-1], synth[:, ::-1]
        real_t = torch.from_numpy(np.ascontiguousarray(real, dtype=np.float32))[None]
        synth_t = torch.from_numpy(np.ascontiguousarray(synth > 0, dtype=np.float32))[None]
        return img.contiguous(), torch.maximum(real_t, synth_t), 1.0 - real_t

    def _crop_origin(self) -> tuple[int, int]:
        """A crop with at most MAX_HOLE_SHARE of real hole (the least holey of a few tries)."""
        s, best, best_share = self.size, None, 2.0
        for _ in range(16):
            y = int(self.rng.integers(0, self.height - s + 1))
            x = int(self.rng.integers(0, self.width - s + 1))
            share = float(self.hole[y:y + s, x:x + s].mean())
            if share < best_share:
                best, best_share = (y, x), share
            if share <= MAX_HOLE_SHARE:
                break
        return best

    def _synthetic(self, real: np.ndarray) -> np.ndarray:
        """A hole with something to learn: some of it outside the real hole."""
        s = self.size
        for _ in range(20):
            use_real = self._hole_box is not None and self.rng.random() < REAL_SHAPE_SHARE
            synth = self._real_shape() if use_real else self.masks(s) > 0
            if (synth & ~real).sum() >= 16:
                return synth
        synth = np.zeros((s, s), bool)  # a corner of known pixels, whatever the masks did
        synth[: s // 4, : s // 4] = True
        return synth

    def _real_shape(self) -> np.ndarray:
        """The real hole's shape at a random place: whole when it fits in half the crop, else a
        half-crop window of it around one of its pixels; randomly flipped."""
        s, half = self.size, self.size // 2
        x0, y0, x1, y1 = self._hole_box
        if x1 - x0 <= half and y1 - y0 <= half:
            shape = self.hole[y0:y1, x0:x1]
        else:
            ys, xs = np.nonzero(self.hole)
            k = int(self.rng.integers(0, ys.size))
            cy = min(max(int(ys[k]) - half // 2, 0), self.height - half)
            cx = min(max(int(xs[k]) - half // 2, 0), self.width - half)
            shape = self.hole[cy:cy + half, cx:cx + half]
        if self.rng.random() < 0.5:
            shape = shape[::-1]
        if self.rng.random() < 0.5:
            shape = shape[:, ::-1]
        h, w = shape.shape
        out = np.zeros((s, s), bool)
        py, px = int(self.rng.integers(0, s - h + 1)), int(self.rng.integers(0, s - w + 1))
        out[py:py + h, px:px + w] = shape
        return out


# -- losses -------------------------------------------------------------------------------------
def trusted_pyramid_l1(pyramid: list[torch.Tensor], target: torch.Tensor, trusted: torch.Tensor) -> torch.Tensor:
    """The pyramid L1 of training, each scale weighted by the cells that lie wholly outside the
    real hole (a cell that averages any real-hole pixel is left out)."""
    total = target.new_zeros(())
    for level in pyramid:
        size = level.shape[-2:]
        cells = (F.interpolate(trusted, size=size, mode="area") > 1 - 1e-6).to(level.dtype)
        total = total + masked_l1(level, F.interpolate(target, size=size, mode="area"), cells)
    return total


def adapt_losses(output, pyramid, image, mask, trusted, weights: LossWeights) -> dict[str, torch.Tensor]:
    """Reconstruction losses over trusted pixels only: hole = the synthetic hole outside the real
    one, valid = pixels outside both (1 - mask excludes the real hole already)."""
    terms = {
        "hole": masked_l1(output, image, mask * trusted),
        "valid": masked_l1(output, image, 1 - mask),
        "pyramid": trusted_pyramid_l1(pyramid, image, trusted) if pyramid else output.new_zeros(()),
    }
    terms["reconstruction"] = (weights.hole * terms["hole"] + weights.valid * terms["valid"]
                               + weights.pyramid * terms["pyramid"])
    return terms


class AdaptStep:
    """One generator update on a batch: `step(image, mask, trusted)` -> detached loss terms."""

    def __init__(self, generator, optimizer, weights: LossWeights, device: torch.device, precision: str = "fp32"):
        self.generator, self.optimizer, self.weights = generator, optimizer, weights
        self.device, self.precision = device, precision
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

    def __call__(self, image, mask, trusted) -> dict[str, torch.Tensor]:
        with autocast(self.device, self.precision):
            output, pyramid = self.generator(generator_input(image, mask).contiguous(memory_format=MEMORY_FORMAT), mask)
        terms = adapt_losses(output.float(), [p.float() for p in pyramid], image, mask, trusted, self.weights)
        self.optimizer.zero_grad(set_to_none=True)
        loss = terms["reconstruction"]
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return {k: v.detach() for k, v in terms.items()}


@torch.no_grad()
def synthetic_hole_error(generator, batch, device, precision: str = "fp32") -> dict[str, float]:
    """L1 and PSNR ([0, 1] range) over the trusted synthetic-hole pixels of fixed crops."""
    image, mask, trusted = (t.to(device) for t in batch)
    was_training = generator.training
    generator.eval()
    try:
        with autocast(device, precision):
            output, _ = generator(generator_input(image, mask), mask, pyramid=False)
    finally:
        generator.train(was_training)
    weight = (mask * trusted).expand_as(image)
    diff = (output.float().clamp(-1, 1) - image) / 2  # [0, 1] units
    count = weight.sum().clamp_min(1)
    l1 = float((diff.abs() * weight).sum() / count)
    mse = float((diff.pow(2) * weight).sum() / count)
    return {"l1": l1, "psnr": 10 * math.log10(1.0 / max(mse, 1e-10))}


# -- the run ------------------------------------------------------------------------------------
class PhotoLearner:
    """Adapts `generator` (changed in place) to one photo. `run(steps)` can be called again to
    continue (learn-photo-eval measures at several step counts this way)."""

    def __init__(self, generator: torch.nn.Module, image: np.ndarray, hole: np.ndarray,
                 config: LearnPhotoConfig | None = None, events: EventWriter | None = None):
        self.cfg = cfg = config or LearnPhotoConfig()
        self.events = events
        self.device = resolve_device(cfg.device, TRAINING)
        self.precision = resolve_precision(cfg.precision, self.device, TRAINING)
        torch.manual_seed(cfg.seed)
        self.samples = PhotoSamples(image, hole, cfg.size, cfg.seed)
        self.val_batch = PhotoSamples(image, hole, self.samples.size, cfg.seed + 7919).draw(cfg.val_crops)
        self.generator = place(generator, self.device).requires_grad_(True)
        self.generator.configure(attention="holes")  # same numbers as "reference", much faster
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.step = AdaptStep(self.generator, self.optimizer, cfg.weights, self.device, self.precision)
        self.iteration = 0
        self.history: list[dict[str, float]] = []  # every step's losses
        self.seconds = 0.0                          # time spent in training steps
        self.stop_requested = False

    def measure(self) -> dict[str, float]:
        return synthetic_hole_error(self.generator, self.val_batch, self.device, self.precision)

    def run(self, steps: int, cancel=None) -> bool:
        """Train until `steps` iterations in all; False when stopped early (cancel() or a stop
        request), True when it got there."""
        cfg, started = self.cfg, time.perf_counter()
        sums: dict[str, float] = {}
        count = 0
        while self.iteration < steps:
            if self.stop_requested or (cancel is not None and cancel()):
                return False
            t0 = time.perf_counter()
            for group in self.optimizer.param_groups:
                group["lr"] = cfg.lr * lr_factor(cfg.schedule, cfg.warmup, self.iteration / steps)
            batch = [t.to(self.device) for t in self.samples.draw(cfg.batch_size)]
            terms = {k: float(v) for k, v in self.step(*batch).items()}
            self.seconds += time.perf_counter() - t0
            if not all(math.isfinite(v) for v in terms.values()):
                raise FloatingPointError(f"the losses are no longer finite at step {self.iteration + 1}: {terms}")
            self.iteration += 1
            self.history.append(terms)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
            if self.events is not None and (self.iteration % cfg.log_every == 0 or self.iteration in (1, steps)):
                rate = self.seconds / self.iteration
                self.events.emit("progress", iteration=self.iteration, total=steps,
                                 losses={k: v / count for k, v in sums.items()},
                                 seconds_per_step=round(rate, 4), eta_s=round(rate * (steps - self.iteration), 1),
                                 elapsed_s=round(time.perf_counter() - started, 1))
                sums, count = {}, 0
        return True


def learn_photo(model_id: str, image: np.ndarray, hole: np.ndarray, out_name: str, out_dir: str | Path,
                config: LearnPhotoConfig, events: EventWriter, image_name: str = "") -> int:
    """`python -m trainer learn-photo`: load the registry model, adapt, save into `out_dir`. Returns the
    exit status; bad input raises (RegistryError, LearnPhotoError) before the `start` event."""
    from inpaint_studio.engine.registry import ModelRegistry, load_generator, save_generator

    info = ModelRegistry().get(model_id)
    generator = load_generator(info).float()
    adapter = PhotoLearner(generator, image, hole, config, events)
    restore = _stop_on_signals(adapter)
    started = time.perf_counter()
    cfg = adapter.cfg
    try:
        events.emit("start", iteration=0, total=cfg.steps, config=cfg.to_dict(), device=str(adapter.device),
                    precision=adapter.precision, base={"id": info.id, "name": info.name},
                    image={"name": image_name, "width": int(image.shape[1]), "height": int(image.shape[0]),
                           "hole_pixels": int(np.count_nonzero(hole))},
                    crop=adapter.samples.size)
        before = adapter.measure()
        events.emit("validation", iteration=0, metrics=before, images=cfg.val_crops)
        if not adapter.run(cfg.steps):
            events.emit("done", status="stopped", iteration=adapter.iteration, total=cfg.steps,
                        elapsed_s=round(time.perf_counter() - started, 1))
            return 0
        after = adapter.measure()
        events.emit("validation", iteration=adapter.iteration, metrics=after, images=cfg.val_crops)
        card = ModelCard(
            description=f"'{info.name}' adapted to one photo{f' ({image_name})' if image_name else ''} "
                        f"by {cfg.steps} fine-tuning steps on its known area.",
            architecture=info.architecture,
            training=Training(adapted_from=info.id, config=cfg.to_dict(),
                              extra={"image": image_name, "steps": cfg.steps, "device": str(adapter.device)}),
            metrics=Metrics(extra={"synthetic_hole_before": before, "synthetic_hole_after": after}),
            licence=info.card.licence or "as the base model",
            temporary=True)
        saved = save_generator(adapter.generator, out_name, card, directory=Path(out_dir), dtype=torch.float32)
        events.emit("done", status="completed", iteration=adapter.iteration, total=cfg.steps,
                    model_id=saved.id, model_name=saved.name, model_path=saved.weights_path.resolve(),
                    card_path=saved.card_path.resolve(), metrics={"before": before, "after": after},
                    elapsed_s=round(time.perf_counter() - started, 1))
        return 0
    finally:
        restore()


def _stop_on_signals(adapter: PhotoLearner):
    """SIGTERM / SIGINT finish the current step and end the run as `stopped` (nothing saved)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    wanted = [signal.SIGTERM, signal.SIGINT]
    previous = {s: signal.getsignal(s) for s in wanted}

    def request_stop(_signum, _frame):
        adapter.stop_requested = True

    for s in wanted:
        signal.signal(s, request_stop)
    return lambda: [signal.signal(s, h) for s, h in previous.items()]
