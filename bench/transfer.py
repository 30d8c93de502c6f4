"""Benchmark mlfabric's bulk transfer and cache warm-up against named peers, one run.

Data: 2,000 files of random (incompressible) content, sizes log-uniform from 4 KiB to
8 MiB (about 2.2 GB), 50 files a folder. Measurements, each against its peer on the
same data:

* local-to-local sync into an empty folder      vs  ``rclone sync``
* local-to-S3 sync into an empty prefix          vs  ``rclone sync`` (same loopback S3
  endpoint: a moto server in its own process, fresh for each repetition)
* no-op re-sync (nothing changed), local and S3 vs  ``rclone sync``
* cache warm-up (``cache add`` of a dataset version pushed to a lake in a local folder)
  vs  ``cp -r`` of the same files; reported as throughput.
* tiny files: 50,000 files of 256 B (100 folders), local to local:
  sync into an empty folder vs ``cp -a SRC DST && sync -f DST`` (cp plus one flush of
  the destination's file system: the durability mlfabric's sync gives), target 1.5x;
  the no-op re-sync vs ``rclone sync``, target 1.0x.

rclone runs with ``--transfers 8`` (mlfabric's default of 8 workers) and otherwise its
defaults. mlfabric runs in-process through its Python API (as rclone, one process per
command; imports are paid once, the first call is untimed warm-up); ``--cli`` adds one
timed run of the ``mlfabric`` command line for reference. Page caches are warm, dirty
pages are flushed (untimed) before each step, contenders alternate order between
repetitions, and the median is reported.

Run:  .venv/bin/python bench/transfer.py [--files 2000] [--reps 3] [--s3-reps 1] [--cli]
      [--tiny-files 50000] [--tiny-only]
Needs rclone (Debian: apt-get install -y rclone) and the test extras (moto[s3], s3fs).
Results are printed and written to bench/.work/transfer-results.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlfabric import caches, datasets, remotes, snapshots, transfer, volumes
from mlfabric.storage.fsops import filesystem_type, remove_tree

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / ".work" / "transfer"
RESULTS = BENCH_DIR / ".work" / "transfer-results.json"
FILES_PER_DIR = 50
MIN_SIZE, MAX_SIZE = 4 * 2**10, 8 * 2**20
WORKERS = 8
KEY, SECRET = "bench", "bench-secret"
RC_S3, MLF_S3 = "moto:rclone-data/data", "s3://mlfabric-data/data"
TINY_SIZE, TINY_PER_DIR = 256, 500


@dataclass
class Row:
    measurement: str
    peer: str
    mlfabric: list[float]
    peer_times: list[float]
    target: float  # ratio mlfabric/peer of wall time must be <= target
    nbytes: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def mlf_s(self) -> float:
        return statistics.median(self.mlfabric)

    @property
    def peer_s(self) -> float:
        return statistics.median(self.peer_times)

    @property
    def ratio(self) -> float:
        return self.mlf_s / self.peer_s

    @property
    def passed(self) -> bool:
        return self.ratio <= self.target

    def cells(self) -> list[str]:
        rate = ""
        if self.nbytes:
            rate = (f"{self.nbytes / self.mlf_s / 1e6:.0f} vs "
                    f"{self.nbytes / self.peer_s / 1e6:.0f} MB/s")
        return [self.measurement, f"{self.mlf_s:.3f}", self.peer, f"{self.peer_s:.3f}",
                f"{self.ratio:.2f}", f"<= {self.target:g}", rate,
                "PASS" if self.passed else "FAIL"]

    def to_dict(self) -> dict[str, object]:
        return {"measurement": self.measurement, "peer": self.peer,
                "mlfabric_s": self.mlfabric, "peer_s": self.peer_times,
                "median_mlfabric_s": self.mlf_s, "median_peer_s": self.peer_s,
                "ratio_mlfabric_over_peer": round(self.ratio, 3), "target": self.target,
                "bytes": self.nbytes, "passed": self.passed, **self.extra}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def settle() -> None:
    """Flush dirty pages (untimed) so one step's write-back is not charged to the next."""
    os.sync()
    time.sleep(0.05)


