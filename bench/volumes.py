"""Benchmark mlfabric volume snapshots and clones against named peers on the same data.

Two data sets, each in its own volume: 10,000 files of 100 KiB (about 1 GiB) and
100,000 files of 4 KiB, 100 files a directory, random (incompressible, never duplicate)
content. For each, in one run:

* snapshot after a 1% change  vs  ``cp -a`` of the volume, and vs ``dvc add`` of the tree
  (after a first ``dvc add`` of the unchanged tree, so DVC's add is incremental too);
* snapshot with no change     vs  a bare in-process ``os.scandir`` + ``stat`` walk;
* ``--mode link`` clone       vs  ``cp -al``;
* ``--mode copy`` clone       vs  ``cp -a``.

mlfabric runs in-process through its Python API; DVC runs in-process too, in a helper
process of its own virtualenv (``Repo(root).add(path)``, imports paid once, as mlfabric's
are), so neither side pays interpreter start-up. Every measurement is repeated
(``--reps``, default 3), contenders alternate order between repetitions, ``sync`` runs
(untimed) before each timed step, and the median is reported. Page caches are warm: the
data fits in memory and cannot be dropped without root-only knobs.

Run:  .venv/bin/python bench/volumes.py [--small] [--skip-dvc] [--reps N]
DVC:  python3 -m venv bench/.work/dvc-venv && bench/.work/dvc-venv/bin/pip install dvc==3.67.1
Results are printed as a table and written to bench/.work/volumes-results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import stat
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlfabric import snapshots, volumes
from mlfabric.storage.fsops import filesystem_type, remove_tree

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / ".work"
DVC_VENV = WORK_DIR / "dvc-venv"
RESULTS = WORK_DIR / "volumes-results.json"
FILES_PER_DIR = 100
CHANGE_EVERY = 100  # 1% of the files change per round

# Runs inside DVC's own virtualenv: one request per line, replies with the seconds of
# ``Repo(root).add(target)`` measured in-process (the CLI's ``dvc add`` does the same call).
DVC_HELPER = """
import json, sys, time
from dvc.repo import Repo
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    t0 = time.perf_counter()
    with Repo(req["root"]) as repo:
        repo.add(req["target"])
    print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)
"""


@dataclass(frozen=True)
class Dataset:
    key: str
    files: int
    size: int

    @property
    def label(self) -> str:
        return f"{self.files:,} x {self.size // 1024} KiB"


@dataclass
class Row:
    dataset: str
    measurement: str
    peer: str
    mlfabric: list[float]
    peer_times: list[float]
    ratio_kind: str  # "speedup": peer/mlfabric (higher is better); "slowdown": mlfabric/peer
    target: float | None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def mlf_s(self) -> float:
        return statistics.median(self.mlfabric)

    @property
    def peer_s(self) -> float:
        return statistics.median(self.peer_times)

    @property
    def ratio(self) -> float:
        if self.ratio_kind == "speedup":
            return self.peer_s / self.mlf_s
        return self.mlf_s / self.peer_s

    @property
    def passed(self) -> bool | None:
        if self.target is None:
            return None
        if self.ratio_kind == "speedup":
            return self.ratio >= self.target
        return self.ratio <= self.target

    def cells(self) -> list[str]:
        label = "peer/mlf" if self.ratio_kind == "speedup" else "mlf/peer"
        op = ">=" if self.ratio_kind == "speedup" else "<="
        target = f"{label} {op} {self.target:g}" if self.target is not None else "(info)"
        verdict = {True: "PASS", False: "FAIL", None: "-"}[self.passed]
        return [self.dataset, self.measurement, f"{self.mlf_s:.3f}", self.peer,
                f"{self.peer_s:.3f}", f"{label} {self.ratio:.2f}", target, verdict]

    def to_dict(self) -> dict[str, object]:
        return {"dataset": self.dataset, "measurement": self.measurement,
                "mlfabric_s": self.mlf_s, "peer": self.peer, "peer_s": self.peer_s,
                "ratio_kind": "peer/mlfabric" if self.ratio_kind == "speedup"
                else "mlfabric/peer",
                "ratio": self.ratio, "target": self.target, "passed": self.passed,
                "mlfabric_samples": self.mlfabric, "peer_samples": self.peer_times,
                **self.extra}


# -- helpers -------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def settle() -> None:
    """Flush dirty pages (untimed) so one step's write-back is not charged to the next, and
    step past the file system's timestamp granularity."""
    os.sync()
    time.sleep(0.02)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    settle()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run(*cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(c) for c in cmd], check=True, cwd=cwd, env=env,
                   stdout=subprocess.DEVNULL)


