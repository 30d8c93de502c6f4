"""Edge inference benchmarks at full size with MLPerf LoadGen: the ResNet-style classifier
at 224 px and the SSD-MobileNet-style detector at 300 px over generated ImageNet- and
COCO-like sets; every scenario locally and through an inference server; each comparison
against its named peer in the same run, printed as ratios:

- storage: the data set on its local volume (peer) vs the same files over a loopback
  network file system (rclone SFTP + FUSE), page cache dropped before each run, 3+ runs each;
  and vs a dataset cache filled before each run from an S3 lake (moto's S3 server on
  127.0.0.1, the S3-backed option);
- servers: one ``mlfabric inference`` server (peer) vs two, pinned to disjoint cores,
  round-robin, offline throughput; and plain onnxruntime in process against one server;
- io: ``edgebench io`` on the volume directly (peer) vs through the network file system.

    flock /tmp/mlfabric-heavy.lock .venv/bin/python bench/edgebench.py  # bench/.work/edgebench/
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import fmean

from mlfabric import nodes, projects, volumes
from mlfabric.apps import edgebench

WORK = Path(__file__).resolve().parent / ".work" / "edgebench"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def show(title: str, rows: list[dict]) -> None:
    print(f"\n## {title}")
    for r in rows:
        print("  " + "  ".join(f"{k}={v}" for k, v in r.items()))


def brief(r: edgebench.RunResult) -> dict:
    return {"scenario": r.scenario, "model": r.model, "target": r.target,
            "storage": r.storage, "result": r.result, "samples/s": r.samples_per_second,
            "p90 ms": r.p90_latency_ms, "p99 ms": r.p99_latency_ms,
            "load s": r.load_seconds, "accuracy": r.accuracy}


def comparison(c: edgebench.Comparison) -> dict:
    return {"metric": c.metric, c.a: f"{c.a_mean} (noise {c.a_noise_pct}%)",
            c.b: f"{c.b_mean} (noise {c.b_noise_pct}%)", "ratio": c.ratio,
            "diff %": c.difference_pct, "within noise": c.within_noise}


HZ = os.sysconf("SC_CLK_TCK")


def _tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants (user + system, from /proc)."""
    from mlfabric import proctree

    total = 0
    for p in [pid, *(d for d, _ in proctree.descendants(pid))]:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / HZ


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy since boot (every core)."""
    cpu = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(cpu) - cpu[3] - cpu[4]) / HZ  # all but idle and iowait


class CpuMeter:
    """CPU seconds of this process (the SUT: LoadGen, the gRPC client) and of each server's
    process tree in every run of ``compare_servers``, as deltas between its runs' ends."""

    def __init__(self, names: list[str], home: str) -> None:
        from mlfabric import jobs, serving

        self.pids = {n: jobs.get(serving.show(n, home=home).job, project="bench",
                                 home=home).pids[0] for n in names}
        self.rows: list[dict] = []
        self.last = self._snap()

    def _snap(self) -> dict[str, float]:
        return {"wall": time.monotonic(), "client": time.process_time(),
                "machine": _machine_busy(),
                **{n: _tree_cpu(pid) for n, pid in self.pids.items()}}

    def run_ended(self, r: edgebench.RunResult) -> None:
        now = self._snap()
        d = {k: now[k] - self.last[k] for k in now}
        self.last = now
        samples = (r.samples_per_second or 0) * r.seconds
        per = {k: round(1000 * d[k] / samples, 3) if samples else None
               for k in ("client", *self.pids)}
        self.rows.append({"servers": r.servers, "samples/s": r.samples_per_second,
                          "client ms/sample": per["client"],
                          **{f"{n} ms/sample": per[n] for n in self.pids},
                          "machine busy %": round(100 * d["machine"] / (
                              d["wall"] * (os.cpu_count() or 1)), 1)})

    def ceiling(self) -> str:
        """The two-server ratio these CPU costs allow on this machine's cores."""
        one = [r for r in self.rows if r["servers"] == 1]
        two = [r for r in self.rows if r["servers"] == 2]
        if not one or not two:
            return "no runs measured"
        cost = fmean(sum(v for k, v in r.items() if k.endswith("ms/sample")) for r in two)
        best = 1000 * (os.cpu_count() or 1) / cost
        got = fmean(r["samples/s"] for r in one)
        return (f"CPU per sample with two servers: {cost:.2f} ms (client and servers); "
                f"{os.cpu_count()} cores allow at most {best:.0f} samples/s, "
                f"{best / got:.2f}x one server's {got:.0f}")


