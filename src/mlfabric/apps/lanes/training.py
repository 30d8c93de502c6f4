"""``lanes train``: the SCNN trained with data parallelism. Under a gang job
(``WORLD_SIZE`` > 1, ``MASTER_ADDR``/``MASTER_PORT`` set by the scheduler) each process
joins torch.distributed (gloo on CPU, nccl on GPU) and DDP averages gradients; every
epoch rank 0 scores the test split and writes a checkpoint on the output folder (the
job's volume). A run that finds a checkpoint there resumes from it with its recipe, so a
preempted gang, started again, continues where its last checkpoint left off.

The global batch is the same for any number of processes (each takes 1/N of it) and the
loss is normalised by a constant, so N processes take the same steps as one."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from mlfabric.apps.lanes.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from mlfabric.apps.lanes.data import MAX_LANES, fingerprint, load_split, parse_size
from mlfabric.apps.lanes.evaluation import score_split
from mlfabric.apps.lanes.model import SCNN
from mlfabric.apps.lanes.records import TrainReport
from mlfabric.errors import InvalidInput
from mlfabric.progress import NO_PROGRESS, Progress

BACKGROUND_WEIGHT = 0.4  # SCNN's weight for the background class


@dataclass(frozen=True)
class World:
    """This process's place in the gang."""

    rank: int
    size: int
    local_rank: int
    local_size: int

    @classmethod
    def from_env(cls) -> World:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        return cls(rank=int(os.environ.get("RANK", "0")), size=size,
                   local_rank=int(os.environ.get("LOCAL_RANK", "0")),
                   local_size=int(os.environ.get("LOCAL_WORLD_SIZE", str(size))))


def _recipe(size: str, batch_size: int, lr: float, seed: int, width: int) -> dict[str, Any]:
    w, h = parse_size(size)
    if batch_size < 1:
        raise InvalidInput(f"--batch-size must be at least 1, got {batch_size}")
    if width < 8 or width % 4:
        raise InvalidInput(f"--width must be a multiple of 4 from 8, got {width}")
    return {"size": [w, h], "batch_size": batch_size, "lr": lr, "seed": seed, "width": width}


def epoch_batches(n: int, batch: int, world: World, seed: int, epoch: int) -> list[np.ndarray]:
    """This rank's share of each global batch of the epoch: the same shuffle on every
    rank (seeded by the epoch), the remainder that does not fill a batch left out."""
    if batch % world.size:
        raise InvalidInput(f"the batch ({batch}) must be a multiple of the processes "
                           f"({world.size}): each takes an equal share")
    batch = min(batch, n - n % world.size)  # fewer pictures than a batch: one smaller batch
    if batch < world.size:
        raise InvalidInput(f"{n} training pictures cannot feed {world.size} processes")
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i:i + batch][world.rank::world.size]
            for i in range(0, n - batch + 1, batch)]


def train(data: str, *, out: str | None = None, epochs: int = 10, batch_size: int = 8,
          size: str = "128x64", lr: float = 3e-3, seed: int = 0, width: int = 16,
          threads: int | None = None, progress: Progress = NO_PROGRESS) -> TrainReport:
    """Train (or resume) the lane model on ``data``'s train split; checkpoints go to
    ``out`` (default ``DATA/model``)."""
    if epochs < 1:
        raise InvalidInput(f"--epochs must be at least 1, got {epochs}")
    world = World.from_env()
    out_dir = Path(out) if out else Path(data) / "model"
    recipe = _recipe(size, batch_size, lr, seed, width)
    resumed = load_checkpoint(out_dir) if find_checkpoint(out_dir) else None
    if resumed is not None:
        recipe = resumed.recipe  # the run it continues decides its steps
    torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // world.local_size))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{world.local_rank}" if cuda else "cpu")
    backend = ("nccl" if cuda else "gloo") if world.size > 1 else None
    if backend:
        if os.environ.get("MASTER_ADDR") in ("127.0.0.1", "localhost"):
            # one machine's gang (the local runtime): gloo on loopback, not the address
            # the host name resolves to (none, in a job's sandbox)
            os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        dist.init_process_group(backend)
    try:
        return _run(data, out_dir, epochs, recipe, resumed, world, device, backend, progress)
    finally:
        if backend:
            dist.destroy_process_group()


def _run(data: str, out_dir: Path, epochs: int, recipe: dict[str, Any], resumed: Any,
         world: World, device: torch.device, backend: str | None,
         progress: Progress) -> TrainReport:
    wh = (int(recipe["size"][0]), int(recipe["size"][1]))
    train_split = load_split(data, "train", wh)
    test_split = load_split(data, "test", wh) if world.rank == 0 else None
    if not train_split.labels:
        raise InvalidInput(f"{data}: no usable training pictures")
    version = fingerprint(Path(data))
    torch.manual_seed(recipe["seed"])
    model = SCNN(width=int(recipe["width"])).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(recipe["lr"]))
    start, losses = 0, []
    if resumed is not None:
        model.load_state_dict(resumed.state["model"])
        opt.load_state_dict(resumed.state["optimizer"])
        start, losses = resumed.epoch, list(resumed.state.get("losses", []))
    net = DistributedDataParallel(model) if backend else model
    weights = torch.tensor([BACKGROUND_WEIGHT] + [1.0] * MAX_LANES, device=device)
    images = torch.from_numpy(train_split.images)
    masks = torch.from_numpy(train_split.masks).long()
    per_pixel = wh[0] * wh[1]
    seconds, metrics = [], dict(resumed.metrics) if resumed is not None else {}
    for epoch in range(start, epochs):
        batches = epoch_batches(len(images), int(recipe["batch_size"]), world,
                                int(recipe["seed"]), epoch)
        progress.start(f"epoch {epoch + 1}/{epochs}", len(batches))
        net.train()
        began, total = time.perf_counter(), torch.zeros((), dtype=torch.float64)
        for idx in batches:
            t = torch.from_numpy(idx)
            x, y = images[t].float().to(device), masks[t].to(device)
            # Sum over pixels, divided by a constant: N ranks' mean gradient equals one
            # process's over the whole global batch.
            loss = F.cross_entropy(net(x), y, weight=weights, reduction="sum") / (
                len(idx) * per_pixel)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach().double().cpu()
            progress.advance()
        seconds.append(time.perf_counter() - began)
        if backend:
            dist.all_reduce(total)
            total /= world.size
        losses.append(float(total) / len(batches))
        progress.finish()
        if world.rank == 0:
            assert test_split is not None
            weights_now = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            scored = SCNN(width=int(recipe["width"]))  # a CPU copy: DDP keeps its own
            scored.load_state_dict(weights_now)
            metrics = score_split(scored, test_split, "test").to_dict()
            state = {"model": weights_now, "optimizer": opt.state_dict(),
                     "epoch": epoch + 1, "recipe": recipe, "metrics": metrics,
                     "losses": losses, "dataset_version": version}
            save_checkpoint(out_dir, state, {"epoch": epoch + 1, "metrics": metrics,
                                             "dataset_version": version, "recipe": recipe,
                                             "losses": losses, "world_size": world.size})
        if backend:
            dist.barrier()
    problems = train_split.problems.as_dict()
    return TrainReport(out=str(out_dir), data=str(data), dataset_version=version, epochs=epochs,
                       resumed_from=start, world_size=world.size, backend=backend,
                       images=len(images), seconds_per_epoch=seconds, losses=losses,
                       metrics=metrics, skipped=problems)
