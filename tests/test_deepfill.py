"""DeepFill v1 as a second architecture, through the same trainer, registry, engine and command
lines as PEN-Net: its objective, three training iterations, export, listing, the CLI, the
engine's flow, fine-tuning and resuming, and the checks that keep weights and cards apart."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from inpaint_studio import cli as studio_cli
from inpaint_studio.contracts.card import ARCHITECTURES, Architecture, ModelCard
from inpaint_studio.contracts.events import read_events
from inpaint_studio.contracts.training import FINETUNE, LOSS_WEIGHTS, learning_rate, loss_weights
from inpaint_studio.engine import InpaintOptions, create_engine
from inpaint_studio.engine.registry import ModelRegistry, RegistryError, load_generator, save_generator
from inpaint_studio.network import GENERATORS, DeepFillGenerator, make_generator
from test_trainer_support import fit_args, make_folder, photo
from trainer import cli
from trainer.fit import checkpoint as ckpt
from trainer.fit.loop import Trainer, prepare_config
from trainer.fit.losses import generator_losses, hole_l1, masked_l1, spatial_discount


def test_the_contract_names_exactly_the_architectures_the_factory_builds():
    assert set(ARCHITECTURES) == set(GENERATORS) == set(LOSS_WEIGHTS)


def test_spatial_discount_is_gamma_to_the_distance_from_the_known_region():
    mask = torch.zeros(2, 1, 9, 9)
    mask[0, :, 2:7, 2:7] = 1   # a 5x5 hole: distances 1 at its rim, 2, then 3 at its centre
    mask[1] = 1                # no known pixel at all
    w = spatial_discount(mask, 0.5)
    assert w[0, 0, 2, 2] == 0.5 and w[0, 0, 3, 4] == 0.25 and w[0, 0, 4, 4] == 0.125
    assert w[0, 0][mask[0, 0] == 0].abs().max() == 0
    assert torch.equal(w[1], mask[1])  # nothing to measure from: every hole pixel weighs 1
    out, target = torch.rand(2, 3, 9, 9), torch.rand(2, 3, 9, 9)
    assert torch.equal(hole_l1(out, target, mask, 1.0), masked_l1(out, target, mask))
    assert hole_l1(out, target, mask, 0.5) < hole_l1(out, target, mask, 1.0)


def test_deepfill_objective_supervises_coarse_and_refined_outputs():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    refined, coarse = torch.rand_like(image), torch.rand_like(image)
    w = loss_weights("deepfill1")
    terms = generator_losses(refined, [coarse], image, mask, torch.zeros(1, 1, 4, 4), w)
    assert terms["pyramid"] == 0 and terms["coarse"] > 0
    want = (hole_l1(coarse, image, mask, w.discount) + masked_l1(coarse, image, 1 - mask))
    assert torch.allclose(terms["coarse"], want)
    expected = w.hole * terms["hole"] + w.valid * terms["valid"] + w.coarse * terms["coarse"]
    assert torch.allclose(terms["reconstruction"], expected)
    # PEN-Net's objective is unchanged: no coarse term, no discount
    pennet = generator_losses(refined, [coarse[..., ::2, ::2]], image, mask, None, loss_weights("pennet"))
    assert pennet["coarse"] == 0 and pennet["pyramid"] > 0
    assert torch.equal(pennet["hole"], masked_l1(refined, image, mask))


# -- a tiny DeepFill model trained by the trainer, shared by the tests below ----------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three iterations of `fit --arch deepfill1` (8 base channels, 64 px), exported."""
    root = tmp_path_factory.mktemp("deepfill")
    data = make_folder(root / "photos", images=3, corrupt=False)
    out, events, home = root / "run", root / "events.jsonl", root / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INPAINT_STUDIO_HOME", str(home))
        rc = cli.main(fit_args(data, out, events, 3, arch="deepfill1", cnum=8, checkpoint_every=3,
                               val_every=3, log_every=1, export_name="Tiny DeepFill"))
    return {"rc": rc, "data": data, "out": out, "events": read_events(events), "home": home}


@pytest.fixture
def home(trained, monkeypatch):
    monkeypatch.setenv("INPAINT_STUDIO_HOME", str(trained["home"]))
    return trained["home"]


