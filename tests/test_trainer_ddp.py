"""Two processes under torchrun with the gloo backend on CPU: DistributedDataParallel and
DistributedSampler; only rank 0 writes events and checkpoints."""
import pytest

from test_trainer_support import fit_args, make_folder, start_trainer
from trainer.fit import checkpoint as ckpt
from inpaint_studio.contracts.events import read_events


@pytest.mark.slow
def test_two_process_gloo_run(tmp_path):
    data = make_folder(tmp_path / "photos", images=3, corrupt=False)
    out, events, log = tmp_path / "run", tmp_path / "events.jsonl", tmp_path / "log.txt"
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "trainer"]
    proc = start_trainer(fit_args(data, out, events, 3, checkpoint_every=3, val_every=3, log_every=1),
                         log, module=launcher)
    try:
        rc = proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0, log.read_text()[-3000:]
    recorded = read_events(events)
    kinds = [e["event"] for e in recorded]
    assert kinds.count("start") == 1 and kinds.count("done") == 1  # rank 1 wrote nothing
    start = recorded[kinds.index("start")]
    assert start["world_size"] == 2 and start["batch_size"] == 1
    assert [e["iteration"] for e in recorded if e["event"] == "progress"] == [1, 2, 3]
    assert [e["iteration"] for e in recorded if e["event"] == "checkpoint"] == [3]
    assert recorded[-1]["status"] == "completed"
    saved = ckpt.list_checkpoints(out / "checkpoints")
    assert [i for i, _ in saved] == [3]
    payload = ckpt.load_checkpoint(saved[0][1])
    assert not any(k.startswith("module.") for k in payload["generator"])  # plain names, not DDP's
