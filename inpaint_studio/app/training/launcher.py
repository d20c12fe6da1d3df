"""The small parent process of a fine-tune job, started detached by the app:

    python launcher.py RUN_DIR PYTHONPATH_ENTRY -- COMMAND...

It runs COMMAND (`python -m trainer fit ...`) with its stdout and stderr appended to
RUN_DIR/stderr.log, writes RUN_DIR/process.json (its own and the trainer's pid) at the start and
RUN_DIR/exit.json (the exit status) at the end, and passes SIGTERM/SIGINT on to the trainer (which
then saves a checkpoint and stops). Because it outlives the editor, a run that crashes, is killed
for memory or finishes while the editor is closed still leaves its exit status for the editor.

It is run as a script, without the app or Qt: it imports only the run folder's contract
(inpaint_studio.contracts.runs, standard library only) from the code it belongs to.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CODE_ROOT = Path(__file__).resolve().parents[3]   # holds inpaint_studio/ (this is app/training/)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    run_dir, path_entry, command = Path(argv[0]), argv[1], argv[3:]
    sys.path.insert(0, str(CODE_ROOT))
    from inpaint_studio.contracts.runs import EXIT_FILE, LAUNCH_MARK, LOG_FILE, PROCESS_FILE

    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (path_entry, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    with open(run_dir / LOG_FILE, "a", encoding="utf-8") as log:
        log.write(f"{LAUNCH_MARK}{time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(command)}\n")
        log.flush()
        try:
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                     cwd=str(run_dir))
        except OSError as exc:
            log.write(f"could not start the trainer: {exc}\n")
            _write_json(run_dir / EXIT_FILE, {"returncode": 127, "ended": time.time(), "error": str(exc)})
            return 127

        def forward(signum, _frame):
            try:
                child.send_signal(signum)
            except OSError:
                pass

        for name in ("SIGTERM", "SIGINT", "SIGBREAK"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), forward)
        _write_json(run_dir / PROCESS_FILE, {"launcher_pid": os.getpid(), "trainer_pid": child.pid,
                                             "started": time.time()})
        while True:
            try:
                code = child.wait()
                break
            except InterruptedError:
                continue
    _write_json(run_dir / EXIT_FILE, {"returncode": code, "ended": time.time()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
