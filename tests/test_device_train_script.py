"""tools/device_train.sh, the GPU machine's training steps, run for real on the CPU with tiny
settings: start detached, finish, and the model comes back in parts that join into a model."""
import json
import shutil
import subprocess
import sys

import pytest

from inpaint_studio.engine.registry import ModelRegistry, load_generator
from test_trainer_support import REPO, make_folder, trainer_env

SCRIPT = REPO / "tools" / "device_train.sh"
TINY = "--size 64 --batch-size 1 --iterations 400 --device cpu --workers 0 --checkpoint-every 1000 --val-images 2"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("setsid") is None or shutil.which("split") is None, reason="needs util-linux")
def test_start_then_finish_brings_the_model_home_in_parts(tmp_path):
    corpus = tmp_path / "corpus"
    make_folder(corpus / "train", images=3, corrupt=False)
    make_folder(corpus / "val", images=2, corrupt=False)
    env = dict(trainer_env(), PY=sys.executable, RUN=str(tmp_path / "runs" / "bundled"), OUT=str(tmp_path / "out"),
               CORPUS=str(corpus), TRAIN_ARGS=TINY, EVAL_ARGS="--size 64", SKIP_BENCH="1",
               INPAINT_STUDIO_HOME=str(tmp_path / "home"))

    def step(*args):
        done = subprocess.run(["bash", str(SCRIPT), *args], env=env, cwd=REPO, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "iteration" in step("start")  # the first step has run, in a process of its own
    out = step("finish")
    assert "opencv telea" in out and "PSNR" in out
    parts = sorted((tmp_path / "out").glob("model.safetensors.part-*"))
    assert parts and all(p.stat().st_size <= 15 * 2**20 for p in parts)
    card = json.loads((tmp_path / "out" / "model.json").read_text())
    stopped = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()][-1]
    assert stopped["event"] == "done" and stopped["status"] == "stopped"
    assert card["training"]["iterations"] == stopped["iteration"] < 400

    # joined again, the parts and the card are a model as models/ ships them
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / card["weights"]["file"]).write_bytes(b"".join(p.read_bytes() for p in parts))
    shutil.copy(tmp_path / "out" / "model.json", bundle / (card["weights"]["file"].rsplit(".", 1)[0] + ".json"))
    registry = ModelRegistry(bundled_dir=bundle, user_dir=tmp_path / "none")
    (info,) = registry.models()
    assert info.bundled and load_generator(info).at_conv01.mode == "holes"
    for masks in ("center", "free"):
        report = json.loads((tmp_path / "out" / f"eval-{masks}.json").read_text())
        assert report["masks"] == masks and report["images"] == 2

    # a run packed elsewhere (a CPU session's progress) is where a new machine starts from
    subprocess.run([sys.executable, "-m", "trainer", "pack", env["RUN"], "--out", str(tmp_path / "pack")],
                   env=env, cwd=REPO, check=True, capture_output=True)
    env.update(RUN=str(tmp_path / "runs" / "fresh"), PACK=str(tmp_path / "pack"), SPEED_ARGS="--checkpoint-every 1000")
    step("start")
    resumed = json.loads((tmp_path / "runs" / "fresh.events.jsonl").read_text().splitlines()[0])
    assert resumed["event"] == "start" and resumed["iteration"] == stopped["iteration"]
    step("finish")
