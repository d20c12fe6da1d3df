"""CUDA graphs of the engine, on the CPU: the graph cache's bookkeeping (capture on the second
sight of a shape, static buffers, eviction, failure) with a capture that records the computation
instead of a CUDA graph, and the engine's use of it (same fills as without)."""
import numpy as np
import pytest
import torch

from inpaint_studio.engine import InpaintOptions, PENNetEngine
from inpaint_studio.engine import graphs as graphs_module
from inpaint_studio.engine.graphs import Captured, GraphCache, graphs_wanted
from inpaint_studio.engine.registry import save_generator
from inpaint_studio.network import PENNetGenerator


class FakeCapture:
    """Stands in for capture_cuda: static input buffers, a static output that every replay
    overwrites (as a graph does), and a log of what was captured."""

    def __init__(self, fail=None):
        self.captured, self.fail = [], fail

    def __call__(self, fn, inputs, pool):
        if self.fail:
            raise self.fail
        static = [t.clone() for t in inputs]
        output = fn(*static)
        self.captured.append(tuple(tuple(t.shape) for t in inputs))
        def replay():  # a graph writes its output's memory directly, inference tensor or not
            with torch.inference_mode():
                output.copy_(fn(*static))

        return Captured(static, output, replay)


def test_graphs_capture_on_second_sight_replay_new_inputs_and_evict():
    capture = FakeCapture()
    cache = GraphCache(capacity=2, capture=capture, pool_factory=object)
    calls = []

    def fn(a, b):
        calls.append(a.shape)
        return a * 2 + b

    def run(n, seed):
        g = torch.Generator().manual_seed(seed)
        a, b = torch.randn(n, generator=g), torch.randn(n, generator=g)
        out = cache.run(fn, [a, b], key=("k",))
        assert torch.equal(out, a * 2 + b)
        return out

    run(3, 0)
    assert capture.captured == [] and len(cache) == 0  # first sight: eager
    first = run(3, 1)
    assert capture.captured == [((3,), (3,))] and cache.replays == 1
    run(3, 2)  # new inputs into the static buffers
    assert cache.replays == 2 and len(capture.captured) == 1
    assert not torch.equal(first, run(3, 3))  # outputs are copies, not the static buffer
    for n in (4, 4, 5, 5):
        run(n, n)
    assert len(cache) == 2 and capture.captured[-2:] == [((4,), (4,)), ((5,), (5,))]
    run(3, 9)  # evicted: seen before, so captured again
    assert len(capture.captured) == 4 and len(cache) == 2


def test_a_failed_capture_turns_graphs_off_and_runs_eagerly():
    cache = GraphCache(capture=FakeCapture(fail=RuntimeError("operation not permitted when stream is capturing")),
                       pool_factory=object)
    x = torch.ones(2)
    for _ in range(3):
        assert torch.equal(cache.run(lambda t: t + 1, [x], key=()), x + 1)
    assert "not permitted" in cache.failure and len(cache) == 0
    oom = GraphCache(capture=FakeCapture(fail=torch.OutOfMemoryError("CUDA out of memory")), pool_factory=object)
    oom.run(lambda t: t, [x], key=())
    with pytest.raises(torch.OutOfMemoryError):  # the engine's recovery handles it
        oom.run(lambda t: t, [x], key=())


def test_graphs_are_wanted_on_cuda_only_and_can_be_switched_off(monkeypatch):
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert graphs_wanted(cuda) and not graphs_wanted(cpu) and not graphs_wanted(cpu, True)
    assert not graphs_wanted(cuda, False)
    monkeypatch.setenv(graphs_module.ENV_SWITCH, "0")
    assert not graphs_wanted(cuda) and graphs_wanted(cuda, True)


def test_engine_fills_the_same_through_graphs(tmp_path):
    """Dense attention (what CUDA runs at these sizes) on the CPU, with the recording capture."""
    torch.manual_seed(0)
    info = save_generator(PENNetGenerator(attention="holes"), "Graphs", {"licence": "test"}, directory=tmp_path)
    image = np.random.default_rng(0).integers(0, 255, (160, 200, 3), dtype=np.uint8)
    mask = np.zeros((160, 200), np.uint8)
    mask[50:100, 60:120] = 255
    plain = PENNetEngine(info, device="cpu", warm_up=False)
    plain.generator.configure(compute="dense")
    graphed = PENNetEngine(info, device="cpu", warm_up=False)
    graphed.generator.configure(compute="dense")
    capture = FakeCapture()
    graphed.graphs = GraphCache(capture=capture, pool_factory=object)
    want = plain.inpaint(image, mask).image
    for _ in range(3):
        np.testing.assert_array_equal(graphed.inpaint(image, mask).image, want)
    assert len(capture.captured) == 1 and graphed.graphs.replays == 2
    flow = graphed.inpaint(image, mask, InpaintOptions(return_flow=True))  # the argmax runs eagerly
    assert flow.flow is not None and graphed.graphs.replays == 2
    graphed.generator.configure(compute="packed")  # packing reads counts on the host: no graph
    graphed.inpaint(image, mask)
    assert graphed.graphs.replays == 2
