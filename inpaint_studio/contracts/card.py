"""The model card: the JSON file beside a model's weights (`<id>.json`), as a dataclass that is
validated when read. The registry, the trainer (export, bundle, learn from this photo), the
command line and the app's model manager read and write cards through it.

Unknown keys (in any section) are kept as they are, so a card written by a later version loses
nothing when this one renames the model.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

CARD_FORMAT = "inpaint-studio-model/1"
# The architectures a model may have: `architecture.name` -> the name people read (menus, lists,
# messages). inpaint_studio.network.factory builds each; the first is the default.
ARCHITECTURES = {"pennet": "PEN-Net", "deepfill1": "DeepFill v1"}
DEFAULT_ARCHITECTURE = next(iter(ARCHITECTURES))
METRIC_KEYS = ("val_l1", "val_psnr", "val_ssim", "val_iteration")


class CardError(ValueError):
    """A card that cannot be used; the message names the field and the problem."""


def _check(value, kinds, where: str, optional: bool = True):
    if value is None and optional:
        return None
    if isinstance(value, bool) and bool not in kinds:
        raise CardError(f"{where} must be {_names(kinds)}, not {value!r}")
    if not isinstance(value, kinds):
        raise CardError(f"{where} must be {_names(kinds)}, not {value!r}")
    return value


def _names(kinds) -> str:
    words = {str: "text", int: "a whole number", float: "a number", dict: "an object", bool: "true or false",
             list: "a list"}
    if float in kinds:
        kinds = tuple(k for k in kinds if k is not int)  # a number: whole or not
    return " or ".join(dict.fromkeys(words.get(k, k.__name__) for k in kinds))


class _Section:
    """Known fields typed and checked; `extra` keeps the rest of the JSON object."""
    TYPES: dict = {}

    @classmethod
    def from_dict(cls, data, where: str):
        data = _check(data if data is not None else {}, (dict,), where)
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: _check(data[k], cls.TYPES[k], f"{where}.{k}" if where else k)
                  for k in known if k in data and data[k] is not None}
        section = cls(**values, extra={k: v for k, v in data.items() if k not in known})
        section.validate(where)
        return section

    def validate(self, where: str) -> None:
        pass

    def to_dict(self) -> dict:
        """The JSON object: known fields that are set (None and False are left out), then the rest."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "extra" and value is not None and value is not False:
                out[f.name] = value.to_dict() if isinstance(value, _Section) else value
        return {**out, **{k: v for k, v in self.extra.items() if k not in out}}


@dataclass
class Architecture(_Section):
    name: str = DEFAULT_ARCHITECTURE
    cnum: int = 32
    input_size: int = 256
    attention: str = "holes"
    affinity: str = "release"
    extra: dict = field(default_factory=dict)
    TYPES = {"name": (str,), "cnum": (int,), "input_size": (int,), "attention": (str,), "affinity": (str,)}

    def validate(self, where: str) -> None:
        for name in ("cnum", "input_size"):
            if getattr(self, name) < 1:
                raise CardError(f"{where}.{name} must be positive, not {getattr(self, name)}")

    @property
    def label(self) -> str:
        """"PEN-Net", "DeepFill v1"; an unknown name (a later version's card) as it is."""
        return ARCHITECTURES.get(self.name, self.name)


@dataclass
class Training(_Section):
    """How the weights were made (all optional: an imported checkpoint says little)."""
    data: object = None               # {"path", "images", "megapixels", ...} or a sentence
    iterations: int | None = None
    hardware: str | None = None
    base: str | None = None           # the registry id of the model it was fine-tuned from
    config: dict | None = None        # the resolved training settings
    imported_from: str | None = None
    adapted_from: str | None = None   # learn from this photo: the model it started from
    extra: dict = field(default_factory=dict)
    TYPES = {"data": (dict, str), "iterations": (int,), "hardware": (str,), "base": (str,), "config": (dict,),
             "imported_from": (str,), "adapted_from": (str,)}