def timed(fn: Callable[[], object]) -> float:
    settle()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def sizes(n: int, seed: int = 7) -> list[int]:
    """Log-uniform sizes from 4 KiB to 8 MiB."""
    rng = random.Random(seed)
    lo, hi = math.log(MIN_SIZE), math.log(MAX_SIZE)
    return [int(math.exp(rng.uniform(lo, hi))) for _ in range(n)]


def generate(root: Path, n: int) -> int:
    """The data set (kept between runs when it is already there); returns its bytes."""
    want = sizes(n)
    stamp = root / ".complete"
    if stamp.exists() and stamp.read_text() == str(sum(want)):
        return sum(want)
    remove_tree(root)
    rng = random.Random(11)
    for i, size in enumerate(want):
        p = root / f"d{i // FILES_PER_DIR:03d}" / f"f{i:05d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(size))
    stamp.write_text(str(sum(want)))
    return sum(want)


def generate_tiny(root: Path, n: int, size: int = TINY_SIZE) -> None:
    """``n`` files of ``size`` random bytes, 500 a folder (kept when already there)."""
    stamp = root / ".complete"
    if stamp.exists() and stamp.read_text() == f"{n}x{size}":
        return
    remove_tree(root)
    rng = random.Random(13)
    for i in range(n):
        if i % TINY_PER_DIR == 0:
            (root / f"d{i // TINY_PER_DIR:03d}").mkdir(parents=True)
        (root / f"d{i // TINY_PER_DIR:03d}" / f"f{i:05d}.bin").write_bytes(rng.randbytes(size))
    stamp.write_text(f"{n}x{size}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """moto's S3 server in its own process on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).parent / "moto_server"
        self.proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/moto-api/", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto_server did not start")

    def bucket(self, name: str) -> None:
        import boto3

        boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                     aws_access_key_id=KEY, aws_secret_access_key=SECRET
                     ).create_bucket(Bucket=name)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def rclone_env(endpoint: str | None = None) -> dict[str, str]:
    # AWS_CA_BUNDLE (for HTTPS) makes rclone refuse its HTTP transport; the endpoint is
    # plain HTTP on loopback.
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env["RCLONE_CONFIG"] = "/dev/null"
    if endpoint:
        env.update({"RCLONE_CONFIG_MOTO_TYPE": "s3", "RCLONE_CONFIG_MOTO_PROVIDER": "Other",
                    "RCLONE_CONFIG_MOTO_ENDPOINT": endpoint,
                    "RCLONE_CONFIG_MOTO_ACCESS_KEY_ID": KEY,
                    "RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY": SECRET,
                    "RCLONE_CONFIG_MOTO_REGION": "us-east-1"})
    return env


def rclone_sync(src: str, dst: str, endpoint: str | None = None) -> None:
    run(["rclone", "sync", src, dst, "--transfers", str(WORKERS)], env=rclone_env(endpoint))


def mlf_sync(src: str, dst: str, home: Path, endpoint: str | None = None) -> None:
    r = transfer.sync(src, dst, endpoint_url=endpoint, home=str(home), workers=WORKERS)
    if not r.ok:
        raise RuntimeError(f"mlfabric sync failed: {r.errors[:3]}")


def alternate(r: int, first: Callable[[], None], second: Callable[[], None]) -> None:
    for step in ((first, second) if r % 2 == 0 else (second, first)):
        step()


def race(r: int, row: Row, peer: Callable[[], object], mine: Callable[[], object]) -> None:
    """Time the peer and mlfabric once each, in alternating order, into ``row``."""
    alternate(r, lambda: row.peer_times.append(timed(peer)),
              lambda: row.mlfabric.append(timed(mine)))


