"""Model registry: bundled models (models/ beside the package) and user models (user data dir).

A model is two files with the same stem, its id: `<id>.safetensors` (the generator's state dict)
and `<id>.json` (its card, contracts.card.ModelCard: architecture (PEN-Net or DeepFill v1, built
by network.make_generator) and attention options, training data, metrics, licence).
The card is written last, so a model without a card is an unfinished write: it is never listed,
and the leftovers of a write that was killed (temporaries, card-less weights this program wrote)
are removed from the user folder when it is next listed.
Weights are never unpickled: safetensors only; a released PEN-Net checkpoint (.pth) is read with
torch.load(weights_only=True) once, to convert it.
"""
from __future__ import annotations

import copy
import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..atomic import sweep, temp_path
from ..contracts.card import (CARD_FORMAT, DEFAULT_ARCHITECTURE, Architecture, CardError, ModelCard, Training,
                              far_behind, read_card_text)
from ..network import AFFINITIES, ATTENTION_MODES, GENERATORS, make_generator
from ..paths import BUNDLED_MODELS_DIR, user_data_root, user_models_dir

# weights without a card this old are the leftovers of a killed write (the card follows the
# weights within milliseconds)
ORPHAN_SECONDS = 60


class RegistryError(ValueError):
    """A model that cannot be found, read or used; the message names the file and the problem."""


@dataclass
class ModelInfo:
    id: str
    name: str
    card: ModelCard
    weights_path: Path
    card_path: Path
    bundled: bool
    size_bytes: int = field(default=0)

    @property
    def architecture(self) -> Architecture:
        return self.card.architecture


