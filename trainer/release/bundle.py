"""`python -m trainer bundle`: ship an exported generator in models/ as the app's default model.

Takes the fp16 weights (in one file or in the parts a GPU machine sends back) and the card that
`export` wrote, and completes the card with what a user needs to judge the model: the corpus it
was trained on (sources, versions, counts and licences, from the corpus manifest), how it was
trained (from the run's events: samples seen, time, hardware), the held-out evaluation beside the
classical methods and Auto (`evaluate --json` reports), whether it beats them and plainly where it
is behind, Auto's rule with its measurement (`auto-rule --json`), and the licence terms that
follow from the training photos. With --discriminator, the run's PatchGAN discriminator ships
beside it (`<id>.discriminator.safetensors`, fp16) so that training can continue from the model.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import torch
from safetensors.torch import save_file

from inpaint_studio.contracts.card import read_card_text
from inpaint_studio.engine.registry import (DISCRIMINATOR_SUFFIX, RegistryError, load_discriminator,
                                            load_generator, read_model)

from ..evaluate import AUTO_LABEL, LABELS, half_of

LOWER_IS_BETTER = {"l1": True, "psnr": False, "ssim": False}
MASK_NAMES = {"center": "centre squares", "free": "free-form strokes"}
BUNDLED_ID = "pennet-open-photos"  # the bundled default model's id and file names


def corpus_summary(corpus: str | Path) -> dict:
    """Counts and licences of the photographs kept, per source, from manifest.jsonl."""
    corpus = Path(corpus)
    manifest = corpus / "manifest.jsonl"
    if not manifest.is_file():
        raise ValueError(f"{corpus}: no manifest.jsonl (build the corpus with `python -m trainer corpus build`)")
    sources: dict[str, dict] = defaultdict(lambda: {"train": 0, "val": 0, "licences": Counter()})
    for line in manifest.read_text().splitlines():
        entry = json.loads(line)
        if not entry.get("kept"):
            continue
        source = sources[entry["source"]]
        source["version"] = entry.get("version")
        source[entry.get("split") or "train"] += 1
        source["licences"][entry.get("licence") or "unknown"] += 1
    summary = json.loads((corpus / "summary.json").read_text()) if (corpus / "summary.json").is_file() else {}
    return {
        "recipe": "python -m trainer corpus build DIR (Debian packages and the scikit-image / scikit-learn "
                  "wheels; every file's origin and licence in DIR/manifest.jsonl)",
        "files_seen": summary.get("files_seen"),
        "photographs": sum(s["train"] + s["val"] for s in sources.values()),
        "train": summary.get("train"),
        "validation": summary.get("val"),
        "sources": {name: {"version": s["version"], "train": s["train"], "val": s["val"],
                           "licences": dict(s["licences"].most_common())}
                    for name, s in sorted(sources.items())},
    }


def held_out(reports: list[dict], samples: list[str] = ()) -> dict:
    """{masks: {"images", "size", "rows", "beats_classical": {metric: bool}, "auto": {...},
    "report_half": {...}, "per_image": {...}}} from evaluate reports. Rows lose their per-image
    figures, except those of the `samples` (photos committed with the tests, which re-measure them)."""
    result = {}
    for report in reports:
        model = [r for r in report["rows"] if r["method"].startswith("model")]
        as_shipped = [r for r in model if r.get("colour_adaptation", True)]  # as the app pastes it
        classical = [r for r in report["rows"] if r["method"] in LABELS.values()]
        auto = [r for r in report["rows"] if r["method"] == AUTO_LABEL]
        if len(as_shipped) != 1 or not classical:
            raise ValueError(f"an evaluation of '{report.get('masks')}' masks needs one model row and the "
                             "classical rows (run `python -m trainer evaluate --model ID ... --json`)")
        ours = as_shipped[0]
        beats = {m: all(_better(ours, r, m) for r in classical) for m in LOWER_IS_BETTER}

        def shown(row):
            if row is ours:
                return "this model"
            return "this model, no colour adaptation" if row in model else row["method"]

        entry = {"images": report["images"], "size": report["size"], "data": report["data"],
                 "seed": report.get("seed"), "model_precision": report.get("model_precision"),
                 "device": report.get("device"),
                 "rows": [{**{k: v for k, v in r.items() if k != "per_image"}, "method": shown(r)}
                          for r in report["rows"]],
                 "beats_classical": beats}
        if auto:
            singles = [ours] + classical
            entry["auto"] = {m: {"at_least_best_single": all(not _better(r, auto[0], m) for r in singles),
                                 "best_single": shown(_best(singles, m)), "best_single_value": _best(singles, m)[m],
                                 "auto": auto[0][m]} for m in LOWER_IS_BETTER}
        per_image = {r["method"]: r.get("per_image") or {} for r in report["rows"]}
        names = sorted({n for figures in per_image.values() for n in figures})
        report_half = [n for n in names if half_of(n) == "report"]
        if report_half:  # Auto's rule never saw these photos
            entry["report_half"] = {
                "images": len(report_half),
                "rows": [{"method": shown(r), **{m: _mean(per_image[r["method"]], report_half, m) for m in LOWER_IS_BETTER}}
                         for r in report["rows"]]}
        missing = [n for n in samples if n not in names]
        if missing:
            raise ValueError(f"the '{report.get('masks')}' evaluation has no figures for {', '.join(missing)}")
        if samples:
            entry["per_image"] = {n: {shown(r): per_image[r["method"]][n] for r in report["rows"]} for n in samples}
        result[report["masks"]] = entry
    return result


def _better(a: dict, b: dict, metric: str) -> bool:
    return a[metric] < b[metric] if LOWER_IS_BETTER[metric] else a[metric] > b[metric]


def _best(rows: list[dict], metric: str) -> dict:
    return min(rows, key=lambda r: r[metric] if LOWER_IS_BETTER[metric] else -r[metric])


def _mean(figures: dict, names: list[str], metric: str) -> float:
    return sum(figures[n][metric] for n in names) / len(names)


def behind(held: dict) -> list[str]:
    """Plain sentences: where the model (as the app pastes it) is behind a classical engine, and
    where Auto is behind the best single engine."""
    lines = []
    for masks, entry in held.items():
        rows = {r["method"]: r for r in entry["rows"]}
        ours = rows["this model"]
        for metric, low in LOWER_IS_BETTER.items():
            better = [r for name, r in rows.items() if name in LABELS.values() and _better(r, ours, metric)]
            if better:
                shown = ", ".join(f"{r['method']} {r[metric]:.4g}" for r in better)
                lines.append(f"{MASK_NAMES.get(masks, masks)}: {metric.upper()} {ours[metric]:.4g} is behind {shown}")
        for metric, auto in (entry.get("auto") or {}).items():
            if not auto["at_least_best_single"]:
                lines.append(f"{MASK_NAMES.get(masks, masks)}: Auto's {metric.upper()} {auto['auto']:.4g} is behind "
                             f"the best single engine, {auto['best_single']} {auto['best_single_value']:.4g}")
    return lines


def training_run(events: str | Path) -> dict:
    """What the run's events say about the training itself: samples seen, time, hardware."""
    start = done = None
    for line in Path(events).read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "start":
            start = event
        elif event.get("event") == "done":
            done = event
    if start is None or done is None:
        raise ValueError(f"{events}: needs the run's 'start' and 'done' events")
    iterations = int(done["iteration"])
    batch, world = int(start["batch_size"]), int(start.get("world_size") or 1)
    return {"iterations": iterations, "batch_size": batch, "processes": world,
            "samples": iterations * batch * world, "seconds": round(float(done["elapsed_s"]), 1),
            "hardware": start.get("hardware"), "precision": start.get("precision"),
            "ended": done.get("status"), "total_planned": done.get("total")}