def bench_local(src: Path, work: Path, reps: int, nbytes: int) -> list[Row]:
    full = Row("local->local sync", "rclone sync", [], [], 1.0, nbytes)
    noop = Row("local->local no-op re-sync", "rclone sync", [], [], 1.0)
    for r in range(reps):
        a, b = work / f"rclone-{r}", work / f"mlf-{r}"
        home = work / f"home-{r}"
        for p in (a, b, home):
            remove_tree(p)

        def rc(a: Path = a) -> None:
            full.peer_times.append(timed(lambda: rclone_sync(str(src), str(a))))

        def mf(b: Path = b, home: Path = home) -> None:
            full.mlfabric.append(timed(lambda: mlf_sync(str(src), str(b), home)))

        alternate(r, rc, mf)
        log(f"local sync rep {r}: mlfabric {full.mlfabric[-1]:.2f}s, rclone "
            f"{full.peer_times[-1]:.2f}s")

        def rc_noop(a: Path = a) -> None:
            noop.peer_times.append(timed(lambda: rclone_sync(str(src), str(a))))

        def mf_noop(b: Path = b, home: Path = home) -> None:
            noop.mlfabric.append(timed(lambda: mlf_sync(str(src), str(b), home)))

        alternate(r, rc_noop, mf_noop)
        log(f"local no-op rep {r}: mlfabric {noop.mlfabric[-1]:.3f}s, rclone "
            f"{noop.peer_times[-1]:.3f}s")
        for p in (a, b, home):
            remove_tree(p)
    return [full, noop]


def bench_tiny(src: Path, work: Path, reps: int, n: int) -> list[Row]:
    """Many tiny files: per-file costs, not bandwidth, decide. The copies are removed
    only at the end: deleting 50,000 files leaves the file system busy for a while, and
    whichever contender ran next would pay for it."""
    full = Row(f"tiny files ({n} x {TINY_SIZE} B) sync", "cp -a + sync -f", [], [], 1.5,
               n * TINY_SIZE)
    noop = Row("tiny files no-op re-sync", "rclone sync", [], [], 1.0)
    made: list[Path] = []
    for r in range(reps):
        a, b, c = work / f"tiny-cp-{r}", work / f"tiny-mlf-{r}", work / f"tiny-rclone-{r}"
        home = work / f"tiny-home-{r}"
        made += [a, b, c, home]
        for p in (a, b, c, home):
            remove_tree(p)

        race(r, full, lambda a=a: run(["sh", "-c", 'cp -a "$0" "$1" && sync -f "$1"',
                                      str(src), str(a)]),
             lambda b=b, home=home: mlf_sync(str(src), str(b), home))
        log(f"tiny sync rep {r}: mlfabric {full.mlfabric[-1]:.2f}s, cp -a + sync -f "
            f"{full.peer_times[-1]:.2f}s")
        rclone_sync(str(src), str(c))  # the peer's copy to re-sync (untimed)
        race(r, noop, lambda c=c: rclone_sync(str(src), str(c)),
             lambda b=b, home=home: mlf_sync(str(src), str(b), home))
        log(f"tiny no-op rep {r}: mlfabric {noop.mlfabric[-1]:.3f}s, rclone "
            f"{noop.peer_times[-1]:.3f}s")
    for p in made:
        remove_tree(p)
    return [full, noop]


