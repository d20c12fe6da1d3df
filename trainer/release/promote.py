"""`python -m trainer promote RUN --data HELDOUT [--dry-run]`: does a run beat the bundled model?

The run's newest checkpoint (its generator rounded to fp16, as it would ship) and the bundled
model are measured on the same held-out photos with the same seeded masks, centre squares and
free-form strokes, with evaluate's machinery (composites as the app pastes them), beside the
classical methods. Only when the run is better by RULE are models/<id>.safetensors, the
discriminator beside it and the card replaced; the card gains one entry in `training.history`
per training window (date, hardware, iterations, samples, held-out figures).

Replacing three files is made atomic with a journal: every new file is written and synced under
a temporary name, the old ones are linked to backups, the journal is written, and only then are
the files renamed over the old ones, the card last. An error in between puts the backups back;
a process killed in between leaves the journal, and the next `promote` (or `window-return`)
finds it and rolls back to the old model (or, when the card was already replaced, finishes).
"""
from __future__ import annotations

import filecmp
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from inpaint_studio.atomic import sync_directory
from inpaint_studio.contracts.card import ARCHITECTURES, CARD_FORMAT
from inpaint_studio.contracts.runs import CHECKPOINTS_DIR, RUN_FILE
from inpaint_studio.engine.device import TRAINING, resolve_device
from inpaint_studio.engine.registry import (DISCRIMINATOR_SUFFIX, ModelRegistry, RegistryError, load_discriminator,
                                            load_generator)
from inpaint_studio.network import make_generator

from ..evaluate import CLASSICAL, classical_rows, format_table, generator_outputs, load_named_crops, score
from ..fit.checkpoint import checkpoint_architecture, latest_checkpoint
from ..fit.data import scan_folder
from ..fit.loop import name_hash
from ..fit.export import CARD_CONFIG_KEYS
from ..fit.masks import named_masks
from .bundle import BUNDLED_ID, held_out

PROMOTION_MASKS = ("center", "free")
RULE = "promoted only when its PSNR is higher on both centre squares and free-form strokes and its SSIM is not lower on either"
JOURNAL = ".promote-journal.json"
DISCRIMINATOR_FORMAT = "inpaint-studio-discriminator/1"


def better(new: dict, old: dict) -> tuple[bool, list[str]]:
    """RULE, the one place it is decided: new and old are {mask kind: row} with psnr and ssim.
    -> (better, the reasons it is not)."""
    reasons = []
    for kind in PROMOTION_MASKS:
        n, o = new[kind], old[kind]
        if not n["psnr"] > o["psnr"]:
            reasons.append(f"{kind}: PSNR {n['psnr']:.3f} dB is not above {o['psnr']:.3f} dB")
        if n["ssim"] < o["ssim"]:
            reasons.append(f"{kind}: SSIM {n['ssim']:.4f} is below {o['ssim']:.4f}")
    return not reasons, reasons