def auto_section(path: str | Path) -> dict:
    """Auto's rule and its measurement (`auto-rule --json`); it must be the rule the engine runs."""
    from inpaint_studio.engine.auto import RULE, describe_rule

    data = json.loads(Path(path).read_text())
    if data.get("rule") != RULE:
        raise ValueError(f"{path}: this rule is not the one in inpaint_studio/engine/auto.py (RULE); "
                         "paste the measured rule there first")
    return {"rule": data["rule"], "rule_text": describe_rule(data["rule"]),
            **{k: data[k] for k in ("data", "half", "sizes", "seed", "photos", "regions", "engines", "fit", "masks",
                                    "summary")}}


def write_discriminator(checkpoint: str | Path, path: Path) -> dict:
    """The checkpoint's discriminator -> fp16 safetensors at `path` (bf16 where fp16 would
    overflow), checked by loading it strictly; -> its card entry."""
    from ..fit.checkpoint import load_checkpoint

    state = load_checkpoint(Path(checkpoint)).get("discriminator")
    if not state:
        raise ValueError(f"{checkpoint}: holds no discriminator")
    dtype = torch.float16
    if any(v.is_floating_point() and v.abs().max() > torch.finfo(torch.float16).max for v in state.values()):
        dtype = torch.bfloat16
    save_file({k: v.detach().to(dtype).contiguous() for k, v in state.items()}, str(path),
              metadata={"format": "inpaint-studio-discriminator/1"})
    try:
        discriminator = load_discriminator(path)
    except RegistryError as exc:
        raise ValueError(f"the discriminator does not load: {exc}") from None
    return {"file": path.name, "dtype": str(dtype).replace("torch.", ""),
            "parameters": sum(p.numel() for p in discriminator.parameters()),
            "use": "the PatchGAN discriminator trained with these weights, for continuing training from this "
                   "model (inpaint_studio.engine.registry.load_discriminator loads it strictly)"}


