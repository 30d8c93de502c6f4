"""The ``local`` runtime through the CLI: real processes, their variables, logs,
preemption by SIGTERM, a torch.distributed gang, and a daemon killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers import MLFABRIC, Result, run_cli

LOCAL = {"MLFABRIC_RUNTIME": "local", "MLFABRIC_PREEMPT_GRACE": "5s"}
PY = sys.executable


def ok(home: Path, *args: str) -> Result:
    r = run_cli(home, *args, env=LOCAL)
    assert r.code == 0, f"{args}: {r.err}"
    return r


def job(home: Path, name: str, project: str) -> dict:
    return ok(home, "job", "get", name, "-p", project, "--json").json()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def wait_state(home: Path, name: str, project: str, state: str, step: bool = True,
               timeout: float = 60) -> dict:
    out: dict = {}

    def _check() -> bool:
        if step:
            ok(home, "scheduler", "step")
        out.update(job(home, name, project))
        return out["state"] == state

    wait_for(_check, f"{project}/{name} to be {state}", timeout)
    return out


def script(tmp: Path, name: str, body: str) -> str:
    """A job's program, given inline (``python -c``): a confined job sees no host folder
    it was not granted, so a script file under the test's tmp folder would be hidden."""
    return body


def test_env_volume_links_and_snapshot_on_complete(local_home: Path, tmp_path: Path) -> None:
    home = local_home
    ok(home, "node", "add", "n1", "--gpus", "2", "--gpu-memory", "32Gi")
    ok(home, "project", "create", "a", "--quota", "2")
    ok(home, "volume", "create", "out-vol")
    prog = script(tmp_path, "env", (
        "import json, os, pathlib\n"
        "keys = ['CUDA_VISIBLE_DEVICES', 'MLFABRIC_GPU_FRACTION', 'MLFABRIC_GPU_MEMORY_LIMIT',"
        " 'MLFABRIC_VOLUME_OUT_VOL', 'RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MY']\n"
        "pathlib.Path('data/result.json').write_text(json.dumps({k: os.environ.get(k)"
        " for k in keys}))\n"))
    ok(home, "job", "submit", "envjob", "-p", "a", "-g", "0.5", "--volume", "out-vol:data",
       "-e", "MY=value", "--snapshot-on-complete", "out-vol", "--", PY, "-c", prog)
    done = wait_state(home, "envjob", "a", "Succeeded")
    assert done["exit_code"] == 0 and done["snapshot"] == "out-vol@a-envjob"
    vol = ok(home, "volume", "path", "out-vol").out.strip()
    env = json.loads((Path(vol) / "result.json").read_text())
    assert env == {"CUDA_VISIBLE_DEVICES": "0", "MLFABRIC_GPU_FRACTION": "0.5",
                   "MLFABRIC_GPU_MEMORY_LIMIT": str(16 * 2**30),
                   "MLFABRIC_VOLUME_OUT_VOL": vol, "RANK": "0", "WORLD_SIZE": "1",
                   "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MY": "value"}
    snaps = ok(home, "snapshot", "list", "out-vol", "--json").json()
    assert [s["name"] for s in snaps] == ["a-envjob"]

    ok(home, "job", "submit", "bad", "-p", "a", "--", PY, "-c", "raise SystemExit(3)")
    failed = wait_state(home, "bad", "a", "Failed")
    assert failed["exit_code"] == 3 and failed["snapshot"] is None


def test_preemption_sends_sigterm_and_requeues(local_home: Path, tmp_path: Path) -> None:
    home = local_home
    ok(home, "node", "add", "n1", "--gpus", "2")
    ok(home, "project", "create", "lo", "--quota", "0")
    ok(home, "project", "create", "hi", "--quota", "2")
    marker = home / "jobs" / "lo" / "victim" / "work" / "sigterm.txt"  # its working folder
    prog = script(tmp_path, "victim", (
        "import signal, sys, time, pathlib\n"
        "def bye(*_):\n    pathlib.Path('sigterm.txt').write_text('got SIGTERM')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('ready', flush=True)\n"
        "while True:\n    time.sleep(0.05)\n"))
    ok(home, "job", "submit", "victim", "-p", "lo", "-g", "2", "--", PY, "-c", prog)
    running = job(home, "victim", "lo")
    assert running["state"] == "Running"
    wait_for(lambda: "ready" in ok(home, "job", "logs", "victim", "-p", "lo").out,
             "the victim to install its handler")
    ok(home, "job", "submit", "urgent", "-p", "hi", "-g", "2", "--", PY, "-c",
       "import time; time.sleep(60)")
    assert marker.read_text() == "got SIGTERM"
    victim = job(home, "victim", "lo")
    assert victim["state"] == "Pending" and victim["runs"] == 1 and victim["reason"]
    assert job(home, "urgent", "hi")["state"] == "Running"
    ok(home, "job", "delete", "urgent", "-p", "hi")
    again = wait_state(home, "victim", "lo", "Running")
    assert again["runs"] == 2