def test_three_training_iterations_through_the_trainer(trained):
    assert trained["rc"] == 0
    events = trained["events"]
    start = events[0]
    assert start["config"]["arch"] == "deepfill1" and start["config"]["cnum"] == 8
    assert start["config"]["weights"] == loss_weights("deepfill1").to_dict()
    progress = [e for e in events if e["event"] == "progress"]
    assert [e["iteration"] for e in progress] == [1, 2, 3]
    for e in progress:
        assert e["losses"]["coarse"] > 0 and e["losses"]["pyramid"] == 0
        assert all(np.isfinite(v) for v in e["losses"].values())
    assert events[-1]["event"] == "done" and events[-1]["status"] == "completed"
    payload = ckpt.latest_checkpoint(trained["out"] / "checkpoints")[1]
    assert payload["architecture"] == {"name": "deepfill1", "cnum": 8}


def test_export_list_and_the_card_record_the_architecture(trained, home, capsys):
    model_id = trained["events"][-1]["model_id"]
    info = ModelRegistry().get(model_id)
    arch = info.card.architecture
    assert (arch.name, arch.cnum, arch.input_size, arch.attention) == ("deepfill1", 8, 64, "holes")
    assert info.card.description.startswith("DeepFill v1 trained from scratch")
    assert isinstance(load_generator(info), DeepFillGenerator)
    assert cli.main(["export", str(trained["out"]), "--name", "Tiny DeepFill again"]) == 0
    again = ModelRegistry().get(json.loads(capsys.readouterr().out)["model_id"])
    assert again.card.architecture.name == "deepfill1"
    assert studio_cli.main(["models", "list"]) == 0
    listed = capsys.readouterr().out
    row = next(line for line in listed.splitlines() if model_id in line.split())
    assert "DeepFill v1" in row and "Tiny DeepFill" in row


def test_cli_inpaints_with_the_deepfill_model(trained, home, tmp_path, capsys):
    from PIL import Image

    model_id = trained["events"][-1]["model_id"]
    image = photo(3, 96, 128)
    mask = np.zeros((96, 128), np.uint8)
    mask[30:60, 40:90] = 255
    Image.fromarray(image).save(tmp_path / "in.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    rc = studio_cli.main(["inpaint", "--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"),
                          "--output", str(tmp_path / "out.png"), "--model", model_id, "--device", "cpu"])
    assert rc == 0
    out = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    assert np.array_equal(out[mask == 0], image[mask == 0])
    assert not np.array_equal(out[mask > 0], image[mask > 0])


def test_engine_flow_comes_from_the_contextual_attention(trained, home):
    """The attention view's input: every hole pixel gets an offset to a known source patch,
    measured on the 1/8 grid of contextual attention (16 model px source patches)."""
    info = ModelRegistry().get(trained["events"][-1]["model_id"])
    engine = create_engine(info.id, device="cpu")
    image = photo(4, 128, 128)
    mask = np.zeros((128, 128), np.uint8)
    mask[40:80, 48:96] = 255
    result = engine.inpaint(image, mask, InpaintOptions(strategy="resize", resize_limit=128, return_flow=True))
    hole = mask > 0
    assert result.flow.shape == (128, 128, 2) and np.isnan(result.flow[~hole]).all()
    flow = result.flow[hole]
    assert np.isfinite(flow).all()
    assert (flow % 8 == 0).all()  # whole cells of the 1/8 grid (the resize strategy runs at scale 1)
    ys, xs = np.nonzero(hole)
    cy, cx = ys // 8 + (flow[:, 1] // 8).astype(int), xs // 8 + (flow[:, 0] // 8).astype(int)
    hole_cells = hole.reshape(16, 8, 16, 8).any(axis=(1, 3))
    padded = np.pad(hole_cells, 1)
    touches = np.zeros_like(hole_cells)
    for dy in range(3):
        for dx in range(3):
            touches |= padded[dy:dy + 16, dx:dx + 16]
    assert not touches[cy, cx].any()  # every source is a background patch: 3x3 cells clear of the hole
    assert np.allclose(result.flow_patch[hole], 16.0)


def test_fine_tuning_and_resuming_keep_the_architecture(trained, home, tmp_path):
    model_id = trained["events"][-1]["model_id"]
    config = prepare_config({"data": str(trained["data"]), "out": str(tmp_path / "tune"), "base": model_id,
                             "size": 64, "device": "cpu", "workers": 0}, resume=False)
    assert (config.arch, config.cnum) == ("deepfill1", 8)
    # the architecture's objective with the fine-tuning recipe's overrides; lr None: the rule's rate
    assert config.weights == loss_weights("deepfill1", **FINETUNE["weights"]) and config.lr is None
    assert learning_rate(config, 2, 0) == FINETUNE["lr"]
    trainer = Trainer(config).setup()
    base = load_generator(ModelRegistry().get(model_id))
    assert isinstance(trainer.generator, DeepFillGenerator)
    for k, v in base.state_dict().items():
        assert torch.equal(trainer.generator.state_dict()[k], v)
    with pytest.raises(ValueError, match="does not match the base model"):
        prepare_config({"data": str(trained["data"]), "out": str(tmp_path / "x"), "base": model_id,
                        "arch": "pennet"}, resume=False)
    # a resumed run builds the network its checkpoint holds, whatever the defaults say
    resumed = prepare_config({"out": str(trained["out"]), "iterations": 4}, resume=True)
    assert (resumed.arch, resumed.cnum) == ("deepfill1", 8)
    assert Trainer(resumed, resume=True).setup().start_iteration == 3
    with pytest.raises(ValueError, match="--arch cannot change"):
        prepare_config({"out": str(trained["out"]), "arch": "pennet"}, resume=True)


