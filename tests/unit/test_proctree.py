"""Process trees by pid and start time, and the workspace launcher's record of them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mlfabric import proctree
from mlfabric.workspaces import processes


def test_a_tree_reaches_children_in_sessions_of_their_own_and_ends_them() -> None:
    code = ("import subprocess, sys, time; "
            "subprocess.Popen(['sleep', '60'], start_new_session=True); "
            "print('go', flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None and parent.stdout.readline() == b"go\n"
        below = proctree.descendants(parent.pid)
        assert len(below) == 1 and b"sleep" in Path(f"/proc/{below[0][0]}/cmdline").read_bytes()
        assert proctree.end(below, grace_s=1.0) == []
        assert proctree.alive(below) == []
        assert proctree.start_time(parent.pid) is not None
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()  # type: ignore[union-attr]


def test_a_reused_pid_is_not_the_process_recorded() -> None:
    me = proctree.start_time(1)
    assert me is not None
    assert proctree.alive([(1, me + 1)]) == []
    assert proctree.alive([(1, me)]) == [(1, me)]


def test_the_record_is_read_only_in_the_pid_namespace_that_wrote_it(tmp_path: Path) -> None:
    record = tmp_path / "processes.json"
    processes.save(record, [(1234, 99)])
    assert processes.load(record) == [(1234, 99)]
    # a sandboxed launcher's pids mean other processes here: never signalled
    written = json.loads(record.read_text())
    record.write_text(json.dumps({**written, "pid_namespace": "pid:[1]"}))
    assert processes.load(record) == []
    record.write_text("[[1234, 99]]")  # the old format, or anything else unreadable
    assert processes.load(record) == []
    assert processes.load(tmp_path / "missing.json") == []