def test_logs_follow_streams_until_the_job_ends(local_home: Path) -> None:
    home = local_home
    ok(home, "node", "add", "n1", "--gpus", "1")
    ok(home, "project", "create", "a", "--quota", "1")
    ok(home, "job", "submit", "talk", "-p", "a", "--", PY, "-u", "-c",
       "import time\nfor i in range(5):\n    print('line', i)\n    time.sleep(0.2)\n")
    r = run_cli(home, "job", "logs", "talk", "-p", "a", "--follow", env=LOCAL, timeout=60)
    assert r.code == 0, r.err
    assert [x for x in r.out.splitlines() if x.startswith("line")] == \
        [f"line {i}" for i in range(5)]
    assert job(home, "talk", "a")["state"] == "Succeeded"


def test_reading_commands_see_ended_processes_without_a_scheduler_loop(
        local_home: Path) -> None:
    # No server and no `scheduler run`: only what a user types. The first job's process
    # exits on its own; `job list`, `job get` and `scheduler status` must say so (with its
    # exit code) and hand its GPU to the job waiting for it.
    home = local_home
    ok(home, "node", "add", "n1", "--gpus", "1")
    ok(home, "project", "create", "a", "--quota", "1")
    ok(home, "job", "submit", "quick", "-p", "a", "--", PY, "-c",
       "import time, sys; time.sleep(0.5); sys.exit(3)")
    ok(home, "job", "submit", "next", "-p", "a", "--", PY, "-c", "import time; time.sleep(60)")
    assert job(home, "next", "a")["state"] == "Pending"

    def listed() -> dict[str, dict]:
        return {j["name"]: j for j in ok(home, "job", "list", "-A", "--json").json()}

    wait_for(lambda: listed()["quick"]["state"] != "Running", "job list to see quick end",
             timeout=20)
    quick = listed()["quick"]
    assert (quick["state"], quick["exit_code"]) == ("Failed", 3)
    assert job(home, "next", "a")["state"] == "Running"
    status = ok(home, "scheduler", "status", "--json").json()
    assert status["running"] == 1 and status["pending"] == 0
    ok(home, "job", "delete", "next", "-p", "a")


def test_logs_follow_exits_with_the_jobs_exit_code(local_home: Path) -> None:
    home = local_home
    ok(home, "node", "add", "n1", "--gpus", "1")
    ok(home, "project", "create", "a", "--quota", "1")
    ok(home, "job", "submit", "bad", "-p", "a", "--", PY, "-c",
       "print('trying', flush=True); raise SystemExit(3)")
    r = run_cli(home, "job", "logs", "bad", "-p", "a", "--follow", env=LOCAL, timeout=60)
    assert r.code == 3, r
    assert r.out == "trying\n"
    assert "a/bad failed (exit code 3)" in r.err


GANG = """
import os, torch, torch.distributed as dist
dist.init_process_group("gloo")
t = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(t)
assert t.item() == 3.0, t
print("allreduce", os.environ["RANK"], os.environ["LOCAL_RANK"], t.item(), flush=True)
dist.destroy_process_group()
"""


def test_gang_job_runs_torch_distributed_all_reduce(local_home: Path, tmp_path: Path) -> None:
    home = local_home
    ok(home, "node", "add", "n1", "--gpus", "2")
    ok(home, "project", "create", "a", "--quota", "2")
    prog = script(tmp_path, "gang", GANG)
    ok(home, "job", "submit", "gang", "-p", "a", "-g", "1", "--processes", "2", "--",
       PY, "-c", prog)
    done = wait_state(home, "gang", "a", "Succeeded", timeout=180)
    assert done["exit_code"] == 0
    for rank in (0, 1):
        log = ok(home, "job", "logs", "gang", "-p", "a", "--rank", str(rank)).out
        assert f"allreduce {rank} {rank} 3.0" in log


