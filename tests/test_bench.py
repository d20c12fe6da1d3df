"""The benchmark command runs and prints its table (the figures themselves are not asserted)."""
import pytest

from inpaint_studio.cli import main


@pytest.mark.slow
def test_bench_prints_a_side_by_side_table(capsys):
    assert main(["bench", "--sizes", "64", "128", "--repeats", "1", "--device", "cpu", "--reference-max", "64",
                 "--precision", "fp32"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["device", "size", "precision", "holes", "ms"]
    row64 = next(line.split() for line in lines if line.split()[:2] == ["cpu", "64"])
    row128 = next(line.split() for line in lines if line.split()[:2] == ["cpu", "128"])
    assert row64[2] == "fp32" and row64[5].endswith("x") and float(row64[3]) > 0 and float(row64[4]) > 0
    assert row128[4] == "skipped" and "GB matrix" in " ".join(row128)
    assert main(["bench", "--sizes", "64", "--repeats", "1", "--device", "cpu", "--precision", "bf16"]) == 0
    row = next(line.split() for line in capsys.readouterr().out.splitlines() if line.split()[:2] == ["cpu", "64"])
    assert row[2] == "bf16" and row[5].endswith("x")
