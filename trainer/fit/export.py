"""`python -m trainer export RUN_DIR --name NAME`: a run's generator into the model registry
(fp16 safetensors + model card in the user model directory)."""
from __future__ import annotations

from pathlib import Path

from inpaint_studio import __version__
from inpaint_studio.contracts.card import Architecture, Metrics, ModelCard, Training
from inpaint_studio.contracts.runs import CHECKPOINTS_DIR

from .checkpoint import checkpoint_architecture, latest_checkpoint, load_checkpoint

# the config entries that describe how the weights were made (the rest is bookkeeping)
CARD_CONFIG_KEYS = ("size", "batch_size", "lr", "d_lr", "betas", "masks", "weights", "seed", "precision",
                    "val_fraction", "small", "attention", "schedule", "warmup", "trainable", "crop_scale", "max_minutes")


def export_run(run_dir: str | Path, name: str, checkpoint: str | Path | None = None):
    """Export the newest checkpoint of `run_dir` (or `checkpoint`) as model `name`; returns the
    registry's ModelInfo."""
    from inpaint_studio.engine.registry import save_generator

    name = (name or "").strip()
    if not name:
        raise ValueError("--name cannot be empty: it is the name shown in the app's model list")
    run_dir = Path(run_dir)
    if checkpoint is not None:
        path, payload = Path(checkpoint), load_checkpoint(Path(checkpoint))
    else:
        if not run_dir.is_dir():
            raise ValueError(f"{run_dir}: no such run folder")
        found = latest_checkpoint(run_dir / CHECKPOINTS_DIR)
        if found is None:
            raise ValueError(f"{run_dir}: no checkpoint to export yet (run `python -m trainer fit` first)")
        path, payload = found
    return save_generator(payload["generator"], name, model_card(payload, name, path))


def model_card(payload: dict, name: str, checkpoint: Path) -> ModelCard:
    """The card of a checkpoint's generator. The checkpoint is the trainer's own record (its config
    holds the resolved settings: the batch size and precision actually used)."""
    cfg = payload["config"]
    data = payload.get("data") or {}
    base = payload.get("base") or {}
    metrics = payload.get("metrics") or {}
    held = checkpoint_architecture(payload)
    architecture = Architecture(name=held["name"], cnum=int(held["cnum"]), input_size=cfg["size"],
                                attention=cfg["attention"], affinity=cfg["affinity"])
    origin = f"fine-tuned from '{base.get('name')}'" if base else "trained from scratch"
    return ModelCard(
        name=name,
        description=f"{architecture.label} {origin} on {data.get('images', '?')} images from {data.get('path', '?')}.",
        architecture=architecture,
        training=Training(
            data={"path": data.get("path"), "images": data.get("images"), "megapixels": data.get("megapixels"),
                  "train_images": data.get("train_images"), "validation": data.get("validation")},
            iterations=int(payload["iteration"]),
            hardware=payload.get("hardware"),
            base=base.get("id"),
            config={k: cfg.get(k) for k in CARD_CONFIG_KEYS},
            extra={"checkpoint": str(Path(checkpoint).resolve()), "trainer": f"inpaint-studio trainer {__version__}"}),
        # the composite against the truth over whole validation images with fixed masks, [0, 1] range
        metrics=Metrics(val_l1=metrics.get("l1"), val_psnr=metrics.get("psnr"), val_ssim=metrics.get("ssim"),
                        val_iteration=metrics.get("iteration")),
        licence=base.get("licence") or "weights trained locally; their use follows the licence of the training images")