def bench_s3(src: Path, work: Path, reps: int, nbytes: int) -> list[Row]:
    os.environ.update({"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
                       "AWS_DEFAULT_REGION": "us-east-1"})
    full = Row("local->S3 sync", "rclone sync", [], [], 1.0, nbytes)
    noop = Row("local->S3 no-op re-sync", "rclone sync", [], [], 1.0)
    for r in range(reps):
        moto = MotoServer()
        try:
            moto.bucket("rclone-data")
            moto.bucket("mlfabric-data")
            home = work / f"s3-home-{r}"
            remove_tree(home)

            def rc(url: str = moto.url) -> None:
                full.peer_times.append(timed(lambda: rclone_sync(str(src), RC_S3, url)))

            def mf(url: str = moto.url, home: Path = home) -> None:
                full.mlfabric.append(timed(lambda: mlf_sync(str(src), MLF_S3, home, url)))

            alternate(r, rc, mf)
            log(f"S3 sync rep {r}: mlfabric {full.mlfabric[-1]:.2f}s, rclone "
                f"{full.peer_times[-1]:.2f}s")

            def rc_noop(url: str = moto.url) -> None:
                noop.peer_times.append(timed(lambda: rclone_sync(str(src), RC_S3, url)))

            def mf_noop(url: str = moto.url, home: Path = home) -> None:
                noop.mlfabric.append(timed(lambda: mlf_sync(str(src), MLF_S3, home, url)))

            alternate(r, rc_noop, mf_noop)
            log(f"S3 no-op rep {r}: mlfabric {noop.mlfabric[-1]:.3f}s, rclone "
                f"{noop.peer_times[-1]:.3f}s")
            remove_tree(home)
        finally:
            moto.stop()
    return [full, noop]


def bench_cache(src: Path, work: Path, reps: int, nbytes: int) -> Row:
    """``cache add`` from a lake in a local folder vs ``cp -r`` of the same files."""
    home = work / "cache-home"
    remove_tree(home)
    h = str(home)
    volumes.create("data", home=h)
    shutil.copytree(src, volumes.path("data", home=h), dirs_exist_ok=True)
    snapshots.create("data", name="s1", home=h)
    remotes.add("lake", str(work / "lake"), home=h)
    datasets.push("data@s1", remote="lake", name="bench", home=h)
    row = Row("cache warm-up (cache add)", "cp -r", [], [], 1.25, nbytes)
    for r in range(reps):
        pool, dst = work / f"pool-{r}", work / f"cp-{r}"
        for p in (pool, dst):
            remove_tree(p)
        caches.config(f"p{r}", path=str(pool), size="100Gi", home=h)

        def cp(dst: Path = dst) -> None:
            row.peer_times.append(timed(lambda: run(["cp", "-r", str(src), str(dst)])))

        def add(r: int = r) -> None:
            row.mlfabric.append(timed(lambda: caches.add("bench:v1", pool=f"p{r}", home=h,
                                                         workers=WORKERS)))

        alternate(r, cp, add)
        log(f"cache warm-up rep {r}: mlfabric {row.mlfabric[-1]:.2f}s, cp -r "
            f"{row.peer_times[-1]:.2f}s")
        caches.remove("bench:v1", pool=f"p{r}", home=h)
        for p in (pool, dst):
            remove_tree(p)
    remove_tree(home)
    remove_tree(work / "lake")
    return row


def bench_cli(src: Path, work: Path) -> dict[str, float]:
    """One timed run of the command line (interpreter start and imports included)."""
    exe = str(Path(sys.executable).parent / "mlfabric")
    home, dst = work / "cli-home", work / "cli-dst"
    for p in (home, dst):
        remove_tree(p)
    home.mkdir()  # --home names an existing folder (an empty one is a home to be)
    out = {}
    for label in ("sync", "no-op re-sync"):
        out[label] = timed(lambda: run([exe, "--home", str(home), "--quiet", "transfer",
                                        "sync", str(src), str(dst), "-j", str(WORKERS)]))
    for p in (home, dst):
        remove_tree(p)
    return out


