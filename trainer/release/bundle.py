"""`python -m trainer bundle`: ship an exported generator in models/ as the app's default model.

Takes the fp16 weights (in one file or in the parts a GPU machine sends back) and the card that
`export` wrote, and completes the card with what a user needs to judge the model: the corpus it
was trained on (sources, versions, counts and licences, from the corpus manifest), the held-out
evaluation beside the classical methods (`evaluate --json` reports) and whether it beats them,
and the licence terms that follow from the training photos.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from inpaint_studio.contracts.card import read_card_text
from inpaint_studio.engine.registry import RegistryError, load_generator, read_model

LOWER_IS_BETTER = {"l1": True, "psnr": False, "ssim": False}
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


def held_out(reports: list[dict]) -> dict:
    """{masks: {"images", "size", "rows", "beats_classical": {metric: bool}}} from evaluate reports."""
    result = {}
    for report in reports:
        model = [r for r in report["rows"] if r["method"].startswith("model")]
        as_shipped = [r for r in model if r.get("colour_adaptation", True)]  # as the app pastes it
        classical = [r for r in report["rows"] if r not in model]
        if len(as_shipped) != 1 or not classical:
            raise ValueError(f"an evaluation of '{report.get('masks')}' masks needs one model row and the "
                             "classical rows (run `python -m trainer evaluate --model ID ... --json`)")
        ours = as_shipped[0]
        beats = {m: all((ours[m] < r[m]) if low else (ours[m] > r[m]) for r in classical)
                 for m, low in LOWER_IS_BETTER.items()}
        def shown(row):
            if row in classical:
                return row["method"]
            return "this model" if row is ours else "this model, no colour adaptation"

        result[report["masks"]] = {"images": report["images"], "size": report["size"], "data": report["data"],
                                   "rows": [{**r, "method": shown(r)} for r in report["rows"]],
                                   "beats_classical": beats}
    return result


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
           out: str | Path, model_id: str, name: str | None = None, default: bool = True) -> Path:
    """Writes out/<model_id>.safetensors and out/<model_id>.json; returns the card's path. The
    weights are checked by loading them into the network before anything is written."""
    out = Path(out)
    text = Path(card).read_text()
    if '"architecture"' not in text:
        raise ValueError(f"{card}: not a model card (write one with `python -m trainer export`)")
    shipped = read_card_text(text, str(card))   # a CardError is a ValueError
    blob = b"".join(Path(p).read_bytes() for p in weights)
    data = corpus_summary(corpus)
    reports = [json.loads(Path(p).read_text()) for p in evaluations]
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as staging:
        staged = Path(staging)
        (staged / f"{model_id}.safetensors").write_bytes(blob)
        shipped.training.extra.pop("checkpoint", None)  # a path on the machine that trained it
        shipped.training.data = data
        shipped.id, shipped.name, shipped.default = model_id, name or shipped.name or model_id, default
        shipped.description = (f"PEN-Net trained from scratch at {shipped.architecture.input_size} px on "
                               f"{data['photographs']} open photographs ({(data['train'] or {}).get('images')} "
                               f"for training, {(data['validation'] or {}).get('images')} held out).")
        shipped.metrics.held_out = held_out(reports)
        shipped.licence = licence_text(data)
        shipped.weights.file = f"{model_id}.safetensors"
        (staged / f"{model_id}.json").write_text(json.dumps(shipped.to_dict(), indent=2) + "\n")
        try:
            load_generator(read_model(staged / f"{model_id}.json"))
        except (RegistryError, RuntimeError, ValueError) as exc:
            raise ValueError(f"the weights do not make a working model: {exc}") from None
        for suffix in (".safetensors", ".json"):
            os.replace(staged / f"{model_id}{suffix}", out / f"{model_id}{suffix}")
    return out / f"{model_id}.json"


def register(subparsers) -> None:
    parser = subparsers.add_parser("bundle", help="ship an exported model in models/ as the default, with a full card")
    parser.add_argument("--weights", nargs="+", required=True,
                        help="the fp16 safetensors, or its parts in order (model.safetensors.part-00 ...)")
    parser.add_argument("--card", required=True, help="the card `export` wrote (model.json from the GPU machine)")
    parser.add_argument("--corpus", required=True, help="the corpus folder (manifest.jsonl, summary.json)")
    parser.add_argument("--eval", nargs="+", default=[], metavar="REPORT",
                        help="`evaluate --json` reports on the held-out photos (centre and free-form masks)")
    parser.add_argument("--id", default=BUNDLED_ID, help=f"model id and file name (default {BUNDLED_ID})")
    parser.add_argument("--name", help="name shown in the app (default: the card's)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "models"),
                        help="where bundled models live (default: models/ of this checkout)")
    parser.add_argument("--no-default", action="store_true", help="ship it without making it the default")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    path = bundle(args.weights, args.card, args.corpus, args.eval, args.out, args.id, args.name,
                  default=not args.no_default)
    card = json.loads(path.read_text())
    print(json.dumps({"card": str(path), "held_out": {k: v["beats_classical"]
                                                      for k, v in card["metrics"]["held_out"].items()}}))
    return 0
