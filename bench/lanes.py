"""Benchmark lane-detection training: data parallelism and snapshot versioning.

1. Scaling: the same recipe (global batch, epochs, seed) on 1 and on 2 processes, each
   process a ``lanes train`` with the variables a gang job gets (RANK, WORLD_SIZE,
   MASTER_ADDR/PORT; gloo on CPU, nccl on GPU), one torch thread per process. Prints
   time per epoch (median of the epochs after the first), images/s in all and per
   process, scaling efficiency (speed-up / processes), the test accuracy/FP/FN of both
   (tolerance 0.02); ``--rounds`` runs of each, the order alternating, so a changing
   load favours neither; ``--threaded-peer`` adds one process with 2 threads (the same
   cores, shared by torch).
2. Versioning: a snapshot of the volume holding data + checkpoint, against ``cp -a`` of
   the same folder (the peer); then a second snapshot after the checkpoint alone changed
   (what the next epoch's snapshot costs), against a second ``cp -a``.

Run:  .venv/bin/python bench/lanes.py [--images 600] [--epochs 6] [--size 128x64] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlfabric import snapshots, volumes
from mlfabric.apps import lanes

PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_world(data: Path, out: Path, world: int, args: argparse.Namespace,
              threads: int = 1) -> dict:
    """``lanes train`` on ``world`` processes, as a gang job starts them; rank 0's report."""
    port = str(free_port())
    cmd = [PY, "-m", "mlfabric.cli.main", "--json", "lanes", "train", "--data", str(data),
           "--out", str(out), "--epochs", str(args.epochs), "--size", args.size,
           "--batch-size", str(args.batch_size), "--width", str(args.width),
           "--threads", str(threads)]
    procs = []
    for rank in range(world):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(world),
               "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(world),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True))
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"training on {world} processes failed")
    return json.loads(outs[0])


def scaling(data: Path, work: Path, args: argparse.Namespace) -> None:
    # Rounds alternate the order (1 then 2, 2 then 1) so a load that changes during the
    # run favours neither; every epoch after the first of each run counts.
    epochs: dict[int, list[float]] = {1: [], 2: []}
    runs: dict[int, dict] = {}
    for n in range(args.rounds):
        for w in ((1, 2) if n % 2 == 0 else (2, 1)):
            out = work / f"model-{w}"
            shutil.rmtree(out, ignore_errors=True)
            runs[w] = run_world(data, out, w, args)
            epochs[w] += runs[w]["seconds_per_epoch"][1:] or runs[w]["seconds_per_epoch"]
    print(f"\n1. scaling: {runs[1]['images']} training pictures at {args.size}, global batch "
          f"{args.batch_size}, {args.epochs} epochs, {args.rounds} rounds")
    print(f"{'processes':>9} {'s/epoch':>8} {'images/s':>9} {'img/s/proc':>10} "
          f"{'accuracy':>8} {'FP':>6} {'FN':>6}")
    speed = {}
    for w, r in sorted(runs.items()):
        per_epoch = statistics.median(epochs[w])
        speed[w] = r["images"] / per_epoch
        m = r["metrics"]
        print(f"{w:>9} {per_epoch:>8.2f} {speed[w]:>9.1f} {speed[w] / w:>10.1f} "
              f"{m['accuracy']:>8.4f} {m['fp']:>6.3f} {m['fn']:>6.3f}")
    if args.threaded_peer:  # the same cores as 2 processes, in one: torch's own threads
        threaded = run_world(data, work / "model-1x2", 1, args, threads=2)
        t2 = statistics.median(threaded["seconds_per_epoch"][1:])
        print(f"(1 process with 2 torch threads: {t2:.2f} s/epoch, "
              f"{threaded['images'] / t2:.1f} images/s; 2 processes against it: "
              f"{speed[2] / (threaded['images'] / t2):.2f}x)")
    up = speed[2] / speed[1]
    gap = abs(runs[2]["metrics"]["accuracy"] - runs[1]["metrics"]["accuracy"])
    print(f"speed-up 2 vs 1 process: {up:.2f}x, scaling efficiency {up / 2:.0%} "
          f"(the seed: 2.83x on 3 GPUs, {2.83 / 3:.0%})")
    print(f"accuracy gap 2 vs 1: {gap:.4f} ({'within' if gap <= 0.02 else 'OUTSIDE'} "
          f"the 0.02 tolerance)")


def versioning(data: Path, work: Path) -> None:
    home = str(work / "home")
    volumes.create("lanes", home=home)
    vol = Path(volumes.path("lanes", home=home))
    shutil.copytree(data, vol, dirs_exist_ok=True)
    shutil.copytree(work / "model-1", vol / "model")
    size = sum(p.stat().st_size for p in vol.rglob("*") if p.is_file())

    def timed(fn) -> float:  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    cp1 = timed(lambda: subprocess.run(["cp", "-a", str(vol), str(work / "cp1")], check=True))
    snap1 = timed(lambda: snapshots.create("lanes", name="s1", home=home))
    ckpt = vol / "model" / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[::-1])  # the next epoch's checkpoint
    cp2 = timed(lambda: subprocess.run(["cp", "-a", str(vol), str(work / "cp2")], check=True))
    snap2 = timed(lambda: snapshots.create("lanes", name="s2", home=home))
    print(f"\n2. versioning: data + checkpoint, {size / 2**20:.1f} MiB in "
          f"{sum(1 for p in vol.rglob('*') if p.is_file())} files")
    print(f"first snapshot {snap1:.3f}s vs cp -a {cp1:.3f}s: {cp1 / snap1:.2f}x")
    print(f"after a new checkpoint: snapshot {snap2:.3f}s vs cp -a {cp2:.3f}s: "
          f"{cp2 / snap2:.2f}x")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=600)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--size", default="128x64")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--rounds", type=int, default=2, help="runs of each, order alternating")
    p.add_argument("--threaded-peer", action="store_true",
                   help="also 1 process with 2 torch threads")
    args = p.parse_args()
    load = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load "
          f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}, python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-lanes-") as tmp:
        work = Path(tmp)
        data = work / "data"
        lanes.make_data(str(data), images=args.images, size="256x128", seed=0)
        scaling(data, work, args)
        versioning(data, work)


if __name__ == "__main__":
    main()