def machine(work: Path) -> dict[str, object]:
    rc = subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    return {"cpu": model, "nproc": os.cpu_count(), "memory_gib": round(mem / 2**30, 1),
            "filesystem": filesystem_type(work), "kernel": platform.release(),
            "python": platform.python_version(),
            "rclone": rc.splitlines()[0] if rc else "?",
            "loadavg": "/".join(f"{x:.1f}" for x in os.getloadavg())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=2000)
    p.add_argument("--reps", type=int, default=3, help="repetitions of local measurements")
    p.add_argument("--s3-reps", type=int, default=1, help="repetitions against S3")
    p.add_argument("--skip-s3", action="store_true")
    p.add_argument("--cli", action="store_true", help="also time the mlfabric command line")
    p.add_argument("--tiny-files", type=int, default=50_000,
                   help="files of the tiny-file measurements (0: skip them)")
    p.add_argument("--tiny-only", action="store_true",
                   help="only the tiny-file measurements")
    args = p.parse_args(argv)
    if shutil.which("rclone") is None:
        print("rclone is missing: it is the peer of the sync measurements, so nothing was "
              "measured. Install it (Debian: apt-get install -y rclone) and run again.",
              file=sys.stderr)
        return 2
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    if args.tiny_only:
        info = machine(WORK_DIR)
        print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
        return report({"machine": info, "tiny_files": args.tiny_files,
                       "rows": tiny_rows(args)}, {})
    src = WORK_DIR / "src"
    log(f"generating {args.files} files under {src}")
    nbytes = generate(src, args.files)
    info = machine(WORK_DIR)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    print(f"data: {args.files} files, {nbytes / 1e9:.2f} GB, log-uniform 4 KiB..8 MiB; "
          f"reps={args.reps} local, {args.s3_reps} S3 (median)", flush=True)
    # warm-up (untimed): page cache, imports, the first catalog
    warm = WORK_DIR / "warm-home"
    transfer.scan(str(src))
    mlf_sync(str(src / "d000"), str(WORK_DIR / "warm-dst"), warm)
    remove_tree(warm)
    remove_tree(WORK_DIR / "warm-dst")

    rows = bench_local(src, WORK_DIR, args.reps, nbytes)
    if not args.skip_s3:
        rows += bench_s3(src, WORK_DIR, args.s3_reps, nbytes)
    cache = bench_cache(src, WORK_DIR, args.reps, nbytes)
    rows.append(cache)
    cli = bench_cli(src, WORK_DIR) if args.cli else {}
    if args.tiny_files:
        rows += tiny_rows(args)
    return report({"machine": info, "files": args.files, "bytes": nbytes,
                   "tiny_files": args.tiny_files, "rows": rows, "cache": (nbytes, cache)}, cli)


def tiny_rows(args: argparse.Namespace) -> list[Row]:
    tiny = WORK_DIR / "tiny-src"
    log(f"generating {args.tiny_files} files of {TINY_SIZE} B under {tiny}")
    generate_tiny(tiny, args.tiny_files)
    mlf_sync(str(tiny / "d000"), str(WORK_DIR / "warm-dst"), WORK_DIR / "warm-home")
    remove_tree(WORK_DIR / "warm-home")
    remove_tree(WORK_DIR / "warm-dst")
    return bench_tiny(tiny, WORK_DIR, args.reps, args.tiny_files)


def report(results: dict[str, Any], cli: dict[str, float]) -> int:
    """Print the table (and the cache throughput), write the JSON; 0 when all pass."""
    rows: list[Row] = results["rows"]
    header = ["measurement", "mlfabric s", "peer", "peer s", "mlf/peer", "target",
              "throughput", ""]
    table = [header] + [r.cells() for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    print()
    for line in table:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    if "cache" in results:
        nbytes, cache = results.pop("cache")
        print(f"\ncache warm-up throughput: mlfabric {nbytes / cache.mlf_s / 1e6:.0f} MB/s, "
              f"cp -r {nbytes / cache.peer_s / 1e6:.0f} MB/s, ratio "
              f"{cache.peer_s / cache.mlf_s:.2f} (target >= 0.8)")
    for label, s in cli.items():
        print(f"mlfabric CLI (process start included) local {label}: {s:.3f}s")
    RESULTS.write_text(json.dumps({**results, "rows": [r.to_dict() for r in rows], "cli": cli},
                                  indent=2))
    return 0 if all(r.passed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
