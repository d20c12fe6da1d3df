"""The training run: setup (everything that can fail on bad input fails here, before the first
step), the loop with progress / validation / checkpoint events, clean stops on SIGTERM/SIGINT,
and the final checkpoint and export.

Exit codes of `run`: 0 completed or stopped on request, 1 the run failed (write error, losses
no longer finite, export failed). Bad input raises from `setup` (the CLI turns it into 2).
"""
from __future__ import annotations

import json
import math
import platform
import random
import signal
import sys
import threading
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from inpaint_studio.contracts.runs import CHECKPOINTS_DIR, RUN_FILE, SAMPLES_DIR, STOP_FILE
from inpaint_studio.contracts.training import (BASE_BATCH, batch_size_for, discriminator_learning_rate, learning_rate,
                                               resolved_record, saved_settings, workers_for)
from inpaint_studio.engine.device import TRAINING, resolve_precision
from inpaint_studio.network import make_discriminator, make_generator

from . import distributed
from .checkpoint import (CheckpointError, checkpoint_architecture, latest_checkpoint, list_checkpoints,
                         remove_stale_temporaries, save_checkpoint)
from .config import TrainConfig, build_config
from .data import SampleStream, TrainImages, ValImages, collate, holdout, scan_folder
from ..events import EventWriter
from .schedule import lr_factor, run_share
from .step import TrainStep, adam_flags, make_adam, place, resolve_compile
from .validation import validate

PROGRESS_SECONDS = 5.0  # a progress event at least this often, however slow the iterations
_STOP, _FAIL = 1, 2  # flags shared across ranks each step (the larger wins)


class TrainingFailed(RuntimeError):
    """The run cannot go on; the message is for the user."""


def prepare_config(given: dict, resume: bool) -> TrainConfig:
    """The run's config from the options given, the saved run (with --resume) and the defaults.
    A fresh run refuses a folder that already holds checkpoints."""
    out = given.get("out")
    if given.get("base"):
        given = {**given, "base": resolve_base(given["base"])}
        given.update(base_architecture(given))
    if given.get("warm_start") and not resume:
        given = warm_start_settings(given)
    if resume:
        if not out:
            raise ValueError("--resume needs --out RUN_DIR: the run to continue")
        run_file = Path(out) / RUN_FILE
        if not run_file.is_file():
            raise ValueError(f"{out}: not a training run folder (no {RUN_FILE}); nothing to resume")
        saved = _saved_config(run_file)
        try:
            return build_config(given, saved_settings(saved))
        except (TypeError, AttributeError) as exc:  # a value of the wrong kind in the saved settings
            raise ValueError(f"{run_file}: the saved settings are damaged ({exc}), so the run cannot be "
                             "resumed") from None
    if out and list_checkpoints(Path(out) / CHECKPOINTS_DIR):
        raise ValueError(f"{out} already holds a training run: use --resume to continue it, "
                         "or choose another --out folder")
    if not given.get("data"):
        raise ValueError("--data DIR is required: a folder of photos to train on")
    return build_config(given)


def _saved_config(run_file: Path) -> dict:
    """The settings a run was started with, from its run.json; damage is a ValueError naming it."""
    try:
        saved = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(f"{run_file}: damaged, so the run cannot be resumed ({exc})") from None
    config = saved.get("config") if isinstance(saved, dict) else None
    if not isinstance(config, dict):
        raise ValueError(f"{run_file}: holds no training settings ('config'), so the run cannot be resumed")
    return config


def resolve_base(model_id: str, option: str = "--base") -> str:
    """A registry model id; 'default' (when no model has that id) is the app's default model."""
    from inpaint_studio.engine.registry import ModelRegistry, RegistryError

    registry = ModelRegistry()
    if model_id.lower() == "default" and model_id not in {m.id for m in registry.models()}:
        chosen = registry.default_id()
        if chosen is None:
            raise RegistryError(f"{option} default: no model is installed to start from "
                                f"(train from scratch by leaving out {option})")
        return chosen
    return registry.get(model_id).id


