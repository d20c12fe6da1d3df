"""What "auto" means for the device and the precision, for inference (the engine) and for
training (the trainer): the rules alone, applied to facts about the machine that the caller
gathers (inpaint_studio.engine.device does, with torch). The app's forms apply the same rules
without torch.

Device "auto": a CUDA GPU, then (inference only) Apple's MPS, then the CPU.
Precision "auto":
  inference  CUDA: fp16 (its 10-bit mantissa is ample for 8-bit images); CPU: bf16 where the
             CPU multiplies it in hardware (AVX512-BF16 or AMX; ~2x faster, within ~0.1 of a grey
             level), else fp32; MPS: fp32. fp16 asked for on a CPU means fp32 (a GPU format).
  training   CUDA: bf16 where the GPU has it, else fp16 with loss scaling; CPU: bf16 where the
             CPU has it in hardware (a step in ~0.45x the time), else fp32. fp16 needs CUDA.
"""
from __future__ import annotations

INFERENCE, TRAINING = "inference", "training"
DEVICES = {INFERENCE: ("auto", "cpu", "cuda", "mps"), TRAINING: ("auto", "cpu", "cuda")}
PRECISIONS = ("auto", "fp16", "bf16", "fp32")
AUTO_PRECISION_HELP = {
    INFERENCE: "auto: fp16 on CUDA, bf16 on CPUs with AVX512-BF16 or AMX, else fp32",
    TRAINING: "auto: bf16/fp16 autocast on CUDA, bf16 on CPUs with AVX512-BF16 or AMX, else fp32",
}


class ChoiceError(ValueError):
    """A device or precision that does not exist or is not there; the message says which."""


def device_kind(choice: str, available: list[str] | tuple[str, ...], purpose: str = INFERENCE) -> str:
    """The kind of device ("cuda", "mps", "cpu") that `choice` means on a machine with the
    `available` kinds. A choice that is not available raises ChoiceError."""
    text = str(choice).strip().lower()
    kind = text.partition(":")[0]
    if kind not in DEVICES[purpose]:
        raise ChoiceError(f"Unknown device '{choice}': use one of {', '.join(DEVICES[purpose])}.")
    if kind == "auto":
        for candidate in ("cuda", "mps"):
            if candidate in available and candidate in DEVICES[purpose]:
                return candidate
        return "cpu"
    if kind not in available:
        raise ChoiceError(f"The {kind.upper()} device was requested but is not available here.")
    return kind


def precision(choice: str, kind: str, purpose: str = INFERENCE, *, cuda_bf16: bool = False,
              cpu_bf16: bool = False) -> str:
    """The precision ("fp32", "bf16", "fp16") that `choice` means on a device of `kind`, given
    whether the GPU (`cuda_bf16`) or the CPU (`cpu_bf16`, in hardware) has bf16."""
    if choice not in PRECISIONS:
        raise ChoiceError(f"Unknown precision '{choice}': use one of {', '.join(PRECISIONS)}.")
    if purpose == TRAINING:
        if choice == "fp16" and kind != "cuda":
            raise ChoiceError("--precision fp16 needs a CUDA GPU (use bf16 or fp32 on the CPU)")
        if choice != "auto":
            return choice
        if kind == "cuda":
            return "bf16" if cuda_bf16 else "fp16"
        return "bf16" if kind == "cpu" and cpu_bf16 else "fp32"
    if choice == "fp32" or kind not in ("cuda", "cpu"):
        return "fp32"
    if kind == "cpu":
        return "bf16" if choice == "bf16" or (choice == "auto" and cpu_bf16) else "fp32"
    return "bf16" if choice == "bf16" else "fp16"
