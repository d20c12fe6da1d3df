"""The benchmark command runs and prints its table (the figures themselves are not asserted)."""
import pytest

from inpaint_studio.cli import main


@pytest.mark.slow
def test_bench_prints_a_side_by_side_table(capsys):
    assert main(["bench", "--sizes", "64", "128", "--repeats", "1", "--device", "cpu", "--reference-max", "64",
                 "--precision", "fp32", "--arch", "pennet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["architecture", "device", "size", "precision", "holes", "ms"]
    row64 = next(line.split()[1:] for line in lines if line.split()[:3] == ["PEN-Net", "cpu", "64"])
    row128 = next(line.split()[1:] for line in lines if line.split()[:3] == ["PEN-Net", "cpu", "128"])
    assert row64[2] == "fp32" and row64[5].endswith("x") and float(row64[3]) > 0 and float(row64[4]) > 0
    assert row128[4] == "skipped" and "GB matrix" in " ".join(row128)


def test_bench_compares_the_architectures_in_one_table(capsys):
    assert main(["bench", "--sizes", "64", "--repeats", "1", "--device", "cpu", "--precision", "bf16",
                 "--reference-max", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines if "cpu" in line.split()[:3]}
    assert rows["PEN-Net"][1:4] == ["cpu", "64", "bf16"] and float(rows["PEN-Net"][4]) > 0
    deepfill = next(line.split() for line in lines if line.startswith("DeepFill v1") or " DeepFill v1 " in line)
    assert deepfill[2:5] == ["cpu", "64", "bf16"] and float(deepfill[5]) > 0
    assert any(line.startswith("DeepFill v1 / PEN-Net (holes): cpu 64: time ") for line in lines)