def base_architecture(given: dict) -> dict:
    """A fine-tune continues its base model's network: its architecture and width, which an
    --arch or --cnum that says otherwise cannot change."""
    from inpaint_studio.engine.registry import ModelRegistry

    arch = ModelRegistry().get(given["base"]).architecture
    for key, have in (("arch", arch.name), ("cnum", arch.cnum)):
        if given.get(key) is not None and given[key] != have:
            raise ValueError(f"--{key} {given[key]} does not match the base model '{given['base']}' "
                             f"({key} {have}): a fine-tune keeps its base's network")
    return {"arch": arch.name, "cnum": arch.cnum}


def warm_start_settings(given: dict) -> dict:
    """The options of a warm start: the model id resolved ('default' as --base has it), and the
    network its weights are (architecture, width, affinity) and the crop size they were trained
    at; an --arch, --cnum or --size that says otherwise is refused."""
    from inpaint_studio.engine.registry import ModelRegistry
    from inpaint_studio.network import GENERATORS

    model_id = resolve_base(given["warm_start"], "--warm-start")
    arch = ModelRegistry().get(model_id).architecture
    if arch.name not in GENERATORS:
        raise ValueError(f"--warm-start {model_id}: its architecture is {arch.name!r}, which this trainer does not "
                         f"know ({', '.join(GENERATORS)})")
    for key, have, why in (("arch", arch.name, "its network"), ("cnum", arch.cnum, "its network's width"),
                           ("size", arch.input_size, "the crop size it was trained at")):
        if given.get(key) is not None and given[key] != have:
            raise ValueError(f"--warm-start {model_id}: --{key} {given[key]} is not {why} ({have}); "
                             f"leave out --{key} to continue with {have}")
    return {**given, "warm_start": model_id, "arch": arch.name, "cnum": arch.cnum, "size": arch.input_size,
            "affinity": arch.affinity}


