"""Model registry, weight conversion and the `models` command."""
import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from inpaint_studio.cli import main as cli_main
from inpaint_studio.engine.registry import ModelRegistry, RegistryError, load_generator, save_generator
from inpaint_studio.network import PENNetGenerator, generator_input


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(1)
    return PENNetGenerator()


def test_save_and_load_roundtrip_fp16(generator, user_home):
    info = save_generator(generator, "My Beaches", {"licence": "CC0", "metrics": {"val_psnr": 25.0}})
    assert info.id == "my-beaches" and not info.bundled
    assert info.weights_path.parent == user_home / "models"
    tensors = load_file(str(info.weights_path))
    assert all(t.dtype == torch.float16 for t in tensors.values())
    card = json.loads(info.card_path.read_text())
    assert card["architecture"]["name"] == "pennet" and card["licence"] == "CC0"
    loaded = load_generator(info)
    assert not loaded.training and loaded.attention == "holes"
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    m = torch.zeros(1, 1, 64, 64)
    m[..., 20:40, 20:40] = 1
    with torch.no_grad():
        a, _ = generator.eval()(generator_input(x, m), m)
        b, _ = loaded(generator_input(x, m), m)
    assert (a - b).abs().max() < 2e-2  # fp16 storage


def test_ids_are_unique_and_default_rename_delete(generator):
    registry = ModelRegistry()
    a = save_generator(generator, "Same", {})
    b = save_generator(generator, "Same", {})
    assert (a.id, b.id) == ("same", "same-2")
    assert registry.default_id() == "same"
    registry.set_default("same-2")
    assert registry.default_id() == "same-2"
    registry.rename("same-2", "Renamed")
    assert registry.get("same-2").name == "Renamed"
    registry.delete("same-2")
    assert [m.id for m in registry.models()] == ["same"]
    assert registry.default_id() == "same"
    with pytest.raises(RegistryError, match="Unknown model 'nope'"):
        registry.get("nope")


def test_bundled_models_are_read_only(generator, tmp_path):
    bundled = tmp_path / "bundled"
    save_generator(generator, "Shipped", {"default": True}, directory=bundled)
    registry = ModelRegistry(bundled_dir=bundled)
    info = registry.get("shipped")
    assert info.bundled and registry.default_id() == "shipped"
    with pytest.raises(RegistryError, match="read-only"):
        registry.delete("shipped")


def test_import_released_checkpoint(generator, tmp_path):
    path = tmp_path / "gen_00050.pth"
    # as the reference trainer saves it, from a DataParallel model
    torch.save({"netG": {f"module.{k}": v for k, v in generator.state_dict().items()}, "epoch": 5}, path)
    info = ModelRegistry().import_checkpoint(path, "Places2 release")
    assert info.card.architecture.affinity == "release"
    assert info.card.architecture.attention == "reference"
    loaded = load_generator(info)
    for k, v in generator.state_dict().items():
        assert torch.allclose(loaded.state_dict()[k], v.half().float())


def test_bad_checkpoints_name_the_file_and_the_problem(generator, tmp_path):
    registry = ModelRegistry()
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x80\x02not really a checkpoint")
    with pytest.raises(RegistryError, match="corrupt.pth: not a readable PyTorch checkpoint"):
        registry.import_checkpoint(corrupt, "x")
    wrong = tmp_path / "wrong.pth"
    state = generator.state_dict()
    state["decoder.2.weight"] = torch.zeros(3, 16, 3, 3)
    del state["torgb1.0.bias"]
    torch.save({"netG": state}, wrong)
    with pytest.raises(RegistryError, match=r"wrong.pth: not PEN-Net generator weights: 1 missing \(e.g. torgb1.0.bias\)"):
        registry.import_checkpoint(wrong, "x")
    del state["decoder.2.weight"]
    state["torgb1.0.bias"] = torch.zeros(3)
    state["decoder.2.weight"] = torch.zeros(3, 16, 3, 3)
    torch.save({"netG": state}, wrong)
    with pytest.raises(RegistryError, match=r"decoder.2.weight is \(3, 16, 3, 3\), expected \(3, 32, 3, 3\)"):
        registry.import_checkpoint(wrong, "x")
    other = tmp_path / "other.pth"
    torch.save([1, 2, 3], other)
    with pytest.raises(RegistryError, match="expected a dict with 'netG'"):
        registry.import_checkpoint(other, "x")
    assert registry.models() == []  # nothing half-written


def test_corrupt_safetensors_file_is_reported_on_load(generator):
    info = save_generator(generator, "Broken", {})
    info.weights_path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(RegistryError, match="Broken|broken.safetensors: not a readable safetensors file"):
        load_generator(ModelRegistry().get("broken"))


def test_models_cli_list_and_import(generator, tmp_path, capsys):
    assert cli_main(["models", "list"]) == 0
    assert "No model installed" in capsys.readouterr().out
    path = tmp_path / "gen_00001.pth"
    torch.save({"netG": generator.state_dict()}, path)
    assert cli_main(["models", "import", str(path), "--name", "Release Places2"]) == 0
    assert cli_main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "release-places2" in out and "reference/release" in out
    bad = tmp_path / "bad.pth"
    bad.write_text("hello")
    assert cli_main(["models", "import", str(bad), "--name", "x"]) == 2
    assert "error: " in capsys.readouterr().err


def test_cli_error_is_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "inpaint_studio", "models", "import", str(tmp_path / "missing.pth"),
                           "--name", "x"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