def promote(run_dir: str | Path, data: str | Path, models: str | Path | None = None, model_id: str = BUNDLED_ID,
            dry_run: bool = False, size: int | None = None, limit: int | None = None, seed: int = 0,
            device: str = "auto", classical: tuple[str, ...] = CLASSICAL, log=print) -> dict:
    """Measures, prints the tables and the verdict, and replaces the bundled model when the run is
    better (unless dry_run). -> {"better", "promoted", "reasons", "reports", "card"}."""
    from inpaint_studio.engine import registry as registry_module

    models = Path(models) if models else registry_module.BUNDLED_MODELS_DIR
    run_dir = Path(run_dir)
    if not (run_dir / RUN_FILE).is_file():
        raise ValueError(f"{run_dir}: not a training run folder (no {RUN_FILE})")
    recovered = recover(models)
    if recovered:
        log(f"{models}: {recovered}")
    record = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    check_held_out(record, data, run_dir)
    found = latest_checkpoint(run_dir / CHECKPOINTS_DIR)
    if found is None:
        raise ValueError(f"{run_dir}: no checkpoint to promote yet")
    payload = found[1]
    current = _bundled(models, model_id)
    size = size or current.architecture.input_size
    warm = payload.get("warm_start") or {}
    if warm.get("created") and warm.get("id") == model_id and warm["created"] != current.card.created:
        log(f"note: the run started from '{model_id}' as created {warm['created']}, which has been replaced since "
            f"(now {current.card.created}); the comparison is with the current one")
    dev = resolve_device(device, TRAINING)
    held = checkpoint_architecture(payload)
    candidate = _shipped_generator(payload).to(dev, memory_format=torch.channels_last)
    bundled = load_generator(current, device=dev)
    label = f"model {run_dir.name} (iteration {int(payload['iteration'])})"
    names, crops = load_named_crops(data, size, limit)
    reports, ours, theirs = {}, {}, {}
    for kind in PROMOTION_MASKS:
        log(f"measuring the bundled model, {label[len('model '):]} and the classical methods on {len(crops)} photos, "
            f"'{kind}' masks ...")
        holes = named_masks(kind, names, size, seed=seed)  # as evaluate draws them
        old = {**score(f"bundled {model_id}", *generator_outputs(bundled, crops, holes, dev), crops, holes, names),
               "colour_adaptation": None, "architecture": current.architecture.label}  # not the card's "this model"
        new = {**score(label, *generator_outputs(candidate, crops, holes, dev), crops, holes, names),
               "architecture": ARCHITECTURES.get(held["name"], held["name"])}
        rows = [old, new, *classical_rows(crops, holes, names, classical)]
        reports[kind] = {"images": len(crops), "masks": kind, "size": size, "seed": seed, "data": str(data),
                         "rows": rows}
        ours[kind], theirs[kind] = new, old
        log(format_table(reports[kind]))
    is_better, reasons = better(ours, theirs)
    log(f"rule: {RULE}")
    verdict = "better" if is_better else "not better: " + "; ".join(reasons)
    result = {"better": is_better, "promoted": False, "reasons": reasons, "reports": reports, "card": None}
    if not is_better:
        log(f"verdict: {verdict}; {current.card_path.name} stays")
    elif dry_run:
        log(f"verdict: {verdict}; --dry-run: {models} is left as it is")
    else:
        card = promoted_card(current, payload, record, ours, reports, run_dir.name)
        files = model_files(payload, card, model_id)
        replace_files(models, files, check=lambda temps: _check_files(temps, checkpoint_architecture(payload)))
        result.update(promoted=True, card=str(models / f"{model_id}.json"))
        log(f"verdict: {verdict}; promoted: {', '.join(n for n, _ in files)} replaced in {models}")
    return result


def _bundled(models: Path, model_id: str):
    try:
        info = ModelRegistry(bundled_dir=models).get(model_id)
    except RegistryError:
        info = None
    if info is None or not info.bundled:
        raise ValueError(f"{models}: no bundled model '{model_id}' to compare with (ship the first one with "
                         "`python -m trainer bundle`)")
    return info


def _shipped_generator(payload: dict):
    """The checkpoint's generator with its weights rounded to fp16, as promotion would ship it."""
    cfg, state, held = payload["config"], payload["generator"], checkpoint_architecture(payload)
    generator = make_generator(held["name"], attention=cfg.get("attention", "holes"),
                               affinity=cfg.get("affinity", "release"), cnum=int(held["cnum"]))
    generator.load_state_dict({k: v.to(torch.float16).float() if v.is_floating_point() else v
                               for k, v in state.items()})
    return generator.eval().requires_grad_(False)


# -- held-out photos ------------------------------------------------------------------------------
def check_held_out(record: dict, data: str | Path, run_dir: Path) -> None:
    """Refuse --data that the run trained on, as far as its run.json tells: the training folder
    itself (or one inside or around it), or photos whose names it trained on."""
    data = Path(data)
    if not data.is_dir():
        raise ValueError(f"{data}: no such folder of held-out photos")
    trained = (record.get("data") or {}).get("path")
    if trained:
        a, b = data.resolve(), Path(trained).resolve()
        if a == b or b in a.parents or a in b.parents:
            raise ValueError(f"{data}: the run {run_dir} trained on {trained}; promote on held-out photos "
                             "(the corpus val split)")
    names = set(record.get("train_names") or ())
    if names:
        entries = scan_folder(data, 64, small="upscale").entries
        seen = [e.path for e in entries if name_hash(e.path) in names]
        if seen:
            raise ValueError(f"{data}: {len(seen)} of its {len(entries)} photos were in the run's training data "
                             f"(e.g. {Path(seen[0]).name}); promote on held-out photos (the corpus val split)")


