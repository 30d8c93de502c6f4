"""Engines as ranks of a gang (what each rank runs, which rank leads), and the Dask
scheduler file read as untrusted input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlfabric.errors import InvalidInput
from mlfabric.scheduler import engines
from mlfabric.scheduler.engines import dask


def test_dask_ranks_are_a_scheduler_and_workers_on_loopback(tmp_path: Path) -> None:
    spec = {"engine": "dask", "command": [], "gpus": 0.5}
    ranks = engines.rank_commands(spec, tmp_path, 3, python="py")
    sched_file = str(tmp_path / "dask-scheduler.json")
    assert ranks[0] == ["py", "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
                        "--dashboard-address", "127.0.0.1:0", "--scheduler-file", sched_file]
    assert ranks[2] == ["py", "-m", "dask", "worker", "--scheduler-file", sched_file,
                        "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0",
                        "--no-nanny", "--name", "rank-2", "--resources", "GPU=0.5"]
    assert engines.leader(spec) is None  # a service: ends only when a rank does
    spec["command"] = ["python", "job.py"]
    ranks = engines.rank_commands(spec, tmp_path, 3, python="py")
    assert ranks[0] == ["py", "-m", "mlfabric.scheduler.engines.dask_driver", sched_file, "2",
                        "--", "python", "job.py"]
    assert engines.leader(spec) == 0
    plain = {"command": ["python", "job.py"]}
    assert engines.rank_commands(plain, tmp_path, 2) == [["python", "job.py"]] * 2
    assert engines.leader(plain) is None


@pytest.mark.parametrize(("engine", "processes", "message"), [
    ("dask", 1, "a Dask cluster needs a scheduler and at least one worker"),
    ("spark", 2, "unknown engine 'spark'"),
])
def test_bad_engine_specs_are_refused(engine: str, processes: int, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        engines.check(engine, processes, [])


def _write(path: Path, data: object) -> None:
    path.write_text(json.dumps(data))


def test_the_scheduler_file_is_read_as_untrusted(tmp_path: Path) -> None:
    f = dask.scheduler_file(tmp_path)
    assert dask.endpoints(tmp_path) == {}  # not up yet
    _write(f, {"address": "tcp://127.0.0.1:8786", "services": {"dashboard": 8787}})
    assert dask.endpoints(tmp_path) == {"scheduler": "tcp://127.0.0.1:8786",
                                        "dashboard": "http://127.0.0.1:8787/status"}
    assert engines.variables({"engine": "dask"}, tmp_path)["MLFABRIC_DASK_ADDRESS"] == \
        "tcp://127.0.0.1:8786"
    _write(f, {"address": "tcp://127.0.0.1:8786", "services": {"dashboard": "x"}})
    assert dask.endpoints(tmp_path) == {"scheduler": "tcp://127.0.0.1:8786"}
    for address in ("tcp://10.0.0.1:8786", "tcp://127.0.0.1:8786/evil", 8786, None):
        _write(f, {"address": address})
        assert dask.endpoints(tmp_path) == {}, address
    f.write_text("{partial")
    assert dask.endpoints(tmp_path) == {}
    # A job that swaps the file for a link (to a file only root reads) or a FIFO (which
    # would block the reader) is not followed.
    secret = tmp_path / "secret.json"
    _write(secret, {"address": "tcp://127.0.0.1:1"})
    f.unlink()
    f.symlink_to(secret)
    assert dask.endpoints(tmp_path) == {}
    f.unlink()
    os.mkfifo(f)
    assert dask.endpoints(tmp_path) == {}
    engines.prepare({"engine": "dask"}, tmp_path)  # a new run starts without it
    assert not f.exists()
