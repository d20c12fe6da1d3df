"""Devices and torchrun: one process per GPU (or several CPU processes with gloo), each with its
shard of the data; gradients are averaged by DistributedDataParallel and only rank 0 writes."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from inpaint_studio.engine.device import TRAINING, resolve_device


@dataclass
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device_choice: str = "auto") -> Context:
    """Reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK) and joins the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_choice, TRAINING, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(minutes=30))
    return Context(rank, world, local_rank, device)


def max_over_ranks(value: int, ctx: Context) -> int:
    """The largest value any rank holds, on every rank (a stop request or a failure that
    reached one process ends the step for all of them)."""
    if not ctx.distributed:
        return value
    t = torch.tensor([float(value)], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def teardown(ctx: Context) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside a DistributedDataParallel wrapper."""
    return getattr(module, "module", module)