@contextlib.contextmanager
def s3_lake(home: str) -> Iterator[str]:
    """A remote ``s3lake`` on moto's S3 server on 127.0.0.1 (test credentials)."""
    import boto3
    from moto.server import ThreadedMotoServer

    from mlfabric import remotes

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per S3 request

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="edge")
        remotes.add("s3lake", "s3://edge/lake", endpoint_url=endpoint, home=home)
        yield "s3lake"
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=1024, help="ImageNet-like pictures")
    ap.add_argument("--runs", type=int, default=3, help="runs per configuration")
    ap.add_argument("--duration-ms", type=int, default=10000, help="LoadGen min_duration_ms")
    ap.add_argument("--train-steps", type=int, default=20)
    args = ap.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    home = str(WORK / "home")
    report: dict = {"machine": f"{platform.processor() or platform.machine()}, "
                               f"{os.cpu_count()} cores", "load_before": load(),
                    "args": vars(args)}
    nodes.add("n1", gpus=1, home=home)
    projects.create("bench", quota=1, home=home)
    for v in ("edgebench-models", "imagenet", "coco"):
        volumes.create(v, home=home)
    t = time.monotonic()
    edgebench.make_models("edgebench-models", train_steps=args.train_steps, home=home)
    edgebench.make_data("imagenet", images=args.images, home=home)
    edgebench.make_data("coco", kind="coco", images=args.images // 4, home=home)
    print(f"models and data made in {time.monotonic() - t:.0f}s")
    kw = {"min_duration_ms": args.duration_ms, "home": home}

    local = [edgebench.run(s, model=m, data=d, **kw) for m, d in
             (("resnet", "imagenet"), ("ssd-mobilenet", "coco"))
             for s in ("offline", "singlestream", "multistream")]
    acc = edgebench.run("offline", model="resnet", data="imagenet", accuracy=True, **kw)
    show("local (onnxruntime in process)", [brief(r) for r in [*local, acc]])
    report["local"] = [r.to_dict() for r in [*local, acc]]

    storage = []
    for scenario in ("offline", "singlestream"):
        storage += edgebench.compare_storage(model="resnet", data="imagenet",
                                             scenario=scenario, runs=args.runs, **kw)
    show("storage: local volume (peer) vs loopback network file system",
         [comparison(c) for c in storage])
    report["storage"] = [c.to_dict() for c in storage]
    with s3_lake(home) as lake:
        via_s3 = edgebench.compare_storage(model="resnet", data="imagenet", scenario="offline",
                                           runs=args.runs, lake=lake, **kw)
    show("storage: local volume (peer) vs dataset cache filled from S3 before each run",
         [comparison(c) for c in via_s3])
    report["storage_s3_cache"] = [c.to_dict() for c in via_s3]

    names: list[str] = []
    try:
        names = edgebench.start_servers("edge", repo="edgebench-models", count=2,
                                        project="bench", gpus=0.5, home=home)
        served = [edgebench.run(s, model="resnet", data="imagenet",
                                target="inference:edge-1", **kw)
                  for s in ("offline", "singlestream", "multistream")]
        show("through one inference server", [brief(r) for r in served])
        report["served"] = [r.to_dict() for r in served]
        ratio = served[0].samples_per_second / local[0].samples_per_second
        print(f"  offline: one server / onnxruntime in process = {ratio:.3f}")
        report["server_vs_local_offline"] = round(ratio, 4)
        meter = CpuMeter(names, home)
        servers = edgebench.compare_servers(model="resnet", data="imagenet",
                                            target="inference:edge-1,edge-2", runs=args.runs,
                                            on_run=meter.run_ended, **kw)
        show("servers: one (peer) vs two, offline", [comparison(servers)])
        report["servers"] = servers.to_dict()
        show("servers: where the CPU goes (per run)", meter.rows)
        report["servers_cpu"] = meter.rows
        print("  " + meter.ceiling())
        report["servers_ceiling"] = meter.ceiling()
    finally:
        with contextlib.suppress(Exception):
            edgebench.stop_servers(names, home=home)

    io = {net: edgebench.io("imagenet", file_mib=256, random_ops=2000 if not net else 100,
                            frames=32, network=net, home=home) for net in (False, True)}
    rows = []
    for a, b in zip(io[False].rows, io[True].rows, strict=True):
        rows.append({"pattern": a.pattern, "block": a.block_bytes,
                     "local MiB/s": a.mib_per_second, "network MiB/s": b.mib_per_second,
                     "local IOPS": a.iops, "network IOPS": b.iops,
                     "network/local": round(b.mib_per_second / a.mib_per_second, 4)})
    show("io: volume directly (peer) vs network file system", rows)
    report["io"] = rows
    report["load_after"] = load()
    (WORK / "report.json").write_text(json.dumps(report, indent=1))
    print(f"\nload average before {report['load_before']}, after {report['load_after']}; "
          f"report: {WORK / 'report.json'}")


if __name__ == "__main__":
    main()
