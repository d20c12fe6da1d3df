"""Models and training runs under faults: a killed export leaves nothing that is listed and its
leftovers are removed; errors name the file they are about; names and options are checked."""
import json
import os
import time

import pytest
import torch

from inpaint_studio.cli import main as cli_main
from inpaint_studio.engine import registry as registry_module
from inpaint_studio.engine.registry import ModelRegistry, RegistryError, save_generator
from inpaint_studio.network import PENNetGenerator

DEAD_PID = 2**22 + 777


@pytest.fixture(scope="module")
def state():
    torch.manual_seed(3)
    return PENNetGenerator().state_dict()


def _age(path, seconds=3600):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_killed_save_is_never_listed_and_its_leftovers_are_removed(state, user_home, monkeypatch):
    models = user_home / "models"

    def killed(*_args, **_kwargs):               # the process dies between the weights and the card
        raise KeyboardInterrupt
    with monkeypatch.context() as patch:
        patch.setattr(registry_module, "_write_json_atomic", killed)
        with pytest.raises(KeyboardInterrupt):
            save_generator(state, "Half written", {})
    orphan = models / "half-written.safetensors"
    assert orphan.is_file() and ModelRegistry().models() == []        # weights without a card: not listed
    assert orphan.is_file()                                           # too fresh: a save may be under way
    _age(orphan)
    (models / f".half-written.safetensors.{DEAD_PID}-0a1b2c3d.tmp").write_bytes(b"\0" * 1000)
    (models / f".half-written.json.{DEAD_PID}-0a1b2c3d.tmp").write_bytes(b"")
    mine = models / f".other.safetensors.{os.getpid()}-0a1b2c3d.tmp"   # a save in progress here
    mine.write_bytes(b"")
    from safetensors.torch import save_file

    by_hand = models / "downloaded.safetensors"                        # not written by us: kept
    save_file({"w": torch.zeros(2)}, str(by_hand))
    _age(by_hand)
    assert ModelRegistry().models() == []
    assert sorted(p.name for p in models.iterdir()) == sorted([mine.name, by_hand.name])
    info = save_generator(state, "Half written", {})                  # the name is free again
    assert info.id == "half-written" and [m.id for m in ModelRegistry().models()] == ["half-written"]


def test_import_with_a_bad_sibling_card_names_the_card(state, tmp_path, user_home):
    from safetensors.torch import save_file

    weights = tmp_path / "net.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    card = tmp_path / "net.json"
    card.write_text(json.dumps({"architecture": {"name": "lama"}}))
    with pytest.raises(RegistryError) as caught:
        ModelRegistry().import_checkpoint(weights, "Imported")
    assert str(caught.value).startswith(f"{card}: unsupported architecture 'lama'")
    card.write_text(json.dumps({"architecture": ["not", "an", "object"]}))
    with pytest.raises(RegistryError) as caught:                  # the card contract's check
        ModelRegistry().import_checkpoint(weights, "Imported")
    assert str(caught.value).startswith(f"{card}: architecture must be an object")
    assert list((user_home / "models").iterdir()) == []


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_a_blank_model_name_is_refused(state, tmp_path, capsys, name):
    from safetensors.torch import save_file

    weights = tmp_path / "net.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    assert cli_main(["models", "import", str(weights), "--name", name]) == 2
    assert "cannot be empty or only spaces" in capsys.readouterr().err
    with pytest.raises(RegistryError, match="cannot be empty"):
        save_generator(state, name, {})


def test_a_long_checkpoint_error_is_cut_between_sentences(tmp_path, monkeypatch):
    long = "The archive is not readable. " + "It holds a record that points past its end. " * 8
    monkeypatch.setattr(torch, "load", lambda *a, **k: (_ for _ in ()).throw(RuntimeError(long)))
    path = tmp_path / "gen.pth"
    path.write_bytes(b"x")
    with pytest.raises(RegistryError) as caught:
        ModelRegistry().import_checkpoint(path, "X")
    text = str(caught.value)
    assert "The archive is not readable." in text and text.endswith("(…)).")
    reason = text[text.index("(") + 1:-len(" (…)).")]
    assert reason.endswith(".") and len(reason) <= 200


def test_a_damaged_run_json_on_resume_names_the_file(tmp_path, capsys):
    from trainer.cli import main as trainer_main

    run = tmp_path / "run"
    run.mkdir()
    for text, expected in (('{"config": {size: 3}}', "damaged, so the run cannot be resumed"),
                           ("[1, 2]", "holds no training settings"),
                           ('{"config": {"size": "big", "data": "/d"}}', "the saved settings are damaged")):
        (run / "run.json").write_text(text)
        assert trainer_main(["fit", "--resume", "--out", str(run)]) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert line.startswith(f"error: {run / 'run.json'}: ") and expected in line, line


def test_no_validation_images_is_refused_as_such():
    from trainer.fit.config import build_config

    with pytest.raises(ValueError, match="--val-images must be at least 1"):
        build_config({"data": "/d", "out": "/o", "val_images": 0})