# -- the new model's files -------------------------------------------------------------------------
def model_files(payload: dict, card: dict, model_id: str) -> list[tuple[str, bytes]]:
    """[(file name, bytes)]: generator (fp16), discriminator (fp16; bf16 where fp16 would
    overflow), card last."""
    generator = {k: v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous()
                 for k, v in payload["generator"].items()}
    d_state = payload["discriminator"]
    dtype = torch.float16
    if any(v.is_floating_point() and v.abs().max() > torch.finfo(torch.float16).max for v in d_state.values()):
        dtype = torch.bfloat16
    discriminator = {k: v.detach().to(dtype if v.is_floating_point() else v.dtype).contiguous()
                     for k, v in d_state.items()}
    card["discriminator"] = {**(card.get("discriminator") or {}), "file": f"{model_id}{DISCRIMINATOR_SUFFIX}",
                             "dtype": str(dtype).replace("torch.", ""),
                             "parameters": sum(v.numel() for v in discriminator.values())}
    return [(f"{model_id}.safetensors", save(generator, metadata={"format": CARD_FORMAT, "name": card["name"]})),
            (f"{model_id}{DISCRIMINATOR_SUFFIX}", save(discriminator, metadata={"format": DISCRIMINATOR_FORMAT})),
            (f"{model_id}.json", (json.dumps(card, indent=2) + "\n").encode())]


def window_entry(payload: dict, record: dict, rows: dict, run_name: str) -> dict:
    """One entry of the card's history: a training window and what it measured ({mask kind: row})."""
    iterations = int(payload["iteration"])
    batch = int(payload["config"].get("batch_size") or 0)
    world = int(payload.get("world_size") or 1)
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "run": run_name,
            "hardware": payload.get("hardware") or record.get("hardware"), "iterations": iterations,
            "samples": iterations * batch * world, "started_from": {k: (payload.get("warm_start") or {}).get(k)
                                                                    for k in ("id", "created")},
            "held_out": {kind: {m: row[m] for m in ("l1", "psnr", "ssim")} for kind, row in rows.items()}}


def promoted_card(current, payload: dict, record: dict, rows: dict, reports: dict, run_name: str) -> dict:
    """The bundled card with this window added: the corpus, licence and name stay; weights,
    iterations (cumulative), hardware, settings, metrics and history are the run's."""
    card = current.card.to_dict()
    training = card.setdefault("training", {})
    history = list(training.get("history") or [])
    if not history:  # the model as it was first shipped is the first window
        old = current.card
        run = old.training.extra.get("run") or {}
        history.append({"date": old.created, "hardware": old.training.hardware, "iterations": old.training.iterations,
                        "samples": run.get("samples"),
                        "held_out": {k: next(({m: r[m] for m in ("l1", "psnr", "ssim")} for r in v.get("rows", [])
                                              if r.get("method") == "this model"), None)
                                     for k, v in (old.metrics.held_out or {}).items()}})
    entry = window_entry(payload, record, rows, run_name)
    history.append(entry)
    warm = payload.get("warm_start") or {}
    before = warm.get("iterations") if warm else 0
    training.update(history=history, iterations=int(before or 0) + entry["iterations"], hardware=entry["hardware"],
                    config={k: payload["config"].get(k) for k in CARD_CONFIG_KEYS})
    training.pop("checkpoint", None)
    metrics = payload.get("metrics") or {}
    shipped_reports = [{**r, "rows": [row for row in r["rows"] if not row["method"].startswith("bundled ")]}
                       for r in reports.values()]
    card["metrics"] = {**card.get("metrics", {}), "val_l1": metrics.get("l1"), "val_psnr": metrics.get("psnr"),
                       "val_ssim": metrics.get("ssim"), "val_iteration": metrics.get("iteration"),
                       "held_out": held_out(shipped_reports)}
    windows = len(history) - 1
    first = (card.get("description") or "").split(" Continued in ")[0]
    card["description"] = (f"{first} Continued in {windows} training window{'s' * (windows != 1)} since: "
                           f"{training['iterations']:,} iterations in all (training.history).").strip()
    held = checkpoint_architecture(payload)
    card["architecture"] = {**card.get("architecture", {}), "name": held["name"], "cnum": int(held["cnum"]),
                            "input_size": int(payload["config"].get("size") or card["architecture"]["input_size"])}
    card["created"] = entry["date"]
    card["weights"] = {**card.get("weights", {}), "file": f"{current.id}.safetensors", "dtype": "float16"}
    return card


