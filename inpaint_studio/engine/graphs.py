"""CUDA graphs of the generator's forward pass: one per input shape, replayed with new inputs.

A PEN-Net pass at 256 px is a few hundred small kernels; launched one by one from Python the GPU
waits on the CPU (issue 13: CPU dispatch time as long as GPU time). A graph launches them all at
once. A graph fixes every shape and cannot contain a host sync, so it needs the dense attention
computation (`PENNetGenerator.packs` False): the engine checks that before it asks for one.

A shape is captured the second time it is seen (a one-off shape is not worth the capture, which
costs about three passes); the `capacity` most recent graphs are kept, sharing one memory pool.
Sharing is safe here because replays never overlap and every output is copied out at once: a
graph's intermediates may overwrite another graph's static output, never its inputs (those are
allocated outside the pool).
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import torch

ENV_SWITCH = "INPAINT_STUDIO_CUDA_GRAPHS"  # "0" turns graphs off for the app and the command line
CAPACITY = 6


def graphs_wanted(device: torch.device, choice: bool | None = None) -> bool:
    """None: on for CUDA unless INPAINT_STUDIO_CUDA_GRAPHS=0."""
    if choice is not None:
        return bool(choice) and torch.device(device).type == "cuda"
    return torch.device(device).type == "cuda" and os.environ.get(ENV_SWITCH, "1") != "0"


@dataclass
class Captured:
    inputs: list[torch.Tensor]   # static input buffers: copy new inputs into these
    output: torch.Tensor         # static output, overwritten by every replay
    replay: Callable[[], None]


def capture_cuda(fn, inputs: list[torch.Tensor], pool) -> Captured:
    """Warm up on a side stream (cuDNN and cuBLAS pick their algorithms, the allocator settles),
    then capture one call of fn(*inputs) into a graph."""
    static = [t.clone() for t in inputs]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            fn(*static)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, pool=pool):
        output = fn(*static)
    return Captured(static, output, graph.replay)


class GraphCache:
    """`run(fn, inputs)` -> fn(*inputs), from a graph once the shapes were seen before. `fn` must
    be the same computation for every call with the same `key`. A failed capture turns the cache
    off (`failure` says why) and the call runs eagerly."""

    def __init__(self, capacity: int = CAPACITY, capture=capture_cuda, pool_factory=None):
        self.capacity = capacity
        self._capture = capture
        self._pool_factory = pool_factory or torch.cuda.graph_pool_handle
        self._pool = None
        self._graphs: OrderedDict[tuple, Captured] = OrderedDict()
        self._seen: set[tuple] = set()
        self.failure: str | None = None
        self.replays = 0

    def clear(self) -> None:
        self._graphs.clear()
        self._seen.clear()
        self._pool = None

    def __len__(self) -> int:
        return len(self._graphs)

    def run(self, fn, inputs: list[torch.Tensor], key: tuple) -> torch.Tensor:
        key = (key, *((tuple(t.shape), t.dtype, str(t.device)) for t in inputs))
        entry = self._graphs.get(key)
        if entry is None:
            if self.failure is not None or key not in self._seen:
                self._seen.add(key)
                return fn(*inputs)
            try:
                if self._pool is None:
                    self._pool = self._pool_factory()
                entry = self._capture(fn, inputs, self._pool)
            except Exception as exc:  # noqa: BLE001 - any capture problem: run eagerly from now on
                if "out of memory" in str(exc).lower():
                    raise
                self.failure = f"{type(exc).__name__}: {exc}"
                self.clear()
                return fn(*inputs)
            self._graphs[key] = entry
            while len(self._graphs) > self.capacity:
                self._graphs.popitem(last=False)
        self._graphs.move_to_end(key)
        for static, new in zip(entry.inputs, inputs):
            static.copy_(new)
        entry.replay()
        self.replays += 1
        return entry.output.clone()
