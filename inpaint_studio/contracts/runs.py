"""A run folder: the files that the app (job.json), the app's launcher (process.json,
exit.json, stderr.log) and the trainer (run.json, events.jsonl, checkpoints/, samples/, STOP)
write in it, and the statuses a run ends in."""
from __future__ import annotations

JOB_FILE = "job.json"           # the app, at launch: name, folder, settings, the command
PROCESS_FILE = "process.json"   # the launcher: its pid and the trainer's
EXIT_FILE = "exit.json"         # the launcher, when the trainer has ended: its exit status
LOG_FILE = "stderr.log"         # the trainer's stderr, one LAUNCH_MARK header per launch
LAUNCH_MARK = "=== launch "
EVENTS_FILE = "events.jsonl"    # the trainer's events (trainer/EVENTS.md), appended by every launch
RUN_FILE = "run.json"           # the trainer: the resolved config, data summary, base model, hardware
STOP_FILE = "STOP"              # created by anyone, it stops the run like SIGTERM (also on Windows)
CHECKPOINTS_DIR = "checkpoints"
CHECKPOINT_PREFIX, CHECKPOINT_SUFFIX = "ckpt-", ".safetensors"   # ckpt-000001000.safetensors
CHECKPOINT_GLOB = f"{CHECKPOINT_PREFIX}*{CHECKPOINT_SUFFIX}"
SAMPLES_DIR = "samples"

# how a run stands; `done` events carry COMPLETED or STOPPED
RUNNING, COMPLETED, STOPPED, FAILED, INTERRUPTED = "running", "completed", "stopped", "failed", "interrupted"
STATUS_LABELS = {RUNNING: "Running", COMPLETED: "Completed", STOPPED: "Stopped", FAILED: "Failed",
                 INTERRUPTED: "Interrupted"}
