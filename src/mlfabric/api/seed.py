"""The small demo ``mlfabric server start --demo`` (and ``make run``) seeds: two teams on
two simulated 8-GPU nodes, a volume with two snapshots, a dataset version, running and
pending jobs; and this machine as a node of the local runtime, where project ``demo``'s
jobs really run (confined). Seeding a home that already has the demo volume does nothing."""

from __future__ import annotations

import sys
from pathlib import Path

from mlfabric import caches, datasets, jobs, nodes, projects, remotes, snapshots, volumes
from mlfabric.errors import MlfabricError, NotFound

VOLUME = "demo-data"
LOCAL = "local"  # the node and node pool of this machine
LOCAL_PROJECT = "demo"
# A job that really runs: a few "training steps" in its log, then it ends.
STEPS = ("import time\n"
         "for i in range(5):\n"
         "    print(f'step {i} loss {1 / (i + 1):.3f}', flush=True)\n"
         "    time.sleep(0.5)\n")


def local_gpus() -> int:
    """The GPUs nvidia-smi finds here; without any, one declared GPU that jobs share in
    fractions (the scheduler counts GPUs; a CPU job asks for a fraction of this one)."""
    try:
        found = nodes.detect_gpus()
    except MlfabricError:
        found = None
    return found.count if found else 1


def seed_demo(home: str | None = None) -> bool:
    """Seed the demo; False when it is there already."""
    try:
        volumes.show(VOLUME, home=home)
        return False
    except NotFound:
        pass
    for name in ("node-1", "node-2"):
        nodes.add(name, gpus=8, gpu_memory="80Gi", runtime="sim", home=home)
    gpus = local_gpus()
    nodes.add(LOCAL, gpus=gpus, pool=LOCAL, runtime="local", home=home)
    projects.create(LOCAL_PROJECT, quota=gpus, pool=LOCAL, home=home)
    projects.create("team-a", quota=4, home=home)
    projects.create("team-b", quota=4, interactive_time_limit="8h", home=home)
    vol = volumes.create(VOLUME, size="1Gi", labels=["project=team-a"], home=home)
    root = Path(vol.path)
    for split in ("train", "val"):
        (root / split).mkdir()
        for i in range(20):
            (root / split / f"sample-{i:03}.txt").write_text(f"{split} sample {i}\n" * 10)
    snapshots.create(VOLUME, name="baseline", home=home)
    (root / "train" / "sample-000.txt").write_text("relabelled\n")
    (root / "train" / "extra.txt").write_text("new sample\n")
    snapshots.create(VOLUME, name="relabelled", home=home)
    lake = Path(vol.path).parent.parent / "demo-lake"
    remotes.add("demo-lake", str(lake), home=home)
    version = datasets.push(f"{VOLUME}@baseline", remote="demo-lake", name="demo-set",
                            home=home)
    caches.add(f"demo-set:{version.version}", home=home)
    for name, gpus in (("resnet-a1", 4), ("resnet-a2", 4), ("bert-a3", 2)):
        jobs.submit(name, project="team-a", gpus=gpus, command=["python", "train.py"],
                    home=home)
    jobs.submit("notebook-b", project="team-b", gpus=0.5, interactive=True, home=home)
    jobs.submit("llm-b", project="team-b", gpus=8, command=["python", "finetune.py"],
                home=home)
    jobs.submit("steps", project=LOCAL_PROJECT, gpus=0.25, command=[sys.executable, "-c", STEPS],
                home=home)
    return True
