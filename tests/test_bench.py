"""The benchmark command runs and prints its table (the figures themselves are not asserted)."""
from inpaint_studio.cli import main


def test_bench_prints_a_side_by_side_table(capsys):
    assert main(["bench", "--sizes", "64", "128", "--repeats", "1", "--device", "cpu", "--reference-max", "64"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["device", "size", "holes", "ms"]
    row64 = next(line.split() for line in lines if line.split()[:2] == ["cpu", "64"])
    row128 = next(line.split() for line in lines if line.split()[:2] == ["cpu", "128"])
    assert row64[4].endswith("x") and float(row64[2]) > 0 and float(row64[3]) > 0
    assert row128[3] == "skipped" and "GB matrix" in " ".join(row128)
