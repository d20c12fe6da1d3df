"""tools/gpu_bench.sh, the one command of a GPU window's measurements: its `check` part runs both
benches on the CPU with tiny settings, so the command and its files are known to work before the
minutes on a GPU are spent."""
import subprocess
import sys

import pytest

from test_trainer_support import REPO, trainer_env

SCRIPT = REPO / "tools" / "gpu_bench.sh"


def _run(part, out, timeout=300):
    env = dict(trainer_env(), PY=sys.executable, OUT=str(out))
    return subprocess.run(["bash", str(SCRIPT), part], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
def test_check_runs_both_benches_and_writes_their_files(tmp_path):
    done = _run("check", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    inference = (tmp_path / "bench-inference.txt").read_text()
    rows = [line.split()[:6] for line in inference.splitlines()]
    assert "ms/image" in inference and ["PEN-Net", "cpu", "64", "1", "fp32", "holes"] in rows
    training = (tmp_path / "bench-training.txt").read_text()
    assert "samples/s" in training and "holes (packed, matmul)" in training
    profile = (tmp_path / "profile-training.txt").read_text()
    assert profile.startswith("torch.profiler, 2 training steps (fit's defaults): cpu fp32 64px") and "aten::" in profile


def test_an_unknown_part_is_refused_before_anything_runs(tmp_path):
    done = _run("everything", tmp_path / "out", timeout=30)
    assert done.returncode == 2 and "usage: tools/gpu_bench.sh inference|training|all|check" in done.stderr
    assert not (tmp_path / "out").exists()