def licence_text(data: dict) -> str:
    licences = Counter()
    for source in data["sources"].values():
        for text, count in source["licences"].items():
            name = re.sub(r"\s*\(per [^)]*\)$", "", text)  # where it was read is in the sources list
            licences[name if len(name) <= 100 else name[:99] + "…"] += count
    listed = "; ".join(f"{name} ({count} photo{'s' * (count != 1)})" for name, count in licences.most_common())
    return ("Weights trained from scratch by Inpaint Studio on openly licensed photographs. They are derived "
            f"from images under these terms: {listed}. Redistribute them only under terms compatible with "
            "every one of these (several are copyleft or share-alike); each file's licence and origin is in "
            "the corpus manifest.")


def bundle(weights: list[str | Path], card: str | Path, corpus: str | Path, evaluations: list[str | Path],
           out: str | Path, model_id: str, name: str | None = None, default: bool = True,
           events: str | Path | None = None, discriminator: str | Path | None = None,
           auto_rule: str | Path | None = None, samples: str | Path | None = None, keep_data: bool = False) -> Path:
    """Writes out/<model_id>.safetensors and out/<model_id>.json (and, from a checkpoint's
    discriminator, out/<model_id>.discriminator.safetensors); returns the card's path. The
    weights are checked by loading them into the network before anything is written. `samples`:
    a folder of held-out photos committed with the tests, each byte-identical to a corpus photo;
    the card keeps their per-image figures. `keep_data`: re-bundling a bundled model (new
    evaluations, a new Auto rule): the corpus section of `card` stays, since the corpus folder at
    hand (which still checks `samples`) may be a later build than the one the model learnt from."""
    out = Path(out)
    text = Path(card).read_text()
    if '"architecture"' not in text:
        raise ValueError(f"{card}: not a model card (write one with `python -m trainer export`)")
    shipped = read_card_text(text, str(card))   # a CardError is a ValueError
    blob = b"".join(Path(p).read_bytes() for p in weights)
    if keep_data:
        data = (shipped.to_dict().get("training") or {}).get("data")
        if not data:
            raise ValueError(f"{card}: --keep-data needs a card that records its corpus (a bundled model's card)")
    else:
        data = corpus_summary(corpus)
    sample_names = check_samples(samples, corpus) if samples else []
    reports = [json.loads(Path(p).read_text()) for p in evaluations]
    held = held_out(reports, sample_names)
    run = training_run(events) if events else None
    auto = auto_section(auto_rule) if auto_rule else None
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as staging:
        staged = Path(staging)
        (staged / f"{model_id}.safetensors").write_bytes(blob)
        card_data = shipped.to_dict()
        training = dict(card_data.get("training") or {})
        training.pop("checkpoint", None)  # a path on the machine that trained it
        training["data"] = data
        if run:
            training["run"] = run
        new_card = {**card_data, "id": model_id, "name": name or card_data.get("name") or model_id,
                    "default": default,
                    "description": description(card_data, data, run),
                    "training": training,
                    "metrics": {**(card_data.get("metrics") or {}), "held_out": held},
                    "behind": behind(held),
                    "licence": licence_text(data),
                    "weights": {**card_data.get("weights", {}), "file": f"{model_id}.safetensors"}}
        if auto:
            new_card["auto"] = auto
        if sample_names:
            new_card["metrics"]["samples"] = {"photos": sample_names, "folder": Path(samples).name}
        files = [f"{model_id}.safetensors"]
        if discriminator:
            new_card["discriminator"] = write_discriminator(discriminator, staged / f"{model_id}{DISCRIMINATOR_SUFFIX}")
            files.append(f"{model_id}{DISCRIMINATOR_SUFFIX}")
        text = json.dumps(new_card, indent=2) + "\n"
        read_card_text(text, f"the card of {model_id}")  # the contract holds for what ships
        (staged / f"{model_id}.json").write_text(text)
        try:
            load_generator(read_model(staged / f"{model_id}.json"))
        except (RegistryError, RuntimeError, ValueError) as exc:
            raise ValueError(f"the weights do not make a working model: {exc}") from None
        for file in files + [f"{model_id}.json"]:  # the card last: a model without one is unfinished
            os.chmod(staged / file, 0o644)  # files made in a temporary folder are private to their owner
            os.replace(staged / file, out / file)
    return out / f"{model_id}.json"


