"""Damaged project files and recovery notes in the editor: one message, never a traceback; a bad
autosave is moved aside (not deleted) and the next start goes on; a fuzzed note never stops the
recovery scan."""
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ora_samples import BAD_ORA, valid_ora
from test_app_support import make_window, photo_path, window  # noqa: F401 (fixtures)

from inpaint_studio.app.document.recovery import DAMAGED
from inpaint_studio.app.editor.autosave import RecoveryManager
from inpaint_studio.paths import recovery_dir

DEAD_PID = 2**22 + 12345  # above the usual pid_max: no such process


@pytest.mark.parametrize("case", ["bad CRC in a layer", "encrypted member", "PPMd compression",
                                  "3000-deep nesting", 'x="inf"', 'w="nan"'])
def test_opening_a_damaged_project_shows_one_message(window, photo_path, tmp_path, case):
    assert window.files.open_path(photo_path)
    bad = tmp_path / "bad.ora"
    BAD_ORA[case](bad)
    assert not window.files.open_path(bad)
    text = window.banner.text()
    assert text.startswith("Could not open bad.ora: ") and "\n" not in text
    assert window.document.source_path == photo_path          # the open photo stays


def _orphan(session: str, ora_maker=valid_ora, note=None) -> tuple:
    folder = recovery_dir()
    ora = ora_maker(folder / f"session-{session}.ora")
    path = folder / f"session-{session}.json"
    if isinstance(note, bytes):
        path.write_bytes(note)
    else:
        path.write_text(json.dumps(note if note is not None else
                                   {"pid": DEAD_PID, "session": session, "saved_at": 1.7e9, "title": "t.png"}))
    return ora, path


def test_a_damaged_autosave_is_set_aside_and_the_next_start_goes_on(qtbot):
    ora, note = _orphan("bad0001", lambda p: BAD_ORA["bad CRC in a layer"](p) or p)
    good, _ = _orphan("good001", note={"pid": DEAD_PID, "session": "good001", "saved_at": 1.6e9,
                                       "title": "kept.png"})
    first = make_window(qtbot, autosave=True)
    first.prompter.restore_answer = True
    assert first.files.offer_recovery()                              # the good one after the bad one
    assert "Restored" in first.banner.text()
    kept = recovery_dir() / DAMAGED
    assert not ora.exists() and not note.exists()
    assert (kept / ora.name).is_file() and (kept / note.name).is_file()    # moved, not deleted
    first.files.recovery.wait()

    second = make_window(qtbot, autosave=True)                 # no second question about it
    second.files.offer_recovery()
    asked = [title for kind, title in second.prompter.asked if kind == "restore"]
    assert "t.png" not in asked


def test_a_damaged_autosave_alone_gives_one_message(qtbot):
    _orphan("bad0002", lambda p: BAD_ORA["encrypted member"](p) or p)
    win = make_window(qtbot, autosave=True)
    win.prompter.restore_answer = True
    assert not win.files.offer_recovery()
    text = win.banner.text()
    assert "could not be read" in text and "encrypted" in text and f"moved to {recovery_dir() / DAMAGED}" in text


@pytest.mark.parametrize("note", [{"pid": "not-a-pid", "session": "x"}, [1, 2, 3], b"\xff\xfe{", b"[" * 100_000,
                                  {"pid": True, "saved_at": "yesterday", "title": 7},
                                  {"pid": 1.5, "saved_at": 1e300}, b"NaN", b""])
def test_a_damaged_note_does_not_stop_the_scan_and_its_autosave_is_offered(qtbot, note):
    ora, _ = _orphan("note001", note=note)
    win = make_window(qtbot, autosave=True)
    found = win.files.recovery.orphans()
    assert [f.ora for f in found] == [ora]
    assert found[0].saved_at and found[0].title                  # shown in the question
    win.prompter.restore_answer = True
    assert win.files.offer_recovery()


def test_leftover_temporaries_of_a_killed_autosave_are_removed(qtbot):
    folder = recovery_dir()
    stale = folder / f".session-abc.ora.{DEAD_PID}-0123abcd.tmp"
    stale.write_bytes(b"half")
    live = folder / f".session-def.ora.{os.getpid()}-0123abcd.tmp"
    live.write_bytes(b"being written")
    make_window(qtbot, autosave=True).files.recovery.orphans()
    assert not stale.exists() and live.exists()


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=12)
NOTE = st.fixed_dictionaries({}, optional={"pid": JSON, "session": JSON, "saved_at": JSON, "title": JSON,
                                           "source": JSON, "project_path": JSON}) | JSON


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(note=NOTE, raw=st.one_of(st.none(), st.binary(max_size=40)))
def test_fuzz_recovery_notes(qtbot, note, raw):
    folder = recovery_dir()
    ora = folder / "session-fuzz.ora"
    if not ora.exists():
        valid_ora(ora)
    path = folder / "session-fuzz.json"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(json.dumps(note), encoding="utf-8")
    manager = RecoveryManager(lambda: None, interval_minutes=0)
    for found in manager.orphans():                       # never raises; whatever is offered can be shown
        assert isinstance(found.title, str) and isinstance(found.saved_at, str)