def _daemon(home: Path, report: Path | None = None) -> subprocess.Popen[bytes]:
    """``scheduler run``, its report of each cycle's decisions going to ``report``."""
    with open(report or os.devnull, "wb") as out:  # the daemon keeps its own copy
        return subprocess.Popen([MLFABRIC, "--home", str(home), "scheduler", "run",
                                 "--interval", "0.2"], env={**os.environ, **LOCAL},
                                start_new_session=True, stdout=out, stderr=subprocess.DEVNULL)


def test_daemon_killed_and_restarted_keeps_every_job(local_home: Path,
                                                     tmp_path: Path) -> None:
    home = local_home
    ok(home, "node", "add", "n1", "--gpus", "3")
    ok(home, "project", "create", "a", "--quota", "3")
    gate = home / "jobs" / "a" / "ends" / "work" / "go"  # in the job's working folder
    wait_prog = script(tmp_path, "wait", (
        "import os, time\n"
        "while not os.path.exists('go'):\n    time.sleep(0.05)\n"))
    daemon = _daemon(home)
    try:
        ok(home, "job", "submit", "keeps", "-p", "a", "--", PY, "-c", prog_sleep(tmp_path))
        ok(home, "job", "submit", "ends", "-p", "a", "--", PY, "-c", wait_prog)
        ok(home, "job", "submit", "dies", "-p", "a", "--", PY, "-c", prog_sleep(tmp_path))
        ok(home, "job", "submit", "waits", "-p", "a", "-g", "2", "--", PY, "-c", "pass")
        before = {n: job(home, n, "a") for n in ("keeps", "ends", "dies", "waits")}
        assert [before[n]["state"] for n in ("keeps", "ends", "dies", "waits")] == \
            ["Running", "Running", "Running", "Pending"]
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait(timeout=30)
        gate.touch()  # "ends" exits while no daemon runs
        os.killpg(before["dies"]["pids"][0], signal.SIGKILL)  # "dies" vanishes untracked
        # The restarted daemon finds both (reading commands would too: wait for its word).
        report = tmp_path / "daemon.out"
        daemon = _daemon(home, report)
        wait_for(lambda: "finished a/ends" in report.read_text()
                 and "lost a/dies" in report.read_text(), "the daemon to see ends and dies",
                 timeout=60)
        assert job(home, "ends", "a")["state"] == "Succeeded"
        assert job(home, "dies", "a")["state"] == "Lost"
        keeps = job(home, "keeps", "a")
        assert keeps["state"] == "Running" and keeps["pids"] == before["keeps"]["pids"]
        assert keeps["started_at"] == before["keeps"]["started_at"]
        wait_for(lambda: job(home, "waits", "a")["state"] in ("Running", "Succeeded"),
                 "waits to start", timeout=60)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(timeout=30)


def prog_sleep(tmp: Path) -> str:
    return script(tmp, "sleep", "import time\ntime.sleep(120)\n")


def test_dataset_is_cached_leased_while_running_and_released(local_home: Path,
                                                              tmp_path: Path) -> None:
    home = local_home
    ok(home, "node", "add", "n1", "--gpus", "1")
    ok(home, "project", "create", "a", "--quota", "1")
    ok(home, "volume", "create", "raw")
    (home / "volumes" / "raw" / "labels.csv").write_text("cat,1\ndog,2\n")
    ok(home, "remote", "add", "lake", str(tmp_path / "lake"))
    ok(home, "dataset", "push", "raw", "--name", "pets", "--remote", "lake")
    gate = home / "jobs" / "a" / "reader" / "work" / "gate"  # in the job's working folder
    prog = script(tmp_path, "reader", (
        "import os, pathlib, time\n"
        "root = pathlib.Path(os.environ['MLFABRIC_DATASET_PETS'])\n"
        "print('rows', (root / 'labels.csv').read_text().count(chr(10)), flush=True)\n"
        "while not pathlib.Path('gate').exists():\n"
        "    time.sleep(0.05)\n"))
    ok(home, "job", "submit", "reader", "-p", "a", "-g", "1", "--dataset", "pets:v1",
       "--", PY, "-c", prog)
    wait_state(home, "reader", "a", "Running", step=False)
    [entry] = ok(home, "cache", "list", "--json").json()
    assert entry["dataset"] == "pets" and entry["leases"], entry  # held while it runs
    gate.touch()
    wait_state(home, "reader", "a", "Succeeded")
    assert "rows 2" in ok(home, "job", "logs", "reader", "-p", "a").out
    [entry] = ok(home, "cache", "list", "--json").json()
    assert not entry["leases"], entry  # released when the job ended
