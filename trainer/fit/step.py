"""One training iteration of PEN-Net: a discriminator update, then a generator update (the
loop, the tests and the benchmark all run this)."""
from __future__ import annotations

import torch

from inpaint_studio.engine.device import autocast
from inpaint_studio.network import generator_input

from .distributed import unwrap
from .losses import LossWeights, discriminator_hinge, generator_losses
from .metrics import composite

# NHWC throughout a step: the convolutions' forward and backward run ~1.7x faster on the CPU
# (oneDNN) than in NCHW, and it is the layout tensor cores want
MEMORY_FORMAT = torch.channels_last


def place(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """A module on the training device, in the step's memory format and in train mode."""
    return module.to(device, memory_format=MEMORY_FORMAT).train()


def make_adam(params, lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.Adam:
    """Adam as the release, with the fastest implementation for the device (adam_flags)."""
    return torch.optim.Adam(params, lr=lr, betas=betas, **adam_flags(device))


def adam_flags(device: torch.device) -> dict:
    """Fused (one kernel over every parameter) on CUDA and on the CPU, where it steps the
    generator's Adam in 59 ms against 216 for foreach and 687 for torch's per-tensor default
    (2-core EPYC, medians); foreach elsewhere. A checkpoint's optimiser state carries the flags it
    was saved with: set these again after loading it (a CPU run may resume on a GPU)."""
    fused = device.type in ("cuda", "cpu")
    return {"fused": fused, "foreach": not fused}


def resolve_compile(choice: bool | None, device: torch.device) -> bool:
    """None: compile on CUDA (a few minutes of compilation, repaid in the first thousand steps of
    a run; issue 13's profile: CPU dispatch as long as GPU time, element-wise ops 17 %), not on
    the CPU (on 2 cores inductor compiles for several minutes; CPU runs are short)."""
    return device.type == "cuda" if choice is None else bool(choice)


def compiled(module: torch.nn.Module) -> torch.nn.Module:
    """torch.compile with inductor. Holes-mode packing reads counts on the host: the graph breaks
    there, and after the second distinct count the packed dimension is compiled as dynamic (the
    counts are rounded up to ~32 buckets per level, see network.attention._bucket)."""
    return torch.compile(module)


class TrainStep:
    """`step(image, mask)` -> detached loss terms. image (B,3,H,W) in [-1,1], mask (B,1,H,W),
    1 = hole, both on the device. Works with plain or DistributedDataParallel modules; with
    compile=True the three passes (D on real and fake, G, D judging G) run torch.compile'd."""

    def __init__(self, generator, discriminator, opt_g, opt_d, weights: LossWeights,
                 device: torch.device, precision: str = "fp32", compile: bool = False):
        self.generator, self.discriminator = generator, discriminator
        self.opt_g, self.opt_d = opt_g, opt_d
        self.weights = weights
        self.device, self.precision = device, precision
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.compile = compile
        wrap = compiled if compile else (lambda m: m)
        # D judges G with its weights frozen: a wrapper of its own, so that neither wrapper
        # sees the requires_grad flags change (a compiled one would recompile)
        self._g, self._d, self._judge = wrap(generator), wrap(discriminator), wrap(unwrap(discriminator))

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        image = image.contiguous(memory_format=MEMORY_FORMAT)
        with autocast(self.device, self.precision):
            output, pyramid = self._g(generator_input(image, mask).contiguous(memory_format=MEMORY_FORMAT), mask)
        output, pyramid = output.float(), [p.float() for p in pyramid]
        fake = composite(output, image, mask).contiguous(memory_format=MEMORY_FORMAT)

        adversarial = self.weights.adversarial != 0
        if adversarial:  # without the adversarial term D judges nothing: skip it (a third of a step)
            # discriminator: real images against composites, one pass (no batch statistics in D)
            with autocast(self.device, self.precision):
                logits = self._d(torch.cat([image, fake.detach()])).float()
            real_logits, fake_logits = logits.chunk(2)
            loss_d = discriminator_hinge(real_logits, fake_logits)
            self.opt_d.zero_grad(set_to_none=True)
            self._backward(loss_d)
            self._step(self.opt_d)
        else:
            loss_d = image.new_zeros(())

        # generator: D is only a judge here; its weights take no gradient and are not synced
        plain_d = unwrap(self.discriminator)
        plain_d.requires_grad_(False)
        try:
            judged = None
            if adversarial:
                with autocast(self.device, self.precision):
                    judged = self._judge(fake).float()
            terms = generator_losses(output, pyramid, image, mask, judged, self.weights)
            self.opt_g.zero_grad(set_to_none=True)
            self._backward(terms["generator"])
            self._step(self.opt_g)
        finally:
            plain_d.requires_grad_(True)
        if self.scaler is not None:
            self.scaler.update()
        terms["discriminator"] = loss_d
        return {k: v.detach() for k, v in terms.items()}

    def _backward(self, loss):
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def _step(self, optimizer):
        if self.scaler is not None:
            self.scaler.step(optimizer)
        else:
            optimizer.step()
