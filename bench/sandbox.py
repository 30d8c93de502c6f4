"""Benchmark the sandbox's start-up overhead: a confined start against an unconfined one,
and ``job exec`` into a running sandbox against a plain process, in one run.

* job start: the local runtime's command, ``python -m ...launch EXIT -- python -c pass``,
  under ``bwrap``+``setpriv`` (the grant of a job with two volumes and a dataset entry)
  vs the same command unconfined;
* exec: ``nsenter`` into a running sandbox, ``setpriv``, ``env -C DIR true``
  vs ``true``.

Target (issue 14): at most 50 ms over the unconfined start, for a job and for an exec.
Needs root and bubblewrap (``make test`` installs it). Contenders alternate; the median of
the repetitions is reported with min and max.

Run:  .venv/bin/python bench/sandbox.py [--reps 21]
Results are printed and written to bench/.work/sandbox-results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlfabric.scheduler import sandbox

LAUNCH = "mlfabric.scheduler.runtimes.launch"


def _time(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=21)
    args = ap.parse_args()
    sandbox.check()
    root = Path(tempfile.mkdtemp(prefix="mlfabric-bench-sandbox-"))
    job, vol, data = root / "job", root / "vol", root / "entry"
    for d in (job / "work", vol, data):
        d.mkdir(parents=True)
    uid = sandbox.UID_BASE
    for d in (job, vol):
        sandbox.own(str(d), uid, uid)
    grant = sandbox.Grant(uid=uid, gid=uid, workdir=str(job / "work"),
                          rw=(str(job), str(vol)), ro=(str(data),), env={"RANK": "0"})
    inner = [sys.executable, "-m", LAUNCH, str(job / "rank-0.exit"), "--", sys.executable,
             "-c", "pass"]
    confined, plain = sandbox.wrap(grant, inner), inner
    sleeper = subprocess.Popen(sandbox.wrap(grant, ["sleep", "600"]), start_new_session=True)
    try:
        time.sleep(0.5)
        children = Path(f"/proc/{sleeper.pid}/task/{sleeper.pid}/children").read_text().split()
        enter = sandbox.enter(int(children[0]), grant, ["true"])
        pairs = {"job start": (confined, plain), "exec": (enter, ["true"])}
        for ours, peer in pairs.values():  # warm up, untimed
            _time(ours)
            _time(peer)
        times = {k: {"ours": [], "peer": []} for k in pairs}
        for rep in range(args.reps):
            for name, (ours, peer) in pairs.items():
                order = [("ours", ours), ("peer", peer)]
                for who, cmd in (order if rep % 2 == 0 else order[::-1]):
                    times[name][who].append(_time(cmd))
    finally:
        os.killpg(sleeper.pid, 9)
        sleeper.wait()
    print(f"sandbox start-up, {args.reps} runs each, median (min-max) seconds; "
          f"{os.cpu_count()} cores")
    results = {}
    for name, t in times.items():
        ours, peer = statistics.median(t["ours"]), statistics.median(t["peer"])
        over = (ours - peer) * 1000
        print(f"  {name:<10} confined {ours:.4f} ({min(t['ours']):.4f}-{max(t['ours']):.4f})"
              f"  unconfined {peer:.4f} ({min(t['peer']):.4f}-{max(t['peer']):.4f})"
              f"  overhead {over:.1f} ms  target <= 50 ms: {'met' if over <= 50 else 'NOT met'}")
        results[name] = {**t, "overhead_ms": over}
    out = Path(__file__).parent / ".work" / "sandbox-results.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