class ModelRegistry:
    def __init__(self, bundled_dir: Path | None = None, user_dir: Path | None = None):
        self.bundled_dir = Path(bundled_dir) if bundled_dir else BUNDLED_MODELS_DIR
        self.user_dir = Path(user_dir) if user_dir else user_models_dir()
        self._prefs_path = self.user_dir.parent / "registry.json" if user_dir else user_data_root() / "registry.json"

    # -- listing --------------------------------------------------------------------------------
    def models(self) -> list[ModelInfo]:
        remove_unfinished(self.user_dir)
        found = _scan(self.bundled_dir, bundled=True)
        taken = {m.id for m in found}
        found += [m for m in _scan(self.user_dir, bundled=False) if m.id not in taken]
        return found

    def get(self, model_id: str) -> ModelInfo:
        for info in self.models():
            if info.id == model_id:
                return info
        known = ", ".join(m.id for m in self.models()) or "none installed"
        raise RegistryError(f"Unknown model '{model_id}' (available: {known}).")

    def default_id(self) -> str | None:
        models = self.models()
        ids = {m.id for m in models}
        chosen = self._prefs().get("default")
        if chosen in ids:
            return chosen
        for info in models:
            if info.bundled and info.card.default:
                return info.id
        return models[0].id if models else None

    def far_behind(self, model_id: str) -> list[str]:
        """Why the model's own figures put it far behind (contracts.card.far_behind), compared with
        the bundled default model, which is the reference and is never behind itself."""
        info = self.get(model_id)
        bundled = [m for m in self.models() if m.bundled]
        reference = next((m for m in bundled if m.card.default), bundled[0] if bundled else None)
        if reference is None or reference.id == model_id:
            return far_behind(info.card) if reference is None else []
        return far_behind(info.card, reference.card)

    # -- changes ----------------------------------------------------------------------------------
    def set_default(self, model_id: str) -> None:
        self.get(model_id)
        self._save_prefs({**self._prefs(), "default": model_id})

    def rename(self, model_id: str, new_name: str) -> ModelInfo:
        info = self._user_model(model_id, "rename")
        info.card.name = _checked_name(new_name)
        _write_json_atomic(info.card_path, info.card.to_dict())
        return self.get(model_id)

    def delete(self, model_id: str) -> None:
        info = self._user_model(model_id, "delete")
        info.card_path.unlink(missing_ok=True)  # card first: a half-deleted model is invisible
        info.weights_path.unlink(missing_ok=True)
        if self._prefs().get("default") == model_id:
            prefs = self._prefs()
            prefs.pop("default", None)
            self._save_prefs(prefs)

    def import_checkpoint(self, path: str | Path, name: str, attention: str | None = None) -> ModelInfo:
        """A released PEN-Net checkpoint (dict with `netG`, or a bare state dict) or a safetensors
        file -> a user model. Released weights use the release's affinity."""
        path = Path(path)
        if not path.is_file():
            raise RegistryError(f"{path}: no such file.")
        name = _checked_name(name)
        card = ModelCard(architecture=Architecture(affinity="release", attention=attention or "reference"),
                         training=Training(imported_from=path.name),
                         licence="as published with the imported checkpoint")
        if path.suffix.lower() == ".safetensors":
            state = _read_safetensors(path)
            sibling = path.with_suffix(".json")
            if sibling.is_file():
                card = _read_card(sibling)
                card.training = Training(imported_from=path.name)
                if attention:
                    card.architecture.attention = attention
                # the card is checked where it lies, so an error names it, not the model to be written
                _check_architecture(card.architecture, sibling)
        else:
            state = _read_release_checkpoint(path)
        return save_generator(state, name, card, directory=self.user_dir)

    # -- helpers ----------------------------------------------------------------------------------
    def _user_model(self, model_id: str, verb: str) -> ModelInfo:
        info = self.get(model_id)
        if info.bundled:
            raise RegistryError(f"'{info.name}' is a bundled model and cannot be {verb}d; bundled models are read-only.")
        return info

    def _prefs(self) -> dict:
        try:
            return json.loads(self._prefs_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _save_prefs(self, prefs: dict) -> None:
        _write_json_atomic(self._prefs_path, prefs)


# -- saving and loading -------------------------------------------------------------------------
def save_generator(generator_or_state, name: str, card: ModelCard | dict | None = None,
                   directory: Path | None = None, dtype: torch.dtype = torch.float16) -> ModelInfo:
    """Write a generator as `<id>.safetensors` (fp16 by default) + `<id>.json` into the user
    model directory (or `directory`) and return its ModelInfo. `card` says what is known of the
    model (a ModelCard, or its JSON form); its id, name, format, creation time and weights file
    are set here."""
    name = _checked_name(name)
    state = generator_or_state.state_dict() if isinstance(generator_or_state, torch.nn.Module) else generator_or_state
    try:
        full_card = copy.deepcopy(card) if isinstance(card, ModelCard) else \
            ModelCard.from_dict(card or {}, f"the card for '{name}'")
    except CardError as exc:
        raise RegistryError(str(exc)) from None
    _check_architecture(full_card.architecture, f"the card for '{name}'")
    state = _validated(state, f"the weights for '{name}'", full_card.architecture)
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in state.items()}
    directory = Path(directory) if directory else user_models_dir()
    directory.mkdir(parents=True, exist_ok=True)
    model_id = _unique_id(directory, name)
    weights_path = directory / f"{model_id}.safetensors"
    full_card.format, full_card.id, full_card.name = CARD_FORMAT, model_id, name
    full_card.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    full_card.weights.file, full_card.weights.dtype = weights_path.name, str(dtype).replace("torch.", "")
    remove_unfinished(directory)
    tmp = temp_path(weights_path)
    try:
        save_file(tensors, str(tmp), metadata={"format": CARD_FORMAT, "name": name})
        os.replace(tmp, weights_path)
    finally:
        tmp.unlink(missing_ok=True)
    _write_json_atomic(directory / f"{model_id}.json", full_card.to_dict())
    return _info(directory / f"{model_id}.json", bundled=False)