def description(card: dict, data: dict, run: dict | None) -> str:
    text = (f"PEN-Net trained from scratch at {card['architecture'].get('input_size')} px on "
            f"{data['photographs']} open photographs ({(data['train'] or {}).get('images')} for training, "
            f"{(data['validation'] or {}).get('images')} held out)")
    if run:
        text += (f": {run['iterations']:,} iterations, {run['samples']:,} samples, "
                 f"{run['seconds'] / 60:.0f} minutes on {run['hardware']}")
    return text + "."


def check_samples(folder: str | Path, corpus: str | Path) -> list[str]:
    """The names of the photos in `folder`, each checked to be a held-out corpus photo, byte for byte."""
    import hashlib

    by_name = {}
    for line in (Path(corpus) / "manifest.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry.get("kept") and entry.get("split") == "val" and entry.get("file"):
            by_name[Path(entry["file"]).name] = Path(corpus) / entry["file"]
    names = sorted(p.name for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for n in names:
        original = by_name.get(n)
        if original is None or hashlib.sha256((Path(folder) / n).read_bytes()).digest() != \
                hashlib.sha256(original.read_bytes()).digest():
            raise ValueError(f"{Path(folder) / n}: not a copy of a held-out photo of {corpus}")
    if not names:
        raise ValueError(f"{folder}: no photos")
    return names


def register(subparsers) -> None:
    parser = subparsers.add_parser("bundle", help="ship an exported model in models/ as the default, with a full card")
    parser.add_argument("--weights", nargs="+", required=True,
                        help="the fp16 safetensors, or its parts in order (model.safetensors.part-00 ...)")
    parser.add_argument("--card", required=True, help="the card `export` wrote (model.json from the GPU machine)")
    parser.add_argument("--corpus", required=True, help="the corpus folder (manifest.jsonl, summary.json)")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep the corpus section of --card (re-bundling a bundled model whose corpus build "
                             "is gone; --corpus then only checks --samples)")
    parser.add_argument("--eval", nargs="+", default=[], metavar="REPORT",
                        help="`evaluate --json` reports on the held-out photos (centre and free-form masks)")
    parser.add_argument("--events", metavar="FILE", help="the run's events.jsonl: samples seen, time, hardware")
    parser.add_argument("--discriminator", metavar="CHECKPOINT",
                        help="a trainer checkpoint whose discriminator ships beside the model (fp16)")
    parser.add_argument("--auto-rule", metavar="FILE", help="`auto-rule --json` output: Auto's rule and its measurement")
    parser.add_argument("--samples", metavar="DIR",
                        help="held-out photos committed with the tests: the card keeps their per-image figures")
    parser.add_argument("--id", default=BUNDLED_ID, help=f"model id and file name (default {BUNDLED_ID})")
    parser.add_argument("--name", help="name shown in the app (default: the card's)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "models"),
                        help="where bundled models live (default: models/ of this checkout)")
    parser.add_argument("--no-default", action="store_true", help="ship it without making it the default")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    path = bundle(args.weights, args.card, args.corpus, args.eval, args.out, args.id, args.name,
                  default=not args.no_default, events=args.events, discriminator=args.discriminator,
                  auto_rule=args.auto_rule, samples=args.samples, keep_data=args.keep_data)
    card = json.loads(path.read_text())
    held = card["metrics"]["held_out"]
    printed = {"card": str(path), "held_out": {k: v["beats_classical"] for k, v in held.items()}}
    auto = {k: {m: v["at_least_best_single"] for m, v in e["auto"].items()} for k, e in held.items() if "auto" in e}
    if auto:
        printed["auto_at_least_best_single"] = auto
    print(json.dumps(printed))
    return 0
