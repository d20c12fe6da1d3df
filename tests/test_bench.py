"""The benchmark commands run and print their plan, then one table (the figures themselves are
not asserted): `python -m inpaint_studio bench` and `python -m trainer bench`."""
import pytest

from inpaint_studio.cli import main
from trainer import cli as trainer_cli


def _rows(text, first):
    return [line.split() for line in text.splitlines() if line.split()[:1] == [first]]


def test_inference_bench_prints_its_plan_then_one_table(capsys):
    assert main(["bench", "--sizes", "64", "128", "--repeats", "1", "--device", "cpu", "--reference-max", "64",
                 "--precision", "bf16", "--variants", "holes", "reference", "holes:dense:sdpa", "--arch", "pennet"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith("Inference: 2 cells") and "min (estimate)" in lines[0]
    assert lines[1].split()[:6] == ["architecture", "device", "size", "batch", "precision", "variant"]
    assert "{" not in captured.out  # no raw dicts: progress is on stderr, in words
    assert "[1/2] pennet cpu 64 px batch 1 bf16" in captured.err
    rows = [r[1:] for r in _rows(captured.out, "PEN-Net")]
    row = next(r for r in rows if r[:5] == ["cpu", "64", "1", "bf16", "reference"])
    assert row[5:8] == ["reference", "(dense,", "matmul)"] and float(row[8]) > 0 and row[9].endswith("x")
    sdpa = next(r for r in rows if r[:5] == ["cpu", "64", "1", "bf16", "holes:dense:sdpa"])
    assert sdpa[5:8] == ["holes", "(dense,", "sdpa)"] and sdpa[9].endswith("x")
    holes = next(r for r in rows if r[:5] == ["cpu", "128", "1", "bf16", "holes"])
    assert holes[5:8] == ["holes", "(packed,", "matmul)"] and holes[9] == "1.00x"
    skipped = next(r for r in rows if r[:5] == ["cpu", "128", "1", "bf16", "reference"])
    assert skipped[5] == "skipped" and "GB matrix" in " ".join(skipped)


def test_inference_bench_refuses_a_bad_variant(capsys):
    assert main(["bench", "--sizes", "64", "--device", "cpu", "--variants", "holes:sideways"]) == 2
    assert "bad variant 'holes:sideways'" in capsys.readouterr().err


def test_inference_bench_compares_the_architectures_in_one_table(capsys):
    """DeepFill runs the plain modes beside PEN-Net's variants; one line compares the two."""
    assert main(["bench", "--sizes", "64", "--repeats", "1", "--device", "cpu", "--precision", "bf16",
                 "--reference-max", "0", "--variants", "holes", "holes:dense"]) == 0
    lines = capsys.readouterr().out.splitlines()
    pennet = [line.split()[1:] for line in lines if line.split()[:2] == ["PEN-Net", "cpu"]]
    assert [r[4] for r in pennet] == ["holes", "holes:dense"] and float(pennet[0][8]) > 0
    deepfill = [line.split()[2:] for line in lines if line.split()[:3] == ["DeepFill", "v1", "cpu"]]
    assert len(deepfill) == 1 and deepfill[0][:5] == ["cpu", "64", "1", "bf16", "holes"] and float(deepfill[0][7]) > 0
    assert any(line.startswith("DeepFill v1 / PEN-Net (holes): cpu 64 batch 1 bf16: time ") for line in lines)


def test_training_bench_prints_plan_table_and_profile(capsys, tmp_path):
    profile = tmp_path / "profile.txt"
    assert trainer_cli.main(["bench", "--device", "cpu", "--size", "64", "--batches", "2", "--steps", "1",
                             "--warmup", "0", "--variants", "holes", "reference:auto:direct",
                             "--profile", str(profile)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith("PEN-Net training step") and "2 cells" in lines[0] and "(estimate)" in lines[0]
    assert "{" not in captured.out and "[2/2] cpu" in captured.err
    rows = _rows(captured.out, "cpu")
    assert [r[3:6] for r in rows] == [["holes", "(packed,", "matmul)"], ["reference", "(dense,", "direct)"]]
    assert all(r[6] == "off" and float(r[8]) > 0 for r in rows) and rows[0][-1] == "1.00x"
    text = profile.read_text()
    assert text.startswith("torch.profiler, 2 training steps") and "Self CPU" in text


@pytest.mark.parametrize("bad", [["--variants", "reference:packed:fast"], ["--device", "cuda"]])
def test_training_bench_refuses_bad_options(bad, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert trainer_cli.main(["bench", "--size", "64", "--batches", "1", "--steps", "1", *bad]) == 2
    assert capsys.readouterr().err.strip()
