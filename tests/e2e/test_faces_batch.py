"""The batch scenario: ``mlfabric job submit`` runs ``faces eval`` on the local runtime
over a dataset on a volume, clean and with ``--noisy``; the logs end in the AP lines."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from tests.helpers import Result, run_cli

LOCAL = {"MLFABRIC_RUNTIME": "local"}
PY = sys.executable
AP_TAIL = [r"Fddb-fold-9 Val AP: \d\.\d{4}", r"Fddb-fold-10 Val AP: \d\.\d{4}",
           r"Fddb Dataset Average AP: \d\.\d{4}", r"mAP: \d\.\d{4}"]


def ok(home: Path, *args: str) -> Result:
    r = run_cli(home, *args, env=LOCAL, timeout=180)
    assert r.code == 0, f"{args}: {r.err}"
    return r


def finished(home: Path, name: str, timeout: float = 150) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        ok(home, "scheduler", "step")
        job = ok(home, "job", "get", name, "-p", "vision", "--json").json()
        if job["state"] in ("Succeeded", "Failed"):
            return job
        assert time.monotonic() < deadline, f"timed out waiting for {name}: {job}"
        time.sleep(0.3)


def test_faces_eval_as_batch_jobs_on_a_volume(local_home: Path) -> None:
    home = local_home
    ok(home, "node", "add", "n1", "--gpus", "1")
    ok(home, "project", "create", "vision", "--quota", "1")
    ok(home, "volume", "create", "faces")
    vol = ok(home, "volume", "path", "faces").out.strip()
    ok(home, "faces", "make-dataset", vol, "--images", "20", "--size", "128")
    ok(home, "faces", "train", "--dataset", vol, "--size", "128", "--epochs", "1",
       "--batch-size", "8", "--limit", "2")
    eval_cmd = [PY, "-m", "mlfabric.cli.main", "faces", "eval", "--dataset", "data", "--limit",
                "2"]
    runs = {"eval-clean": eval_cmd,
            "eval-noisy": [*eval_cmd, "--noisy", "--alpha", "0.5", "--fit-epochs", "1"]}
    for name, command in runs.items():  # one at a time: two trainings would share 2 cores
        ok(home, "job", "submit", name, "-p", "vision", "--volume", "faces:data", "--",
           *command)
        job = finished(home, name)
        log = ok(home, "job", "logs", name, "-p", "vision").out
        assert job["state"] == "Succeeded", log
        tail = log.strip().splitlines()[-4:]
        assert all(re.fullmatch(p, line) for p, line in zip(AP_TAIL, tail, strict=True)), log
    noisy_log = ok(home, "job", "logs", "eval-noisy", "-p", "vision").out
    assert re.search(r"^learned noise at alpha 0.5 after pool2: SNR", noisy_log, re.M)
    assert "learned noise" not in ok(home, "job", "logs", "eval-clean", "-p", "vision").out
