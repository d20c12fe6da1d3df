"""`models` subcommand: list, import, default, rename, remove."""
from __future__ import annotations

import argparse

from .engine import CLASSICAL
from .engine.registry import ModelRegistry


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list and manage models (PEN-Net, DeepFill v1)")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    verbs.add_parser("list", help="bundled and user models").set_defaults(func=list_models)

    imp = verbs.add_parser("import", help="convert a released PEN-Net checkpoint (.pth) or a .safetensors file")
    imp.add_argument("checkpoint")
    imp.add_argument("--name", required=True, help="name of the new model")
    imp.add_argument("--attention", choices=["holes", "reference"], default=None,
                     help="attention mode to run it with (released checkpoints default to reference)")
    imp.set_defaults(func=import_model)

    default = verbs.add_parser("default", help="make a model the default")
    default.add_argument("model_id")
    default.set_defaults(func=lambda a: _done(ModelRegistry().set_default(a.model_id), f"default model: {a.model_id}"))

    rename = verbs.add_parser("rename", help="rename a user model")
    rename.add_argument("model_id")
    rename.add_argument("name")
    rename.set_defaults(func=lambda a: _done(ModelRegistry().rename(a.model_id, a.name), f"renamed {a.model_id}"))

    remove = verbs.add_parser("remove", help="delete a user model")
    remove.add_argument("model_id")
    remove.set_defaults(func=lambda a: _done(ModelRegistry().delete(a.model_id), f"removed {a.model_id}"))


def list_models(args: argparse.Namespace) -> int:
    registry = ModelRegistry()
    models = registry.models()
    if not models:
        print(f"No model installed: Auto, the default engine, fills each region with the best of "
              f"{', '.join(CLASSICAL)}.")
        print(f"User models live in {registry.user_dir}")
        return 0
    default = registry.default_id()
    rows = [("", "ID", "NAME", "ARCHITECTURE", "WHERE", "ATTENTION", "SIZE", "VAL PSNR")]
    for m in models:
        psnr = m.card.metrics.val_psnr
        rows.append(("*" if m.id == default else "", m.id, m.name, m.architecture.label, "bundled" if m.bundled else "user",
                     f"{m.architecture.attention}/{m.architecture.affinity}",
                     f"{m.size_bytes / 2**20:.1f} MB", f"{psnr:.2f} dB" if psnr is not None else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"\n* default: the model Auto (the default engine) uses where it fills best    user models: {registry.user_dir}")
    return 0


def import_model(args: argparse.Namespace) -> int:
    info = ModelRegistry().import_checkpoint(args.checkpoint, args.name, attention=args.attention)
    print(f"imported {args.checkpoint} as '{info.name}' (id {info.id}) -> {info.weights_path}")
    return 0


def _done(_, message: str) -> int:
    print(message)
    return 0