def read_model(card_path: str | Path) -> ModelInfo:
    """The model whose card is `card_path`, wherever it lies (e.g. a temporary model in a session
    folder, outside the registry's list): the same checks as a listed model."""
    card_path = Path(card_path)
    info = _info(card_path, bundled=False)
    if not info.card.is_current():
        raise RegistryError(f"{card_path}: not an Inpaint Studio model card.")
    if not info.weights_path.is_file():
        raise RegistryError(f"{info.weights_path}: the weights file is missing.")
    return info


def load_generator(info: ModelInfo, device: str | torch.device = "cpu",
                   dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """A ready generator (eval mode, no gradients) of the card's architecture, configured from it."""
    arch = info.architecture
    _check_architecture(arch, info.card_path)
    state = _validated(_read_safetensors(info.weights_path), str(info.weights_path), arch)
    generator = make_generator(arch.name, attention=arch.attention, affinity=arch.affinity, cnum=arch.cnum)
    generator.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=True)
    generator.eval().requires_grad_(False)
    # channels-last weights make the convolutions ~1.3x faster on CPU (and suit tensor cores)
    return generator.to(device, memory_format=torch.channels_last)


DISCRIMINATOR_SUFFIX = ".discriminator.safetensors"


def discriminator_path(info: ModelInfo) -> Path | None:
    """The PatchGAN discriminator trained with a model, `<id>.discriminator.safetensors` beside
    its weights (bundled models ship one, so that training can continue from them); None if absent."""
    path = info.weights_path.with_name(f"{info.id}{DISCRIMINATOR_SUFFIX}")
    return path if path.is_file() else None


def load_discriminator(path: str | Path, dtype: torch.dtype = torch.float32, arch: str = DEFAULT_ARCHITECTURE):
    """The discriminator a generator of `arch` is trained against, with the weights of `path`,
    loaded strictly (every name and shape must match), in training mode: it exists to continue
    training."""
    from ..network import make_discriminator

    path = Path(path)
    state = _read_safetensors(path)
    discriminator = make_discriminator(arch)
    try:
        discriminator.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=True)
    except RuntimeError as exc:
        raise RegistryError(f"{path}: not PatchGAN discriminator weights ({str(exc).splitlines()[0]}).") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise RegistryError(f"{path}: weights contain NaN or infinite values (e.g. {bad[0]}).")
    return discriminator


