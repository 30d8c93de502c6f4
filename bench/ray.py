"""Benchmark the ``ray`` runtime against its peers, on a loopback Ray cluster started here
(a head and two worker nodes with 4 fake GPUs each, every process on 127.0.0.1).

1. Job start latency: submit to the job's process running (its first output line), one
   job at a time, on the ``ray`` runtime and on the ``local`` runtime (same command,
   same home layout). Median of ``--starts`` jobs; ratio ray / local.
2. Throughput of short jobs: ``--jobs`` jobs of a quarter GPU each (command ``true``)
   through mlfabric on Ray, submitted two ways: one ``jobs.submit`` after another, each
   running its own cycle that starts its job before it returns ("submitted"), and all
   queued with ``queue_only=True`` ("queued"); then cycles until every one has ended.
   Against the same number of plain Ray tasks with the same resource shape
   (``num_gpus=0.25``), each running the same command as a subprocess. Jobs per second
   of each; ratios. Target: mlfabric+Ray within 2x of plain Ray. The three alternate in
   blocks of ``--block`` (so all see the same load on a shared machine), and the totals
   so far are printed after each round of blocks.

Run:  .venv/bin/python bench/ray.py [--jobs 1000] [--block 100] [--starts 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# this file is ray.py: its folder must not hide the ray package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # loopback only (read at import)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ["MLFABRIC_UNSAFE_NO_SANDBOX"] = "1"  # the peers run unconfined too

from mlfabric import jobs, nodes, projects  # noqa: E402

PY = sys.executable
UP = "print('up', flush=True); import time; time.sleep(0.2)"


def _node(**extra: object) -> dict[str, object]:
    return {"node_ip_address": "127.0.0.1", "include_dashboard": False, "num_cpus": 4,
            "object_store_memory": 80 * 1024 * 1024, **extra}


def start_cluster() -> object:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, shutdown_at_exit=True,
                      head_node_args=_node(num_gpus=0))
    for name in ("ray-a", "ray-b"):
        cluster.add_node(**_node(num_gpus=4, labels={"mlfabric.io/node": name}))
    cluster.wait_for_nodes()
    return cluster


def _wait(check: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.01)


def start_latency(home: str, runtime: str, n: int) -> float:
    """Median seconds from submit to the job's first output line."""
    os.environ["MLFABRIC_RUNTIME"] = runtime
    projects.create("p", quota=8, home=home)
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        jobs.submit(f"s{i}", project="p", gpus="1", command=[PY, "-c", UP], home=home)
        log = Path(jobs.log_path(f"s{i}", project="p", home=home))
        _wait(lambda log=log: log.exists() and b"up" in log.read_bytes())
        out.append(time.perf_counter() - t0)
        jobs.delete([f"s{i}"], project="p", home=home)
    return statistics.median(out)


def mlfabric_block(home: str, first: int, n: int, *, queued: bool = False) -> float:
    """Seconds for ``n`` quarter-GPU jobs through mlfabric on Ray (``t<first>`` on), with
    cycles run back to back (as a daemon with no interval) until none runs or waits;
    ``queued``: submitted without a cycle each (``queue_only``)."""
    t0 = time.perf_counter()
    for i in range(first, first + n):
        jobs.submit(f"t{i}", project="t", gpus="0.25", command=["true"], queue_only=queued,
                    home=home)
    _wait(lambda: (lambda r: r.running + r.pending == 0)(jobs.step(home=home)),
          timeout=3 * 3600)
    took = time.perf_counter() - t0
    states = [j.state for j in jobs.list(project="t", home=home)]
    assert states == ["Succeeded"] * (first + n), {s: states.count(s) for s in set(states)}
    return took


def ray_block(n: int) -> float:
    """Seconds for ``n`` plain Ray tasks of the same shape running ``true``."""
    import ray

    @ray.remote(num_gpus=0.25, num_cpus=0)
    def short() -> int:
        return subprocess.run(["true"], check=False).returncode

    t0 = time.perf_counter()
    codes = ray.get([short.remote() for _ in range(n)])
    assert codes == [0] * n
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--block", type=int, default=100)
    ap.add_argument("--starts", type=int, default=10)
    args = ap.parse_args()
    print(f"# {platform.node()} {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}")
    cluster = start_cluster()
    address = cluster.address  # type: ignore[attr-defined]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local_home, ray_home, thr_home = (os.path.join(tmp, h) for h in ("l", "r", "t"))
            nodes.add("n1", gpus=8, runtime="local", home=local_home)
            local = start_latency(local_home, "local", args.starts)
            nodes.sync(runtime="ray", address=address, home=ray_home)
            on_ray = start_latency(ray_home, "ray", args.starts)
            print(f"start latency (median of {args.starts}): local {local * 1000:.0f} ms, "
                  f"ray {on_ray * 1000:.0f} ms, ratio ray/local {on_ray / local:.1f}x",
                  flush=True)
            queued_home = os.path.join(tmp, "q")
            for home in (thr_home, queued_home):
                nodes.sync(runtime="ray", address=address, home=home)
                projects.create("t", quota=8, home=home)
            done, ours_s, queued_s, plain_s = 0, 0.0, 0.0, 0.0
            while done < args.jobs:
                n = min(args.block, args.jobs - done)
                ours_s += mlfabric_block(thr_home, done, n)
                queued_s += mlfabric_block(queued_home, done, n, queued=True)
                plain_s += ray_block(n)
                done += n
                ours, queued, plain = done / ours_s, done / queued_s, done / plain_s
                print(f"throughput of {done} quarter-GPU jobs: mlfabric+Ray submitted "
                      f"{ours:.2f} jobs/s (ratio {plain / ours:.2f}x), queued {queued:.2f} "
                      f"jobs/s (ratio {plain / queued:.2f}x); plain Ray tasks {plain:.2f} "
                      f"tasks/s (target <= 2x), load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
