"""registry.read_model: a model outside the registry's list, read from its card path."""
import json

import pytest
import torch

from inpaint_studio.engine.registry import ModelRegistry, RegistryError, load_generator, read_model, save_generator
from inpaint_studio.network import PENNetGenerator


def test_read_model_from_a_session_folder(tmp_path):
    torch.manual_seed(0)
    saved = save_generator(PENNetGenerator(), "Session model", {"temporary": True},
                           directory=tmp_path / "session", dtype=torch.float32)
    info = read_model(saved.card_path)
    assert (info.id, info.name, info.bundled) == (saved.id, "Session model", False)
    assert info.weights_path == saved.weights_path and info.card.temporary is True
    assert ModelRegistry().models() == []                    # not listed
    assert isinstance(load_generator(info), PENNetGenerator)


def test_read_model_refuses_what_is_not_a_model(tmp_path):
    with pytest.raises(RegistryError, match="unreadable model card"):
        read_model(tmp_path / "missing.json")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"name": "x"}))
    with pytest.raises(RegistryError, match="not an Inpaint Studio model card"):
        read_model(other)
    saved = save_generator(PENNetGenerator(), "Gone", {}, directory=tmp_path / "s")
    saved.weights_path.unlink()
    with pytest.raises(RegistryError, match="weights file is missing"):
        read_model(saved.card_path)