@dataclass
class Metrics(_Section):
    """Validation metrics at export ([0, 1] pixel range), the held-out comparison of a bundled
    model, and whatever else a card measured."""
    val_l1: float | None = None
    val_psnr: float | None = None
    val_ssim: float | None = None
    val_iteration: int | None = None
    held_out: dict | None = None
    extra: dict = field(default_factory=dict)
    TYPES = {"val_l1": (int, float), "val_psnr": (int, float), "val_ssim": (int, float), "val_iteration": (int,),
             "held_out": (dict,)}


@dataclass
class WeightsFile(_Section):
    file: str | None = None
    dtype: str | None = None
    extra: dict = field(default_factory=dict)
    TYPES = {"file": (str,), "dtype": (str,)}


@dataclass
class ModelCard(_Section):
    name: str = ""
    id: str | None = None
    format: str | None = None         # CARD_FORMAT once written by the registry
    created: str | None = None
    description: str | None = None
    default: bool = False             # a bundled model that is the default unless the user chose one
    temporary: bool = False           # a session's model (learn from this photo), never listed
    licence: str | None = None
    architecture: Architecture = field(default_factory=Architecture)
    training: Training = field(default_factory=Training)
    metrics: Metrics = field(default_factory=Metrics)
    weights: WeightsFile = field(default_factory=WeightsFile)
    extra: dict = field(default_factory=dict)
    TYPES = {"name": (str,), "id": (str,), "format": (str,), "created": (str,), "description": (str,),
             "default": (bool,), "temporary": (bool,), "licence": (str,)}
    SECTIONS = {"architecture": Architecture, "training": Training, "metrics": Metrics, "weights": WeightsFile}

    @classmethod
    def from_dict(cls, data, where: str = "the model card") -> "ModelCard":
        try:
            data = _check(data if data is not None else {}, (dict,), "a model card")
            sections = {k: kind.from_dict(data.get(k), k) for k, kind in cls.SECTIONS.items()}
            card = super().from_dict.__func__(cls, {k: v for k, v in data.items() if k not in cls.SECTIONS}, "")
        except CardError as exc:
            raise CardError(f"{where}: {exc}") from None
        for k, section in sections.items():
            setattr(card, k, section)
        return card

    def is_current(self) -> bool:
        """Written in this format (a JSON file of another kind is not a card)."""
        return self.format == CARD_FORMAT


def read_card_text(text: str, where: str) -> ModelCard:
    import json

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CardError(f"{where}: unreadable model card ({exc})") from None
    if not isinstance(data, dict):
        raise CardError(f"{where}: a model card must be a JSON object")
    return ModelCard.from_dict(data, where)


# A model is "far behind" when its own figures say so (the model manager warns before it becomes
# the default): validation PSNR this many dB below the reference model's (the bundled default; a
# 3 dB gap is twice the mean squared error), or a held-out comparison in which it beats none of the
# classical engines in any metric.
BEHIND_PSNR_DB = 3.0


def far_behind(card: ModelCard, reference: ModelCard | None = None) -> list[str]:
    """Why `card`'s own figures put it far behind `reference` or the classical engines, one
    sentence each; [] when its figures do not say so (or it has none)."""
    reasons = []
    mine = card.metrics.val_psnr
    theirs = reference.metrics.val_psnr if reference is not None else None
    if mine is not None and theirs is not None and mine < theirs - BEHIND_PSNR_DB:
        reasons.append(f"its validation PSNR is {mine:.1f} dB, {theirs - mine:.1f} dB below "
                       f"“{reference.name or reference.id}” ({theirs:.1f} dB)")
    verdicts = [r.get("beats_classical") for r in (card.metrics.held_out or {}).values() if isinstance(r, dict)]
    verdicts = [v for v in verdicts if isinstance(v, dict) and v]
    if verdicts and not any(any(v.values()) for v in verdicts):
        reasons.append("on held-out photos it does not beat the classical engines in any measure")
    return reasons
