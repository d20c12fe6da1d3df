"""The engine of registry models (PEN-Net or DeepFill v1: the card's architecture, built by the
network factory; both take the same input and give the same outputs): a model loaded once, run
on crops, the resized image or the image at its native size, with out-of-memory recovery (smaller
batches, smaller crops, then the CPU)."""
from __future__ import annotations

import threading
import time

import numpy as np
import torch

from ..network import generator_input
from .base import Engine, InpaintError, InpaintOptions, InpaintResult, check_cancel, report
from .blend import adapt_colours, paste_region
from .device import (BYTES_PER_PIXEL, autocast, autocast_dtype, describe, free_memory, is_out_of_memory,
                     limit_kernel_caches, memory_available, model_pixels_budget, release_host_memory,
                     resolve_device)
from .graphs import GraphCache, graphs_wanted
from .regions import MULTIPLE, Crop, batches, cut, flow_to_box, make_crop, plan_crops, uncut, whole_image_crop
from .registry import ModelInfo, RegistryError, load_generator

WARMUP_SIZE = 128
MAX_BATCH = 16
NOTE_SMALLER_BATCHES = "Out of memory: retried with smaller batches."
NOTE_SMALLER_CROPS = "Out of memory: retried with smaller crops (lower resolution inside the hole)."
NOTE_CPU = "Out of GPU memory: finished on the CPU."
NOTE_FP32 = "Reduced precision gave non-finite values: that batch was run again in full precision."


class _Request:
    """Per-request state: where batches run now and what the user should be told."""

    def __init__(self, generator, device: torch.device):
        self.generator = generator
        self.device = device
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