def expected_keys(arch: Architecture | None = None) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of the architecture's generator (default: PEN-Net's release)."""
    arch = arch or Architecture()
    key = (arch.name, arch.cnum)
    if key not in _EXPECTED:
        _EXPECTED[key] = {k: tuple(v.shape) for k, v in make_generator(arch.name, cnum=arch.cnum).state_dict().items()}
    return _EXPECTED[key]


_EXPECTED: dict[tuple[str, int], dict[str, tuple[int, ...]]] = {}


def _validated(state: dict, what: str, arch: Architecture | None = None) -> dict:
    """Strip DataParallel prefixes and check names and shapes against the architecture's layout
    (default: PEN-Net's release, e.g. an imported checkpoint)."""
    arch = arch or Architecture()
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RegistryError(f"{what}: not a state dict of tensors.")
    expected = expected_keys(arch)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        raise RegistryError(f"{what}: not {arch.label} generator weights: {'; '.join(parts)} parameters.")
    wrong = [f"{k} is {tuple(v.shape)}, expected {expected[k]}" for k, v in state.items() if tuple(v.shape) != expected[k]]
    if wrong:
        raise RegistryError(f"{what}: parameter shapes do not match {arch.label} with {arch.cnum} base channels: "
                            f"{'; '.join(wrong[:3])}.")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise RegistryError(f"{what}: weights contain NaN or infinite values (e.g. {bad[0]}).")
    return state


def _check_architecture(arch: Architecture, where) -> None:
    if arch.name not in GENERATORS:
        raise RegistryError(f"{where}: unsupported architecture {arch.name!r} "
                            f"(this version runs {', '.join(repr(k) for k in GENERATORS)}).")
    if arch.attention not in ATTENTION_MODES:
        raise RegistryError(f"{where}: attention must be one of {ATTENTION_MODES}, not {arch.attention!r}.")
    if arch.affinity not in AFFINITIES:
        raise RegistryError(f"{where}: affinity must be one of {AFFINITIES}, not {arch.affinity!r}.")


def _read_safetensors(path: Path) -> dict:
    try:
        return load_file(str(path), device="cpu")
    except FileNotFoundError:
        raise RegistryError(f"{path}: the weights file is missing.") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise RegistryError(f"{path}: not a readable safetensors file ({exc}).") from None


def _read_release_checkpoint(path: Path) -> dict:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for corrupt or unsafe files
        text = str(exc).strip()
        if "Weights only load failed" in text:
            reason = "corrupt, or it holds objects other than tensors, which are never unpickled"
        else:
            reason = _short(text.splitlines()[0]) if text else type(exc).__name__
        raise RegistryError(f"{path}: not a readable PyTorch checkpoint ({reason}).") from None
    if isinstance(data, dict) and "netG" in data:
        data = data["netG"]
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: expected a dict with 'netG' (a PEN-Net generator checkpoint), found {type(data).__name__}.")
    return _validated(data, str(path))


def _read_card(path: Path) -> ModelCard:
    try:
        return read_card_text(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise RegistryError(f"{path}: unreadable model card ({exc}).") from None
    except CardError as exc:
        raise RegistryError(f"{exc}.") from None


def _info(card_path: Path, bundled: bool) -> ModelInfo:
    card = _read_card(card_path)
    weights = card_path.with_name(card.weights.file or f"{card_path.stem}.safetensors")
    size = weights.stat().st_size if weights.is_file() else 0
    return ModelInfo(id=card_path.stem, name=card.name or card_path.stem, card=card,
                     weights_path=weights, card_path=card_path, bundled=bundled, size_bytes=size)


def _scan(directory: Path, bundled: bool) -> list[ModelInfo]:
    if not directory.is_dir():
        return []
    found = []
    for card_path in sorted(directory.glob("*.json")):
        try:
            info = _info(card_path, bundled)
        except RegistryError:
            continue  # a broken card hides only that model
        if info.card.is_current() and info.weights_path.is_file():
            found.append(info)
    return sorted(found, key=lambda m: (m.name.lower(), m.id))


def _unique_id(directory: Path, name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"
    candidate, n = base, 2
    while (directory / f"{candidate}.json").exists() or (directory / f"{candidate}.safetensors").exists():
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _short(text: str, limit: int = 200) -> str:
    """Whole sentences up to about `limit` characters (never cut inside one), object reprs out."""
    text = re.sub(r"<[^<>]* object at 0x[0-9a-fA-F]+>", "the data", " ".join(text.split()))
    sentences = re.split(r"(?<=[.;!?])\s+", text)
    out = sentences[0]
    for sentence in sentences[1:]:
        if len(out) + 1 + len(sentence) > limit:
            return out + " (…)"
        out += " " + sentence
    return out


def _checked_name(name) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise RegistryError("A model name cannot be empty or only spaces: it is the name shown in the model list.")
    return name


def remove_unfinished(directory: Path, now: float | None = None) -> list[Path]:
    """Remove what a killed save left in a user model folder: temporaries whose writer is gone,
    and weights without a card that this program wrote (their metadata says so) more than
    ORPHAN_SECONDS ago. Weights someone put there by hand are left alone. -> what was removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = sweep(directory, now)
    now = time.time() if now is None else now
    for weights in directory.glob("*.safetensors"):
        try:
            if weights.with_suffix(".json").exists() or now - weights.stat().st_mtime < ORPHAN_SECONDS:
                continue
            with safe_open(str(weights), "pt") as fh:
                ours = (fh.metadata() or {}).get("format") == CARD_FORMAT
            if ours:
                weights.unlink()
                removed.append(weights)
        except (OSError, SafetensorError, ValueError, RuntimeError):
            continue  # unreadable: not provably ours
    return removed