def file_path(root: Path, i: int) -> Path:
    return root / f"d{i // FILES_PER_DIR:04d}" / f"f{i:06d}.bin"


def generate(root: Path, ds: Dataset, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(ds.files):
        p = file_path(root, i)
        if i % FILES_PER_DIR == 0:
            p.parent.mkdir()
        p.write_bytes(rng.randbytes(ds.size))


def change_one_percent(roots: list[Path], ds: Dataset, round_no: int) -> int:
    """Rewrite 1% of the files (a different 1% each round) with new content, in place, in
    every tree in ``roots`` (the same bytes in each)."""
    rng = random.Random(1000 + round_no)
    n = 0
    for i in range(round_no % CHANGE_EVERY, ds.files, CHANGE_EVERY):
        data = rng.randbytes(ds.size)
        for root in roots:
            file_path(root, i).write_bytes(data)
        n += 1
    return n


def bare_walk(root: str) -> tuple[int, int]:
    """The floor for a no-change snapshot: visit every entry and stat it, nothing else."""
    files = total = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for de in it:
                st = de.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    stack.append(de.path)
                else:
                    files += 1
                    total += st.st_size
    return files, total


def du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, names in os.walk(path):
        for n in names:
            total += os.lstat(os.path.join(dirpath, n)).st_blocks * 512
    return total


class Dvc:
    """A DVC repository (``dvc init --no-scm``) holding a copy of the tree under ``data``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.python = DVC_VENV / "bin" / "python"
        self.env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
        dvc = DVC_VENV / "bin" / "dvc"
        run(dvc, "init", "--no-scm", "-q", cwd=root, env=self.env)
        run(dvc, "config", "core.analytics", "false", cwd=root, env=self.env)
        run(dvc, "config", "core.site_cache_dir", root / ".site-cache", cwd=root, env=self.env)
        self.log = open(root.parent / "dvc-helper.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([str(self.python), "-c", DVC_HELPER], cwd=root,
                                     env=self.env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        self._reply()

    def _reply(self) -> dict[str, object]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"DVC helper died; see {self.log.name}")
        return json.loads(line)

    def add(self, target: str = "data") -> float:
        """``dvc add target``; returns the in-process seconds."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"root": str(self.root), "target": target}) + "\n")
        self.proc.stdin.flush()
        return float(self._reply()["seconds"])  # type: ignore[arg-type]

    def version(self) -> str:
        out = subprocess.run([str(DVC_VENV / "bin" / "dvc"), "--version"], env=self.env,
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.log.close()


def create_cost_us(work: Path, n: int = 500) -> float:
    """Microseconds to create one empty file in ``work``: file creation dominates anything
    that writes many small files (cp -a, copy clones, new store objects), and it varies a
    lot between file systems and machines."""
    probe = work / ".create-probe"
    remove_tree(probe)
    probe.mkdir()
    t0 = time.perf_counter()
    for i in range(n):
        os.close(os.open(probe / str(i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    cost = (time.perf_counter() - t0) / n * 1e6
    remove_tree(probe)
    return round(cost, 1)


def revision() -> str:
    """The commit of the mlfabric code measured (``+dirty`` if src/ has local changes)."""
    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(BENCH_DIR.parent), *a], capture_output=True,
                              text=True).stdout.strip()
    rev = git("rev-parse", "--short", "HEAD") or "unknown"
    return rev + ("+dirty" if git("status", "--porcelain", "--", "src") else "")


def machine(work: Path) -> dict[str, object]:
    cp = subprocess.run(["cp", "--version"], capture_output=True, text=True).stdout
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    return {"mlfabric": revision(), "nproc": os.cpu_count(),
            "affinity_cpus": len(os.sched_getaffinity(0)),
            "work_dir": str(work), "filesystem": filesystem_type(work),
            "python": platform.python_version(), "kernel": platform.release(),
            "memory_gib": round(mem / 2**30, 1), "cp": cp.splitlines()[0] if cp else "?",
            "file_create_us": create_cost_us(work),
            "loadavg": "/".join(f"{x:.1f}" for x in os.getloadavg())}


# -- one data set --------------------------------------------------------------------------
def bench_dataset(ds: Dataset, work: Path, reps: int, use_dvc: bool, keep: bool,
                  rows: list[Row], info: dict[str, object]) -> None:
    base = work / ds.key
    remove_tree(base)
    base.mkdir(parents=True)
    home = str(base / "home")
    log(f"{ds.key}: generating {ds.label} ({ds.files * ds.size / 2**30:.2f} GiB)")
    volumes.create("data", home=home)
    vol = Path(volumes.path("data", home=home))
    t0 = time.perf_counter()
    generate(vol, ds, seed=len(ds.key))
    info["generate_s"] = round(time.perf_counter() - t0, 2)

    dvc: Dvc | None = None
    trees = [vol]
    if use_dvc:
        (base / "dvc").mkdir()
        run("cp", "-a", vol, base / "dvc" / "data")
        dvc = Dvc(base / "dvc")
        info["dvc_version"] = dvc.version()
        trees.append(base / "dvc" / "data")

    def cp_copy(flags: str) -> Callable[[], float]:
        dest = base / "cp-dest"

        def go() -> float:
            s, _ = timed(lambda: run("cp", flags, vol, dest))
            shutil.rmtree(dest)
            return s
        return go

    try:
        # First snapshot / first dvc add: everything is read (reported, no target).
        s, snap = timed(lambda: snapshots.create("data", name="base", home=home))
        first = [s]
        log(f"{ds.key}: first snapshot {s:.2f}s (hashed {snap.hashed_files} files)")
        if dvc is not None:
            d = dvc.add()
            log(f"{ds.key}: first dvc add {d:.2f}s")
            rows.append(Row(ds.label, "first snapshot (all new)", "dvc add", first, [d],
                            "speedup", None))
        info["first_snapshot_s"] = s

        # 1. Snapshot after a 1% change, vs cp -a and vs dvc add.
        mlf: list[float] = []
        cpa: list[float] = []
        dv: list[float] = []
        hashed: list[int] = []
        last = "base"
        for r in range(reps):
            changed = change_one_percent(trees, ds, r)
            name = f"c{r}"

            def snap_changed(name: str = name) -> float:
                s, out = timed(lambda: snapshots.create("data", name=name, home=home))
                hashed.append(out.hashed_files)  # type: ignore[attr-defined]
                return s

            steps: list[tuple[list[float], Callable[[], float]]] = [
                (mlf, snap_changed), (cpa, cp_copy("-a"))]
            if dvc is not None:
                steps.append((dv, lambda: timed(dvc.add)[0]))
            for bucket, step in steps if r % 2 == 0 else steps[::-1]:
                bucket.append(step())
            last = name
            log(f"{ds.key}: 1% change round {r}: {changed} files changed; mlfabric "
                f"{mlf[-1]:.3f}s cp -a {cpa[-1]:.3f}s"
                + (f" dvc add {dv[-1]:.3f}s" if dv else ""))
        extra = {"changed_files_per_round": ds.files // CHANGE_EVERY, "hashed_files": hashed}
        rows.append(Row(ds.label, "snapshot, 1% changed", "cp -a", mlf, cpa, "speedup", 20,
                        extra))
        if dv:
            rows.append(Row(ds.label, "snapshot, 1% changed", "dvc add", mlf, dv, "speedup",
                            2, extra))

        # 2. Snapshot with no change, vs a bare scandir + stat walk.
        mlf, walk = [], []
        hashed = []
        for r in range(reps):
            def snap_same(name: str = f"n{r}") -> float:
                s, out = timed(lambda: snapshots.create("data", name=name, home=home))
                hashed.append(out.hashed_files)  # type: ignore[attr-defined]
                return s

            steps = [(mlf, snap_same), (walk, lambda: timed(lambda: bare_walk(str(vol)))[0])]
            for bucket, step in steps if r % 2 == 0 else steps[::-1]:
                bucket.append(step())
        log(f"{ds.key}: no-change snapshot {mlf} walk {walk}")
        rows.append(Row(ds.label, "snapshot, no change", "scandir+stat walk", mlf, walk,
                        "slowdown", 1.5 if ds.files >= 100_000 else None,
                        {"hashed_files": hashed}))

        # 3/4. Clones of the last snapshot, vs cp -al / cp -a of the volume. cp -al changes
        # the live files' ctime (link count), so this comes after every snapshot step.
        for mode, flags, target in (("link", "-al", 1.5), ("copy", "-a", None)):
            mlf, peer = [], []
            for r in range(reps):
                def clone(name: str = f"{mode}{r}", mode: str = mode) -> float:
                    s, _ = timed(lambda: volumes.clone(name, f"data@{last}", mode=mode,
                                                       home=home))
                    volumes.delete(name, home=home)
                    return s

                steps = [(mlf, clone), (peer, cp_copy(flags))]
                for bucket, step in steps if r % 2 == 0 else steps[::-1]:
                    bucket.append(step())
            log(f"{ds.key}: {mode} clone {mlf} cp {flags} {peer}")
            rows.append(Row(ds.label, f"clone --mode {mode}", f"cp {flags}", mlf, peer,
                            "slowdown", target))
        info["store_bytes"] = du(base / "home" / "objects")
    finally:
        if dvc is not None:
            dvc.close()
        if not keep:
            remove_tree(base)


def print_table(rows: list[Row]) -> None:
    head = ["data set", "measurement", "mlfabric s", "peer", "peer s", "ratio", "target",
            "result"]
    body = [r.cells() for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    for line in [head, ["-" * w for w in widths], *body]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="1/20 of the data (a smoke run)")
    ap.add_argument("--skip-dvc", action="store_true", help="leave out the DVC peer")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per measurement (median)")
    ap.add_argument("--dataset", choices=["100KiB", "4KiB"], action="append",
                    help="run only this data set (repeatable)")
    ap.add_argument("--work", type=Path, default=WORK_DIR / "volumes",
                    help="scratch directory (default bench/.work/volumes)")
    ap.add_argument("--keep", action="store_true", help="keep the data afterwards")
    ap.add_argument("--results", type=Path, default=RESULTS,
                    help="JSON output (default bench/.work/volumes-results.json)")
    args = ap.parse_args(argv)

    use_dvc = not args.skip_dvc
    if use_dvc and not (DVC_VENV / "bin" / "python").exists():
        print(f"DVC virtualenv missing at {DVC_VENV}; create it (see --help) or pass "
              "--skip-dvc", file=sys.stderr)
        return 2
    div = 20 if args.small else 1
    datasets = [Dataset("100KiB", 10_000 // div, 100 * 1024),
                Dataset("4KiB", 100_000 // div, 4 * 1024)]
    datasets = [d for d in datasets if not args.dataset or d.key in args.dataset]

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    info = machine(work)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    print(f"data: {', '.join(d.label for d in datasets)}; reps={args.reps} (median), "
          f"contenders alternate order, sync before each timed step, page cache warm",
          flush=True)

    started = time.perf_counter()
    rows: list[Row] = []
    per_dataset: dict[str, dict[str, object]] = {}
    for ds in datasets:
        per_dataset[ds.key] = {"files": ds.files, "file_size": ds.size}
        bench_dataset(ds, work, args.reps, use_dvc, args.keep, rows, per_dataset[ds.key])
    elapsed = time.perf_counter() - started

    load = os.getloadavg()
    print()
    print_table(rows)
    print(f"\nmedian of {args.reps}; seconds are wall time; total run {elapsed:.0f}s; "
          f"load average at start {info['loadavg']}, at end {load[0]:.1f}/{load[1]:.1f}/"
          f"{load[2]:.1f} on {info['nproc']} CPUs (other work on the machine skews ratios)")
    failed = [r for r in rows if r.passed is False]
    print("targets: " + ("all met" if not failed else
                         f"{len(failed)} missed: " + "; ".join(
                             f"{r.dataset} {r.measurement} vs {r.peer}" for r in failed)))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({
        "machine": info, "small": args.small, "reps": args.reps, "statistic": "median",
        "elapsed_s": elapsed, "datasets": per_dataset,
        "results": [r.to_dict() for r in rows]}, indent=2) + "\n")
    print(f"results: {args.results}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
