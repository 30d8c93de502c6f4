"""Benchmark the CLI's start-up against the bare imports a CLI needs, in one run.

Each command runs as a new process, as a user types it; the peers are the interpreter
importing what any typer CLI over SQLAlchemy must import:

* ``mlfabric --help``                              vs  ``python -c "import typer"``
* ``mlfabric volume list`` (3 volumes)             vs  ``python -c "import typer, sqlalchemy"``
* ``mlfabric snapshot create`` of a 20-file volume vs  ``python -c "import typer, sqlalchemy"``
* ``mlfabric job list`` (a few jobs)                vs  ``python -c "import typer, sqlalchemy"``

Targets (issue 13): ``--help`` at most 2x its peer; ``volume list`` and ``snapshot
create`` at most 1.5x theirs. Contenders alternate within each repetition, and the
median of the repetitions is reported with min and max.

Run:  .venv/bin/python bench/cli.py [--reps 15]
Results are printed and written to bench/.work/cli-results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
MLFABRIC = str(BIN / "mlfabric")
TARGETS = {"help": 2.0, "volume list": 1.5, "snapshot create": 1.5, "job list": None}


def _time(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - t0


def _setup(home: str, env: dict[str, str]) -> None:
    def run(*args: str) -> None:
        subprocess.run([MLFABRIC, "--home", home, *args], env=env, check=True,
                       stdout=subprocess.DEVNULL)

    for v in ("a", "b", "c"):
        run("volume", "create", v)
    root = Path(home) / "volumes" / "a"
    for i in range(20):
        (root / f"f{i}.txt").write_text(f"file {i}\n" * 50)
    run("node", "add", "n1", "--gpus", "8", "--runtime", "sim")
    run("project", "create", "p", "--quota", "4")
    for j in range(3):
        run("job", "submit", f"j{j}", "-p", "p", "-g", "1", "--", "true")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="mlfabric-bench-cli-")
    env = {**os.environ, "MLFABRIC_HOME": home}
    env.pop("MLFABRIC_SERVER", None)
    _setup(home, env)
    py = sys.executable
    pairs = {
        "help": ([MLFABRIC, "--help"], [py, "-c", "import typer"]),
        "volume list": ([MLFABRIC, "volume", "list"], [py, "-c", "import typer, sqlalchemy"]),
        "snapshot create": ([MLFABRIC, "snapshot", "create", "a"],
                            [py, "-c", "import typer, sqlalchemy"]),
        "job list": ([MLFABRIC, "job", "list", "-A"], [py, "-c", "import typer, sqlalchemy"]),
    }
    for ours, peer in pairs.values():  # warm the page cache and .pyc files, untimed
        _time(ours, env)
        _time(peer, env)
    times: dict[str, dict[str, list[float]]] = {k: {"ours": [], "peer": []} for k in pairs}
    for rep in range(args.reps):
        for name, (ours, peer) in pairs.items():
            order = [("ours", ours), ("peer", peer)]
            for who, cmd in (order if rep % 2 == 0 else order[::-1]):
                times[name][who].append(_time(cmd, env))
    results = {}
    print(f"CLI start-up, {args.reps} runs each, median (min-max) seconds; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    for name, t in times.items():
        ours, peer = statistics.median(t["ours"]), statistics.median(t["peer"])
        ratio = ours / peer
        target = TARGETS[name]
        verdict = "" if target is None else (
            f"  target <= {target:.1f}x: {'met' if ratio <= target else 'NOT met'}")
        print(f"  {name:<16} {ours:.3f} ({min(t['ours']):.3f}-{max(t['ours']):.3f})  vs peer "
              f"{peer:.3f} ({min(t['peer']):.3f}-{max(t['peer']):.3f})  = {ratio:.2f}x"
              f"{verdict}")
        results[name] = {"ours": t["ours"], "peer": t["peer"], "ratio": ratio,
                         "target": target}
    out = Path(__file__).parent / ".work" / "cli-results.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