def test_weights_and_cards_of_the_two_architectures_are_not_mixed(tmp_path):
    tmp_path = tmp_path / "models"
    deepfill = make_generator("deepfill1", cnum=8).state_dict()
    with pytest.raises(RegistryError, match="not PEN-Net generator weights"):
        save_generator(deepfill, "wrong card", ModelCard(), directory=tmp_path)
    with pytest.raises(RegistryError, match="do not match DeepFill v1 with 16 base channels"):
        save_generator(deepfill, "wrong width", ModelCard(architecture=Architecture(name="deepfill1", cnum=16)),
                       directory=tmp_path)
    with pytest.raises(RegistryError, match="unsupported architecture 'deepfill2'"):
        save_generator(deepfill, "unknown", ModelCard(architecture=Architecture(name="deepfill2")), directory=tmp_path)
    assert not tmp_path.exists()  # nothing written
    info = save_generator(deepfill, "right", ModelCard(architecture=Architecture(name="deepfill1", cnum=8)),
                          directory=tmp_path)
    assert info.card.architecture.label == "DeepFill v1"


def test_evaluate_runs_both_architectures_on_the_same_photos_and_masks(trained, home, capsys):
    from trainer.evaluate import evaluate

    deepfill_id = trained["events"][-1]["model_id"]
    torch.manual_seed(0)
    pennet = save_generator(make_generator("pennet", cnum=8), "Tiny PEN-Net",
                            ModelCard(architecture=Architecture(cnum=8, input_size=64)))
    report = evaluate([pennet.id, deepfill_id], trained["data"], masks="center", size=64, classical=("telea",))
    rows = {r["method"]: r for r in report["rows"]}
    assert list(rows) == [f"model {pennet.id}", f"model {pennet.id}, no colour adaptation",
                          f"model {deepfill_id}", f"model {deepfill_id}, no colour adaptation", "opencv telea", "auto"]
    assert rows[f"model {pennet.id}"]["architecture"] == "PEN-Net"
    assert rows[f"model {deepfill_id}"]["architecture"] == "DeepFill v1"
    assert rows[f"model {pennet.id}"]["l1"] != rows[f"model {deepfill_id}"]["l1"]
    assert cli.main(["evaluate", "--model", pennet.id, deepfill_id, "--data", str(trained["data"]), "--size", "64",
                     "--limit", "1"]) == 0
    table = capsys.readouterr().out
    assert "DeepFill v1" in table and "PEN-Net" in table and "1 images" in table


def test_learn_photo_adapts_a_deepfill_model(trained, home, tmp_path):
    from inpaint_studio.contracts.events import read_events as events_of
    from inpaint_studio.engine.registry import read_model
    from inpaint_studio.imaging import write_image, write_mask

    model_id = trained["events"][-1]["model_id"]
    hole = np.zeros((96, 128), bool)
    hole[30:60, 40:90] = True
    write_image(tmp_path / "photo.png", photo(7, 96, 128))
    write_mask(tmp_path / "hole.png", hole)
    assert cli.main(["learn-photo", "--model", model_id, "--image", str(tmp_path / "photo.png"),
                     "--mask", str(tmp_path / "hole.png"), "--steps", "2", "--out-name", "adapted",
                     "--out-dir", str(tmp_path / "session"), "--events", str(tmp_path / "e.jsonl"),
                     "--device", "cpu"]) == 0
    done = events_of(tmp_path / "e.jsonl")[-1]
    assert done["status"] == "completed"
    adapted = read_model(done["card_path"])
    assert (adapted.card.architecture.name, adapted.card.architecture.cnum) == ("deepfill1", 8)
    base = load_generator(ModelRegistry().get(model_id)).state_dict()
    assert any(not torch.equal(v, base[k]) for k, v in load_generator(adapted).state_dict().items())