# -- replacing files atomically --------------------------------------------------------------------
def replace_files(directory: Path, files: list[tuple[str, bytes]], check=None) -> None:
    """Writes `files` (the card last) over those of `directory` so that a reader, or a process
    killed at any point, sees the old set or the new one (after `recover`), never a mix.
    check({name: temporary path}) may refuse the written files before anything is replaced."""
    directory = Path(directory)
    recover(directory)
    temps: dict[str, str] = {}
    try:
        for name, data in files:
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".new", dir=directory)
            temps[name] = tmp
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if check is not None:
            check(temps)
        journal = {"files": [], "card": files[-1][0]}
        for name, _ in files:
            final, backup = directory / name, directory / f".{name}.old"
            backup.unlink(missing_ok=True)
            if final.exists():
                _link_or_copy(final, backup)
            journal["files"].append({"name": name, "had_old": final.exists()})
        _write_atomic(directory / JOURNAL, json.dumps(journal).encode())
        sync_directory(directory)
        for name, _ in files:
            os.replace(temps[name], directory / name)
            del temps[name]
        sync_directory(directory)
    except BaseException:
        if (directory / JOURNAL).exists():
            _roll_back(directory, json.loads((directory / JOURNAL).read_text()))
        else:  # nothing was replaced yet: only the backups made so far go
            for name, _ in files:
                (directory / f".{name}.old").unlink(missing_ok=True)
        raise
    finally:
        for tmp in temps.values():
            Path(tmp).unlink(missing_ok=True)
    _finish(directory, journal)


def recover(directory: Path) -> str | None:
    """Completes or undoes a replacement that a killed process left half done; -> what it did."""
    directory = Path(directory)
    for stray in directory.glob(".*.new") if directory.is_dir() else ():
        stray.unlink(missing_ok=True)
    path = directory / JOURNAL
    if not path.is_file():
        return None
    journal = json.loads(path.read_text())
    card = next(f for f in journal["files"] if f["name"] == journal["card"])
    final, backup = directory / card["name"], directory / f".{card['name']}.old"
    # the card is renamed last (and its backup restored or removed last): it tells how far it got
    if card["had_old"]:
        committed = not backup.exists() or not filecmp.cmp(final, backup, shallow=False)
    else:
        committed = final.exists()
    if committed:
        _finish(directory, journal)
        return "an interrupted promotion had replaced the card already: finished it"
    _roll_back(directory, journal)
    return "an interrupted promotion was undone: the previous model is back"


def _roll_back(directory: Path, journal: dict) -> None:
    """The backups over the new files, in order (the card last); the journal goes only when all
    are back, so that a rollback that fails half way is retried by the next `recover`."""
    try:
        for entry in journal["files"]:
            final, backup = directory / entry["name"], directory / f".{entry['name']}.old"
            if backup.exists() and final.exists() and os.path.samefile(backup, final):
                backup.unlink()  # not replaced yet (rename would do nothing: one file, two names)
            elif backup.exists():
                os.replace(backup, final)
            elif not entry["had_old"]:
                final.unlink(missing_ok=True)
    except OSError:
        return
    (directory / JOURNAL).unlink(missing_ok=True)
    sync_directory(directory)


def _finish(directory: Path, journal: dict) -> None:
    for entry in journal["files"]:
        (directory / f".{entry['name']}.old").unlink(missing_ok=True)
    (directory / JOURNAL).unlink(missing_ok=True)


def _check_files(temps: dict[str, str], held: dict) -> None:
    """The written files load: generator and discriminator strictly, as the architecture's, and
    the card as JSON."""
    for name, tmp in temps.items():
        try:
            if name.endswith(DISCRIMINATOR_SUFFIX):
                load_discriminator(tmp, arch=held["name"])
            elif name.endswith(".safetensors"):
                make_generator(held["name"], cnum=int(held["cnum"])).load_state_dict(load_file(tmp))
            else:
                json.loads(Path(tmp).read_text())
        except (RegistryError, RuntimeError, ValueError, KeyError) as exc:
            raise ValueError(f"{name}: the new file does not load ({exc}); nothing was replaced") from None


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # no hard links here
        shutil.copyfile(src, dst)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# -- command line ----------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    """The options promote shares with window-return."""
    parser.add_argument("--data", required=True, help="held-out photos (the corpus val split; never trained on)")
    parser.add_argument("--dry-run", action="store_true", help="measure and decide, but replace nothing")
    parser.add_argument("--models", help="folder of bundled models (default: models/ of this checkout)")
    parser.add_argument("--id", default=BUNDLED_ID, help=f"the bundled model's id (default {BUNDLED_ID})")
    parser.add_argument("--size", type=int, help="crop side (default: the bundled model's training size)")
    parser.add_argument("--limit", type=int, help="at most this many photos")
    parser.add_argument("--seed", type=int, default=0, help="mask seed")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")


def register(subparsers) -> None:
    parser = subparsers.add_parser("promote", help="replace the bundled model with a run's newest checkpoint if it is better",
                                   description=f"Measure RUN's newest checkpoint and the bundled model on the same "
                                               f"held-out photos and masks; {RULE}.")
    parser.add_argument("run_dir", metavar="RUN")
    add_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args) -> int:
    promote(args.run_dir, args.data, args.models, args.id, args.dry_run, args.size, args.limit, args.seed,
            args.device)
    return 0
