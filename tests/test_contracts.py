"""The shared contracts (inpaint_studio.contracts): device and precision rules for both purposes,
training settings with resolved values, the one events reader, the model card, and the defaults
that the trainer's command line and config read from them."""
import json

import pytest

from inpaint_studio.contracts import devices
from inpaint_studio.contracts.card import ARCHITECTURES, CARD_FORMAT, CardError, ModelCard
from inpaint_studio.contracts.events import EventLines, EventTail, read_events
from inpaint_studio.contracts.training import (BATCH_SIZE, DEFAULT, FINETUNE, SCRATCH, TrainConfig, loss_weights, resolved_record,
                                               saved_settings)

I, T = devices.INFERENCE, devices.TRAINING


@pytest.mark.parametrize("choice, kind, purpose, cuda_bf16, cpu_bf16, expected", [
    ("auto", "cuda", I, True, False, "fp16"),    # inference: fp16 on any GPU
    ("auto", "cuda", T, True, False, "bf16"),    # training: bf16 where the GPU has it ...
    ("auto", "cuda", T, False, False, "fp16"),   # ... else fp16 with loss scaling
    ("auto", "cpu", I, False, True, "bf16"),     # both: bf16 on CPUs that have it in hardware
    ("auto", "cpu", T, False, True, "bf16"),
    ("auto", "cpu", I, False, False, "fp32"),
    ("auto", "cpu", T, False, False, "fp32"),
    ("fp16", "cpu", I, False, False, "fp32"),    # a GPU format: float32 on the CPU
    ("bf16", "cpu", I, False, False, "bf16"),    # asked for: emulated, but honoured
    ("auto", "mps", I, False, True, "fp32"),
    ("fp32", "cuda", T, True, True, "fp32"),
])
def test_precision_rules(choice, kind, purpose, cuda_bf16, cpu_bf16, expected):
    assert devices.precision(choice, kind, purpose, cuda_bf16=cuda_bf16, cpu_bf16=cpu_bf16) == expected


def test_device_rules():
    assert devices.device_kind("auto", ["mps", "cpu"], I) == "mps"
    assert devices.device_kind("auto", ["mps", "cpu"], T) == "cpu"       # the trainer does not run on MPS
    assert devices.device_kind("auto", ["cuda", "cpu"], T) == "cuda"
    assert devices.device_kind("cuda:1", ["cuda", "cpu"], I) == "cuda"
    with pytest.raises(devices.ChoiceError, match="not available"):
        devices.device_kind("cuda", ["cpu"], T)
    with pytest.raises(ValueError, match="Unknown device 'mps'"):
        devices.device_kind("mps", ["mps", "cpu"], T)
    with pytest.raises(ValueError, match="fp16 needs a CUDA GPU"):
        devices.precision("fp16", "cpu", T)


def test_automatic_settings_are_stored_resolved_and_chosen_again_on_resume():
    config = TrainConfig(data="d", batch_size=None, precision="auto", workers=3)
    record = resolved_record(config, {"batch_size": 8, "workers": 4, "device": "cuda", "precision": "bf16"})
    assert record["batch_size"] == 8 and record["precision"] == "bf16" and record["device"] == "cuda"
    assert record["workers"] == 3 and sorted(record["automatic"]) == ["batch_size", "device", "precision"]
    again = saved_settings(json.loads(json.dumps(record)))
    assert again["batch_size"] is None and again["precision"] == "auto" and again["workers"] == 3
    assert TrainConfig.from_dict(again).device == "auto"


def test_event_lines_take_whole_lines_only(tmp_path):
    lines = EventLines()
    assert lines.feed(b'{"event": "start", "total": 3}\n{"event": "prog') == [{"event": "start", "total": 3}]
    assert lines.feed(b'ress"}\nnot json\n[1, 2]\n{"no": "event"}\n') == [{"event": "progress"}]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"event": "start"}\n{"event": "log"')
    tail = EventTail(path)
    assert [e["event"] for e in tail.read()] == ["start"] and tail.read() == []
    with open(path, "ab") as fh:
        fh.write(b', "message": "hi"}\n')
    assert tail.read() == [{"event": "log", "message": "hi"}]
    assert [e["event"] for e in read_events(path)] == ["start", "log"]


def test_model_card_keeps_what_it_does_not_know_and_names_bad_fields():
    data = {"format": CARD_FORMAT, "name": "Garden", "licence": "CC0", "future": {"x": 1},
            "architecture": {"cnum": 16, "attention": "holes", "later": True},
            "training": {"iterations": 10, "checkpoint": "/runs/a"}, "metrics": {"val_psnr": 25.5, "psnr": 30}}
    card = ModelCard.from_dict(data)
    assert card.is_current() and card.architecture.cnum == 16 and card.architecture.affinity == "release"
    assert card.training.iterations == 10 and card.metrics.val_psnr == 25.5 and card.metrics.extra == {"psnr": 30}
    back = card.to_dict()
    assert back["future"] == {"x": 1} and back["architecture"]["later"] is True
    assert back["training"]["checkpoint"] == "/runs/a" and "imported_from" not in back["training"]
    assert not ModelCard.from_dict({"name": "no format"}).is_current()
    for bad, field in (({"architecture": {"cnum": "wide"}}, "architecture.cnum"), ({"name": 3}, "name"),
                       ({"metrics": {"val_psnr": "good"}}, "metrics.val_psnr"), ({"default": "yes"}, "default"),
                       ({"training": []}, "training")):
        with pytest.raises(CardError, match=f"garden.json: {field} must be"):
            ModelCard.from_dict(bad, "garden.json")


def test_the_trainer_command_line_shows_the_contract_defaults(capsys):
    from inpaint_studio.contracts.training import FINETUNE_BATCH_SIZE
    from trainer import cli

    with pytest.raises(SystemExit):
        cli.main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"on CUDA {BATCH_SIZE['cuda']} at {DEFAULT.size} px" in text and f"{BATCH_SIZE['cpu']} on CPU, {FINETUNE_BATCH_SIZE['cpu']} with --base)" in text
    assert f"default {SCRATCH['iterations']}; {FINETUNE['iterations']} with --base" in text
    assert f"crop side, a multiple of 64 (default {DEFAULT.size}; {FINETUNE['size']} with --base)" in text
    assert f"{FINETUNE['schedule']} with --base" in text and f"{FINETUNE['trainable']} with --base" in text
    per_arch = ", ".join(f"{loss_weights(a).hole:g} for {a}" for a in ARCHITECTURES)
    assert f"--hole-weight HOLE_WEIGHT loss weight (default {per_arch})" in text
    assert f"--arch {{{','.join(ARCHITECTURES)}}}" in text