class Trainer:
    def __init__(self, config: TrainConfig, events: EventWriter | None = None, resume: bool = False,
                 marks_s: tuple[float, ...] = (), clock=time.monotonic):
        """marks_s: seconds into the run at which a checkpoint is kept as well (finetune-eval
        measures one run at several budgets); `self.marks` lists (seconds, iteration, CPU seconds of
        this process) reached: on a shared machine the iterations show what the load allowed.
        clock: the seconds the budget and the marks count (finetune-eval can count CPU time)."""
        self.clock = clock
        self.cfg = config
        self.marks_s = sorted(marks_s)
        self.marks: list[tuple[float, int, float]] = []
        self.events = events or EventWriter()
        self.resume = resume
        self.stop_signal: int | None = None
        self._held: list[tuple[str, str]] | None = []  # setup messages, sent after `start`
        self._saved: dict | None = None  # the checkpoint being resumed, until it is applied

    # -- setup --------------------------------------------------------------------------------
    def setup(self) -> "Trainer":
        cfg = self.cfg
        self.ctx = ctx = distributed.setup(cfg.device)
        if not ctx.is_main:
            self.events = EventWriter(enabled=False)
        self.run_dir = Path(cfg.out)
        self.ckpt_dir = self.run_dir / CHECKPOINTS_DIR
        self.precision = resolve_precision(cfg.precision, ctx.device, TRAINING)
        on_gpu = ctx.device.type == "cuda"
        if on_gpu:  # every step convolves the same shapes: let cuDNN time its algorithms once
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        memory = torch.cuda.get_device_properties(ctx.device).total_memory if on_gpu else None
        self.batch_size = cfg.batch_size or batch_size_for(ctx.device.type, cfg.size, memory,
                                                              finetune=bool(cfg.base))
        self.workers = cfg.workers if cfg.workers is not None else workers_for(ctx.device.type)
        self.compile = resolve_compile(cfg.compile, ctx.device)
        torch.manual_seed(cfg.seed + ctx.rank)
        random.seed(cfg.seed + ctx.rank)

        self._setup_data()
        self.start_iteration, self.resumed_from, self.metrics = 0, None, None
        if self.resume:
            self._find_checkpoint()
        self._setup_models()
        self._setup_training()
        self._log_speed_settings()
        if ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / STOP_FILE).unlink(missing_ok=True)  # left from an earlier stop
            remove_stale_temporaries(self.ckpt_dir)
            self._write_run_file()
        return self

    def _setup_data(self) -> None:
        cfg, log = self.cfg, self._log
        scan = scan_folder(cfg.data, cfg.size, cfg.small)
        for line in scan.report():
            log(line, "warning" if line.startswith(("skipped", "ignored")) else "info")
        if cfg.val:
            val_scan = scan_folder(cfg.val, cfg.size, cfg.small)
            train, val = scan.entries, val_scan.entries
            self.val_source = {"path": str(cfg.val), "images": len(val)}
        else:
            train, val = holdout(scan.entries, cfg.val_fraction, cfg.seed)
            if val and val[0] in train:
                log("only one image: validating on the training image itself", "warning")
            self.val_source = {"held_out": len(val) if val and val[0] not in train else 0,
                               "fraction": cfg.val_fraction}
        self.scan, self.train_entries = scan, train
        self.train_set = TrainImages(train, cfg.size, cfg.masks, cfg.crop_scale)
        self.val_set = ValImages(val if self.ctx.is_main else [], cfg.size, cfg.masks, limit=cfg.val_images)
        for path, reason in self.val_set.skipped:
            log(f"validation image skipped: {Path(path).name}: {reason}", "warning")
        if self.ctx.is_main and not len(self.val_set):
            log("no readable validation image: validating on training images", "warning")
            self.val_set = ValImages(train, cfg.size, cfg.masks, limit=cfg.val_images)
        self.data_summary = {**scan.summary(), "train_images": len(train), "validation": self.val_source}

    def _setup_models(self) -> None:
        cfg, saved = self.cfg, self._saved
        self.base_info = saved.get("base") if saved else None
        self.warm_info = saved.get("warm_start") if saved else None
        warm_d = None
        if saved:  # the checkpoint has the weights: the base model need not be installed now
            held = checkpoint_architecture(saved)
            cfg.arch, cfg.cnum = held["name"], int(held["cnum"])
        elif cfg.warm_start:
            base_state, warm_d = self._warm_start_weights()
        elif cfg.base:
            from inpaint_studio.engine.registry import ModelRegistry, load_generator

            info = ModelRegistry().get(cfg.base)
            arch = info.architecture
            if arch.affinity != cfg.affinity:
                self._log(f"using the base model's affinity '{arch.affinity}'")
                cfg.affinity = arch.affinity
            base_state = load_generator(info).state_dict()
            self.base_info = {"id": info.id, "name": info.name, "licence": info.card.licence}
        self.generator = make_generator(cfg.arch, attention=cfg.attention, affinity=cfg.affinity, cnum=cfg.cnum)
        if hasattr(self.generator, "attention_plan"):  # PEN-Net's ATNs take the speed choices
            self.generator.configure(kernel=cfg.attention_kernel, compute=cfg.attention_compute)
        self.discriminator = make_discriminator(cfg.arch)
        if saved:
            self.generator.load_state_dict(saved["generator"])
            self.discriminator.load_state_dict(saved["discriminator"])
        elif cfg.base or cfg.warm_start:
            self.generator.load_state_dict(base_state)
        if warm_d is not None:
            self.discriminator.load_state_dict(warm_d.state_dict())

    def _warm_start_weights(self):
        """The generator's state and the discriminator (None: the model ships none) of the model
        a warm start continues; both loaded strictly, so a model of another width fails here."""
        from inpaint_studio.engine.registry import (ModelRegistry, RegistryError, discriminator_path,
                                                    load_discriminator, load_generator)

        info = ModelRegistry().get(self.cfg.warm_start)
        try:
            state = load_generator(info).state_dict()
        except RuntimeError as exc:  # the card's width and the weights disagree
            raise RegistryError(f"{info.weights_path}: not the generator its card describes "
                                f"({str(exc).splitlines()[0]})") from None
        found = discriminator_path(info)
        discriminator = load_discriminator(found, arch=info.architecture.name) if found else None
        self.warm_info = {"id": info.id, "name": info.name, "created": info.card.created,
                          "iterations": info.card.training.iterations,
                          "discriminator": found.name if found else None}
        if found is None:
            self._log(f"'{info.name}' ({info.id}) ships no discriminator: starting a fresh one beside "
                      "its generator", "warning")
        else:
            self._log(f"warm start from '{info.name}' ({info.id}): generator and discriminator ({found.name})")
        return state, discriminator

    def _find_checkpoint(self) -> None:
        found = latest_checkpoint(self.ckpt_dir)
        if found is None:
            self._log(f"{self.run_dir}: no checkpoint yet, starting from iteration 0", "warning")
            return
        path, payload = found
        self._saved = payload
        self.start_iteration = int(payload["iteration"])
        self.resumed_from = path
        self.metrics = payload.get("metrics")

    def _setup_training(self) -> None:
        cfg, ctx = self.cfg, self.ctx
        place(self.generator, ctx.device)
        place(self.discriminator, ctx.device)
        if cfg.trainable == "decoder":  # the encoder keeps the base model's features
            for name, module in self.generator.named_children():
                if name.startswith("dw_conv"):
                    module.requires_grad_(False)
        trainable = [p for p in self.generator.parameters() if p.requires_grad]
        self.opt_g = make_adam(trainable, self._lr(self.start_iteration), cfg.betas, ctx.device)
        self.opt_d = make_adam(self.discriminator.parameters(), self._d_lr(self.start_iteration), cfg.betas,
                               ctx.device)
        g, d = self.generator, self.discriminator
        if ctx.distributed:
            ids = [ctx.device.index] if ctx.device.type == "cuda" else None
            g = DistributedDataParallel(g, device_ids=ids)
            d = DistributedDataParallel(d, device_ids=ids)
        self.step = TrainStep(g, d, self.opt_g, self.opt_d, cfg.weights, ctx.device, self.precision,
                              compile=self.compile)
        payload = self._saved
        if payload is not None:
            self.opt_g.load_state_dict(payload["opt_g"])
            self.opt_d.load_state_dict(payload["opt_d"])
            if self.step.scaler is not None and payload.get("scaler"):
                self.step.scaler.load_state_dict(payload["scaler"])
            rng = payload.get("rng") or {}  # last: building the models drew random numbers
            if "torch" in rng:
                torch.set_rng_state(rng["torch"])
            if "python" in rng:
                random.setstate(rng["python"])
            if rng.get("cuda") and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"][:torch.cuda.device_count()])
            self._saved = None  # free the copy
        self._set_lr(self.start_iteration)  # a resumed run may be given a new learning rate
        for opt in (self.opt_g, self.opt_d):  # and may run on another device than it was saved on
            for group in opt.param_groups:
                group.update(adam_flags(ctx.device))
        stream = SampleStream(self.train_set, cfg.seed, ctx.rank, ctx.world,
                              skip=self.start_iteration * self.batch_size)
        self.loader = DataLoader(self.train_set, batch_size=self.batch_size, sampler=stream,
                                 num_workers=self.workers, collate_fn=collate,
                                 pin_memory=ctx.device.type == "cuda",
                                 persistent_workers=self.workers > 0, worker_init_fn=_ignore_sigint)

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> int:
        cfg, ctx, ev = self.cfg, self.ctx, self.events
        total, it = cfg.iterations, self.start_iteration
        started = time.time()
        ev.emit("start", run_dir=self.run_dir.resolve(), iteration=it, total=total,
                resumed_from=self.resumed_from, config=self.config_record(), data=self.data_summary,
                device=str(ctx.device), precision=self.precision, world_size=ctx.world,
                batch_size=self.batch_size, hardware=self.hardware(), base=self.base_info, warm_start=self.warm_info,
                parameters={"generator": _count(self.generator), "discriminator": _count(self.discriminator)})
        for message, level in self._held or ():
            ev.emit("log", level=level, message=message)
        self._held = None
        restore = self._install_signal_handlers()
        last_ckpt = it if self.resumed_from else None
        last_val = None
        seen_failures: set[str] = set()
        sums: dict[str, torch.Tensor] = {}
        count, train_time = 0, 0.0
        pace: deque[tuple[int, float]] = deque([(it, 0.0)], maxlen=20)
        last_report = time.monotonic()
        failure = None
        status = "completed"
        batches = iter(self.loader)
        budget = cfg.max_minutes * 60 if cfg.max_minutes else None
        clock, cpu0 = self.clock(), time.process_time()  # the budget counts from here: setup is done
        step_s = 0.0  # the last step's duration: the next one is not started when it would overrun
        marks = list(self.marks_s)
        timed_out = False
        try:
            while it < total:
                elapsed = self.clock() - clock
                while marks and elapsed >= marks[0]:
                    self.marks.append((marks.pop(0), it, round(time.process_time() - cpu0, 1)))
                    if last_ckpt != it:
                        self._checkpoint(it)
                        last_ckpt = it
                over = budget is not None and elapsed + step_s >= budget
                if budget is not None and ctx.distributed:  # every rank stops at the same step
                    over = distributed.max_over_ranks(int(over), ctx) > 0
                if over:
                    ev.log(f"time budget of {cfg.max_minutes:g} min reached at iteration {it}")
                    timed_out = True
                    break
                factor = lr_factor(cfg.schedule, cfg.warmup, run_share(it, total, elapsed, budget))
                t0 = time.perf_counter()
                batch = next(batches)
                for path, reason in batch["failed"]:
                    if path not in seen_failures:
                        seen_failures.add(path)
                        ev.log(f"skipped unreadable image {path}: {reason}", "warning")
                image = batch["image"].to(ctx.device, non_blocking=True)  # from pinned memory on CUDA
                mask = batch["mask"].to(ctx.device, non_blocking=True)
                self._set_lr(it, factor)
                terms = self.step(image, mask)
                it += 1
                step_s = time.perf_counter() - t0
                for k, v in terms.items():
                    sums[k] = sums[k] + v if k in sums else v.clone()
                count += 1
                due = time.monotonic() - last_report >= PROGRESS_SECONDS
                if due or it % cfg.log_every == 0 or it == total or it == self.start_iteration + 1:
                    losses = {k: float(v) / count for k, v in sums.items()}  # waits for the GPU
                    train_time += time.perf_counter() - t0
                    if not all(math.isfinite(v) for v in losses.values()):
                        raise TrainingFailed(
                            f"the losses are no longer finite at iteration {it} ({_fmt(losses)}); "
                            f"resume from the last checkpoint (iteration {last_ckpt or 0}) with a lower --lr")
                    pace.append((it, train_time))
                    eta = self._eta(pace, total - it)
                    if budget is not None:
                        left = max(0.0, budget - (self.clock() - clock))
                        eta = round(min(eta, left) if eta is not None else left, 1)
                    ev.emit("progress", iteration=it, total=total, losses=losses,
                            samples_per_s=self._rate(pace), eta_s=eta,
                            lr=self.opt_g.param_groups[0]["lr"], elapsed_s=round(time.time() - started, 1))
                    sums, count, last_report = {}, 0, time.monotonic()
                else:
                    train_time += time.perf_counter() - t0
                flag = 0
                try:
                    if it % cfg.val_every == 0:
                        self._validate(it)
                        last_val = it
                    if it % cfg.checkpoint_every == 0:
                        self._checkpoint(it)
                        last_ckpt = it
                except CheckpointError as exc:
                    failure, flag = exc, _FAIL
                if self.stop_signal is not None or (self.run_dir / STOP_FILE).exists():
                    flag = max(flag, _STOP)
                flag = distributed.max_over_ranks(flag, ctx)
                if flag:
                    if flag >= _FAIL:
                        raise TrainingFailed(str(failure) if failure else "another process failed")
                    status = "stopped"
                    ev.log(f"stop requested{_signal_name(self.stop_signal)}: saving iteration {it}")
                    if ctx.is_main:
                        (self.run_dir / STOP_FILE).unlink(missing_ok=True)
                    break
            if timed_out:  # marks at the budget itself: the end is theirs
                self.marks += [(m, it, round(time.process_time() - cpu0, 1)) for m in marks if m <= budget]
            if status == "completed" and last_val != it and len(self.val_set):
                self._validate(it)
            if last_ckpt != it:
                self._checkpoint(it)
            distributed.barrier(ctx)
            exported = self._export() if status == "completed" and cfg.export_name and ctx.is_main else {}
            ev.emit("done", status=status, iteration=it, total=total, run_dir=self.run_dir.resolve(),
                    checkpoint=self._latest_path(), metrics=self.metrics,
                    elapsed_s=round(time.time() - started, 1), **exported)
            return 0
        except (TrainingFailed, CheckpointError) as exc:
            ev.emit("error", message=str(exc), iteration=it)
            return 1
        except torch.cuda.OutOfMemoryError:
            ev.emit("error", message=f"out of GPU memory at batch size {self.batch_size} and size {cfg.size}: "
                    "use a smaller --batch-size", iteration=it)
            return 1
        except OSError as exc:  # e.g. a preview image that cannot be written
            ev.emit("error", message=f"{exc}; the last checkpoint is kept", iteration=it)
            return 1
        finally:
            restore()
            del batches

    # -- pieces ---------------------------------------------------------------------------------
    def _log_speed_settings(self) -> None:
        cfg, total = self.cfg, self.batch_size * self.ctx.world
        if cfg.batch_size is None:
            self._log(f"batch size {self.batch_size} per process (the default on {self.ctx.device.type})")
        if cfg.lr is None and total > BASE_BATCH:
            release = learning_rate(cfg, BASE_BATCH, 0)
            self._log(f"learning rate {self._lr(cfg.iterations):.3g} for a total batch of {total}: the release's "
                      f"{release:.3g} x sqrt({total}/{BASE_BATCH}), reached after a linear warm-up")
        if self.compile:
            self._log("torch.compile: the first steps compile the model (minutes); later steps run faster")

    def _lr(self, it: int) -> float:
        return learning_rate(self.cfg, self.batch_size * self.ctx.world, it)

    def _d_lr(self, it: int) -> float:
        return discriminator_learning_rate(self.cfg, self.batch_size * self.ctx.world, it)

    def _set_lr(self, it: int, factor: float = 1.0) -> None:
        """The rate at `it` (contracts.training.learning_rate) times the schedule's `factor`."""
        for opt, lr in ((self.opt_g, self._lr(it)), (self.opt_d, self._d_lr(it))):
            for group in opt.param_groups:
                group["lr"] = lr * factor

    def _log(self, message: str, level: str = "info") -> None:
        """stderr at once; the event waits for `start` during setup (events begin with start)."""
        if not self.ctx.is_main:
            return
        if self._held is None:
            self.events.log(message, level)
        else:
            print(f"[trainer] {message}", file=sys.stderr, flush=True)
            self._held.append((message, level))

    def _validate(self, it: int) -> None:
        if not self.ctx.is_main or not len(self.val_set):
            return
        t0 = time.perf_counter()
        metrics, path = validate(distributed.unwrap(self.step.generator), self.val_set, self.ctx.device,
                                 self.precision, it, self.run_dir / SAMPLES_DIR)
        self.metrics = {"iteration": it, **metrics}
        self.events.emit("validation", iteration=it, metrics=metrics, images=len(self.val_set),
                         seconds=round(time.perf_counter() - t0, 2))
        if path is not None:
            self.events.emit("sample", iteration=it, path=path.resolve())

    def _checkpoint(self, it: int) -> None:
        if not self.ctx.is_main:
            return
        payload = {
            "iteration": it,
            # the learning rate the run used, for the model card (run.json keeps None: the rule)
            "config": {**self.config_record(), "lr": self._lr(it)},
            "architecture": {"name": self.cfg.arch, "cnum": self.cfg.cnum},
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.step.scaler.state_dict() if self.step.scaler is not None else None,
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
            "metrics": self.metrics,
            "data": self.data_summary,
            "hardware": self.hardware(),
            "world_size": self.ctx.world,
            "base": self.base_info,
            "warm_start": self.warm_info,
        }
        path = save_checkpoint(self.ckpt_dir, it, payload, keep=self.cfg.keep_checkpoints)
        self.events.emit("checkpoint", iteration=it, path=path.resolve(), size_bytes=path.stat().st_size)

    def _export(self) -> dict:
        from .export import export_run

        try:
            info = export_run(self.run_dir, self.cfg.export_name)
        except (OSError, ValueError, CheckpointError) as exc:
            raise TrainingFailed(f"training finished but the export failed: {exc}; the run is saved, "
                                 f"retry with: python -m trainer export {self.run_dir} --name "
                                 f"\"{self.cfg.export_name}\"") from exc
        self.events.log(f"exported model '{info.name}' as {info.id}")
        return {"model_id": info.id, "model_name": info.name, "model_path": info.weights_path.resolve(),
                "card_path": info.card_path.resolve()}

    def _latest_path(self):
        found = list_checkpoints(self.ckpt_dir)
        return found[-1][1].resolve() if found else None

    def _rate(self, pace) -> float | None:
        (i0, t0), (i1, t1) = pace[0], pace[-1]
        if i1 <= i0 or t1 <= t0:
            return None
        return round((i1 - i0) * self.batch_size * self.ctx.world / (t1 - t0), 3)

    @staticmethod
    def _eta(pace, remaining: int) -> float | None:
        (i0, t0), (i1, t1) = pace[0], pace[-1]
        return round(remaining * (t1 - t0) / (i1 - i0), 1) if i1 > i0 else None

    def config_record(self) -> dict:
        """The settings with the values chosen for this machine (not None or "auto")."""
        return resolved_record(self.cfg, {"batch_size": self.batch_size, "workers": self.workers,
                                          "device": self.ctx.device.type, "precision": self.precision})

    def hardware(self) -> str:
        ctx = self.ctx
        if ctx.device.type == "cuda":
            name = torch.cuda.get_device_name(ctx.device)
            return f"{ctx.world}x {name} ({self.precision})"
        cpu = platform.processor() or platform.machine()
        procs = f"{ctx.world} processes x " if ctx.distributed else ""
        return f"CPU {cpu} ({procs}{torch.get_num_threads()} threads, {self.precision})"

    def _write_run_file(self) -> None:
        path = self.run_dir / RUN_FILE
        record = {"config": self.config_record(), "data": self.data_summary, "base": self.base_info,
                  "warm_start": self.warm_info, "train_names": train_names(self.train_entries),
                  "hardware": self.hardware(), "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        tmp = path.with_name(f".{RUN_FILE}.tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        wanted = [signal.SIGTERM, signal.SIGINT] + ([signal.SIGBREAK] if hasattr(signal, "SIGBREAK") else [])
        previous = {s: signal.getsignal(s) for s in wanted}

        def request_stop(signum, _frame):
            self.stop_signal = signum  # acted on after the current step

        for s in previous:
            signal.signal(s, request_stop)

        def restore():
            for s, handler in previous.items():
                signal.signal(s, handler)
        return restore


def fit(given: dict, resume: bool, events: EventWriter) -> int:
    """`python -m trainer fit`: raises DataError / ValueError for bad input before anything starts."""
    config = prepare_config(given, resume)
    trainer = Trainer(config, events, resume=resume)
    try:
        return trainer.setup().run()
    finally:
        if hasattr(trainer, "ctx"):
            distributed.teardown(trainer.ctx)


def train_names(entries) -> list[str]:
    """Short hashes of the training photos' names without their suffix (a carried copy keeps the
    names): enough for `promote` to refuse held-out photos the run trained on."""
    return sorted({name_hash(e.path) for e in entries})


def name_hash(path) -> str:
    import hashlib

    return hashlib.sha1(Path(path).stem.encode()).hexdigest()[:10]


def _ignore_sigint(_worker_id: int) -> None:
    """Data workers leave Ctrl-C to the main process, which stops cleanly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _fmt(losses: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in losses.items())


def _signal_name(signum: int | None) -> str:
    return f" ({signal.Signals(signum).name})" if signum else ""


__all__ = ["Trainer", "TrainingFailed", "fit", "name_hash", "prepare_config", "resolve_base", "train_names"]