class PENNetEngine(Engine):
    def __init__(self, model_info: ModelInfo, device: str | torch.device = "auto",
                 precision: str = "auto", warm_up: bool = True, cuda_graphs: bool | None = None):
        """cuda_graphs: replay passes of a repeated shape as CUDA graphs (None: on for CUDA,
        unless INPAINT_STUDIO_CUDA_GRAPHS=0); only where the attention runs dense (see graphs)."""
        limit_kernel_caches()  # before the first convolution: memory stays flat over a long session
        self.info = model_info
        self.id = model_info.id
        self.label = f"{model_info.architecture.label}: {model_info.name}"
        self.device = resolve_device(device)
        self.precision = precision
        self._lock = threading.RLock()
        self.graphs = GraphCache() if graphs_wanted(self.device, cuda_graphs) else None
        self.generator = self._load(self.device)
        self._cpu_generator = self.generator if self.device.type == "cpu" else None
        if warm_up:
            self.warm_up()

    # -- model ----------------------------------------------------------------------------------
    def _load(self, device: torch.device):
        try:
            return load_generator(self.info, device=device)
        except RegistryError as exc:
            raise InpaintError(str(exc)) from None
        except Exception as exc:
            if is_out_of_memory(exc):
                raise InpaintError(f"Not enough memory on {device} to load '{self.info.name}'. "
                                   f"Choose the CPU device.") from None
            raise

    def cpu_generator(self):
        if self._cpu_generator is None:
            self._cpu_generator = self._load(torch.device("cpu"))
        return self._cpu_generator

    def warm_up(self) -> None:
        """One small forward pass, so that the first real request does not pay for kernel
        selection and allocator growth."""
        n = WARMUP_SIZE
        mask = torch.zeros(1, 1, n, n, device=self.device)
        mask[..., n // 4:3 * n // 4, n // 4:3 * n // 4] = 1
        image = torch.zeros(1, 3, n, n, device=self.device)
        with self._lock:
            _pass(self.generator, self.device, self.precision, image, mask)

    # -- the request ------------------------------------------------------------------------------
    def inpaint(self, image, mask, options: InpaintOptions | None = None, progress=None, cancel=None) -> InpaintResult:
        try:
            return self._inpaint(image, mask, options, progress, cancel)
        finally:
            release_host_memory()

    def _inpaint(self, image, mask, options, progress, cancel) -> InpaintResult:
        start = time.perf_counter()
        image, hole, options, source = self.prepare(image, mask, options)
        if not hole.any():
            return self.nothing_to_fill(image, describe(self.device, self.precision))
        report(progress, 0.0, "Preparing")
        crops = self._plan(hole, options, source)
        run = _Request(self.generator, self.device)
        budget = model_pixels_budget(self.device)
        plan = batches(crops, budget, MAX_BATCH)
        result = image.copy()
        blended = np.zeros(hole.shape, bool) if options.feather else None
        flow = np.full(hole.shape + (2,), np.nan, np.float32) if options.return_flow else None
        patch = np.full(hole.shape, np.nan, np.float32) if options.return_flow else None
        done = 0
        with self._lock:
            for batch in plan:
                check_cancel(cancel)
                members = [crops[i] for i in batch]
                outputs = self._run_batch(run, members, image, hole, source, options.return_flow)
                for crop, (filled, box_flow, box_patch) in zip(members, outputs):
                    x0, y0, x1, y1 = crop.box
                    if options.colour_adaptation:
                        filled = adapt_colours(filled, image[y0:y1, x0:x1], ~hole[y0:y1, x0:x1], in_place=True)
                    paste_region(result, filled, crop.box, crop.owned, hole[y0:y1, x0:x1],
                                 options.feather, blended)
                    if flow is not None:
                        flow[y0:y1, x0:x1][crop.owned] = box_flow[crop.owned]
                        patch[y0:y1, x0:x1][crop.owned] = box_patch
                done += len(batch)
                report(progress, done / len(crops), f"Filled {done} of {len(crops)} regions")
        check_cancel(cancel)
        seconds = time.perf_counter() - start
        device = describe(run.device, self.precision)
        report(progress, 1.0, "Done")
        return InpaintResult(
            image=result,
            changed=not np.array_equal(result, image),
            message=f"Filled {len(crops)} region{'s' * (len(crops) != 1)} with {self.label} on {device} in {seconds:.1f} s.",
            regions=[c.box for c in crops],
            device=device,
            seconds=seconds,
            notes=run.notes,
            flow=flow,
            flow_patch=patch,
        )

    def _plan(self, hole: np.ndarray, options: InpaintOptions, source) -> list[Crop]:
        if options.strategy == "crop":
            return plan_crops(hole, options.feather, source)
        if options.strategy == "resize":
            return [whole_image_crop(hole, options.resize_limit)]
        crop = whole_image_crop(hole, None)
        mh, mw = crop.model_size
        need = mh * mw * BYTES_PER_PIXEL
        have = memory_available(self.device)
        if need > have:
            h, w = hole.shape
            raise InpaintError(
                f"The image is too large for the 'original' strategy: {w}x{h} needs about "
                f"{_gib(need)} of memory on {self.device.type}, more than the {_gib(have)} available. "
                f"Use the 'crop' or 'resize' strategy.")
        return [crop]

    # -- running batches with out-of-memory recovery ----------------------------------------------
    def _run_batch(self, run: _Request, crops: list[Crop], image, hole, source, want_flow):
        try:
            return self._forward(run, crops, image, hole, source, want_flow)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
        self._free(run.device)
        if len(crops) > 1:
            run.note(NOTE_SMALLER_BATCHES)
            return [out for c in crops for out in self._run_batch(run, [c], image, hole, source, want_flow)]
        crop = _smaller(crops[0])
        while crop is not None:
            try:
                outputs = self._forward(run, [crop], image, hole, source, want_flow)
                run.note(NOTE_SMALLER_CROPS)
                return outputs
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                self._free(run.device)
                crop = _smaller(crop)
        if run.device.type != "cpu":
            run.generator, run.device = self.cpu_generator(), torch.device("cpu")
            run.note(NOTE_CPU)
            return self._run_batch(run, crops, image, hole, source, want_flow)
        raise InpaintError("Not enough memory to fill this region, even at a reduced resolution. "
                           "Try a smaller mask, the 'crop' strategy, or close other programs.")

    def _free(self, device) -> None:
        if self.graphs is not None:  # captured graphs hold their intermediates
            self.graphs.clear()
        free_memory(device)

    def _forward(self, run: _Request, crops: list[Crop], image, hole, source, want_flow):
        """One batch of equal-size crops -> [(box-sized float result, box-sized flow or None, side
        in image px of a source patch)]. The flow's grid is the attention's matching grid (PEN-Net's
        finest ATN: 1/4, DeepFill's contextual attention: 1/8 of the model size); a source patch
        is 4x4 cells of the map at twice that resolution, so two grid cells wide."""
        pieces = [cut(c, image, hole, source) for c in crops]
        dev = run.device
        img = torch.from_numpy(np.stack([p[0] for p in pieces])).permute(0, 3, 1, 2).to(dev)
        img = img / 127.5 - 1.0
        msk = torch.from_numpy(np.stack([p[1] for p in pieces]))[:, None].to(dev)
        src = None
        if source is not None:
            src = torch.from_numpy(np.stack([p[2] for p in pieces]))[:, None].to(dev)
        out, grid = self._generate(run, img, msk, src, want_flow, self.precision)
        if not torch.isfinite(out).all() and autocast_dtype(dev, self.precision) is not None:
            run.note(NOTE_FP32)
            out, grid = self._generate(run, img, msk, src, want_flow, "fp32")
        out = ((out.float() + 1.0) * 127.5).clamp_(0, 255).permute(0, 2, 3, 1).cpu().numpy()
        grid = grid.cpu().numpy() if grid is not None else None
        if grid is None:
            return [(uncut(c, out[i]), None, None) for i, c in enumerate(crops)]
        cell = crops[0].model_size[0] // grid.shape[1]  # model px per grid cell (crops share a size)
        return [(uncut(c, out[i]), flow_to_box(c, grid[i], cell), 2.0 * cell / c.scale) for i, c in enumerate(crops)]

    def _generate(self, run: _Request, img, msk, src, want_flow, precision):
        gen, dev = run.generator, run.device
        b, _, h, w = img.shape
        # graphs (made only for CUDA) need PEN-Net's dense attention, and the flow's argmax is not dense
        if (self.graphs is not None and dev == self.device and not want_flow and hasattr(gen, "packs")
                and not gen.packs(b, h, w, dev.type)):
            inputs = [img, msk] + ([src] if src is not None else [])
            out = self.graphs.run(lambda *t: _pass(gen, dev, precision, *t, cache=False)[0], inputs,
                                  key=(id(gen), precision))
            return out, None
        res = _pass(gen, dev, precision, img, msk, src, return_flow=want_flow)
        return res[0], (res[2] if want_flow else None)


def _pass(generator, device, precision, img, msk, src=None, return_flow=False, cache=True):
    """One inference pass of the generator on the network input made from img and msk."""
    with torch.inference_mode(), autocast(device, precision, cache_enabled=cache):
        return generator(generator_input(img, msk), msk, source=src, pyramid=False, return_flow=return_flow)


def _smaller(crop: Crop) -> Crop | None:
    """The same box at half the model resolution, or None below one 64-px block."""
    long = max(crop.size)
    if long <= MULTIPLE:
        return None
    return make_crop(crop.box, crop.owned, max_side=max(MULTIPLE, long // 2))


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GB"
