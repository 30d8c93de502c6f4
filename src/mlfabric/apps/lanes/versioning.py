"""Versioning by snapshots: a training job's ``--snapshot-on-complete`` keeps its data and
checkpoint together; ``lineage`` reads them back (job -> snapshot -> dataset version ->
metrics) straight from the snapshot, and ``retrain`` clones one into a new volume,
proves the clone holds the recorded model by scoring it again (exactly the same), then
trains on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlfabric import jobs, snapshots, volumes
from mlfabric.apps.lanes.checkpoint import METRICS
from mlfabric.apps.lanes.data import META
from mlfabric.apps.lanes.records import Lineage, RetrainReport
from mlfabric.errors import MlfabricError, NotFound
from mlfabric.names import parse_snapshot_ref
from mlfabric.progress import NO_PROGRESS, Progress

MODEL = "model"  # the checkpoint folder inside the volume, as `lanes train` defaults
EXACT = ("accuracy", "fp", "fn", "pictures")


def _json_in(ref: str, path: str, home: str | None) -> dict[str, Any]:
    try:
        return dict(json.loads(snapshots.read_file(ref, path, home=home)))
    except NotFound:
        return {}


def lineage(job: str, *, project: str | None = None, model: str = MODEL,
            home: str | None = None) -> Lineage:
    """What a training job produced: its snapshot, the dataset version it trained on,
    the model's metrics, and the volumes cloned from that snapshot since."""
    j = jobs.get(job, project=project, home=home)
    base = Lineage(job=j.ref, state=j.state, volumes=list(j.volumes),
                   datasets=list(j.datasets), snapshot=j.snapshot)
    if j.snapshot is None:
        return base
    snap = snapshots.show(j.snapshot, home=home)
    summary = _json_in(j.snapshot, f"{model.strip('/')}/{METRICS}", home)
    dataset = _json_in(j.snapshot, META, home)
    clones = sorted(v.name for v in volumes.list(home=home) if v.origin == j.snapshot)
    return Lineage(job=j.ref, state=j.state, volumes=list(j.volumes),
                   datasets=list(j.datasets), snapshot=j.snapshot,
                   snapshot_created_at=snap.created_at, snapshot_files=snap.files,
                   snapshot_bytes=snap.bytes,
                   dataset_version=summary.get("dataset_version") or dataset.get("version"),
                   dataset=dataset, metrics={**summary.get("metrics", {}),
                                             "epoch": summary.get("epoch")}
                   if summary else {}, clones=clones)


def retrain(source: str, *, volume: str | None = None, epochs: int = 1, model: str = MODEL,
            threads: int | None = None, home: str | None = None,
            progress: Progress = NO_PROGRESS) -> RetrainReport:
    """Clone ``VOLUME@SNAPSHOT`` into ``volume`` (default ``VOLUME-SNAPSHOT``), check
    that its checkpoint scores exactly what it recorded, and train ``epochs`` more."""
    from mlfabric.apps.lanes.checkpoint import load_checkpoint
    from mlfabric.apps.lanes.evaluation import evaluate
    from mlfabric.apps.lanes.training import train

    ref = parse_snapshot_ref(source, require_snapshot=True)
    name = volume or f"{ref.volume}-{ref.snapshot}"
    volumes.clone(name, str(ref), home=home, progress=progress)
    root = Path(volumes.path(name, home=home))
    out = root / model.strip("/")
    ckpt = load_checkpoint(out)
    recorded = ckpt.metrics
    reproduced = evaluate(str(root), checkpoint=str(out)).to_dict()
    differ = [k for k in EXACT if recorded.get(k) != reproduced.get(k)]
    if differ:
        shown = ", ".join(f"{k} {recorded.get(k)} != {reproduced.get(k)}" for k in differ)
        raise MlfabricError(f"{ref}: the restored checkpoint does not reproduce its metrics "
                            f"({shown}); not training on it (the clone {name} is kept)")
    report = train(str(root), out=str(out), epochs=ckpt.epoch + epochs, threads=threads,
                   progress=progress)
    return RetrainReport(source=str(ref), volume=name, recorded=recorded,
                         reproduced=reproduced, train=report.to_dict())
