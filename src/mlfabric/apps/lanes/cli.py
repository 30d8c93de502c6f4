"""``mlfabric lanes make-data|train|eval|lineage|retrain``."""

from __future__ import annotations

import typer

from mlfabric.apps import lanes
from mlfabric.console import OPTIONS, emit_json, progress, say, table, warn

app = typer.Typer(no_args_is_help=True)  # its help: APP in mlfabric.apps.lanes

_DATA = "Dataset folder (TuSimple format: SPLIT.json or label_data_*.json/test_label.json)."
_OUT = "Checkpoint folder (default DATA/model): resumed from when it holds one."


def _skipped(skipped: dict[str, int]) -> None:
    if skipped:
        warn(f"skipped {sum(skipped.values())} bad samples: "
             + ", ".join(f"{n} {kind}" for kind, n in skipped.items()))


def _metrics_line(m: dict) -> str:
    return (f"accuracy {m['accuracy']:.4f}, FP {m['fp']:.4f}, FN {m['fn']:.4f} "
            f"on {m['pictures']} {m['split']} pictures "
            f"({m['pixel_thresh']:g}-pixel threshold)")


@app.command("make-data")
def make_data(path: str = typer.Argument(..., help="Folder to write the dataset into."),
              images: int = typer.Option(200, "--images", help="Pictures in all splits "
                                         "(70/10/20 train/val/test)."),
              size: str = typer.Option("256x128", "--size", help="Picture size WxH."),
              seed: int = typer.Option(0, "--seed", help="Random seed.")) -> None:
    """Generate synthetic road pictures with TuSimple labels."""
    d = lanes.make_data(path, images=images, size=size, seed=seed, progress=progress())
    if OPTIONS.json:
        emit_json(d)
    else:
        say(f"generated {d.images} pictures ({', '.join(f'{n} {s}' for s, n in d.splits.items())}"
            f") at {d.width}x{d.height} in {d.path}, version {d.version}")


@app.command("train")
def train(data: str = typer.Option(..., "--data", "-d", help=_DATA),
          out: str | None = typer.Option(None, "--out", "-o", help=_OUT),
          epochs: int = typer.Option(10, "--epochs", help="Total epochs (a resumed run "
                                     "continues up to this)."),
          batch_size: int = typer.Option(8, "--batch-size", help="Global batch, split over "
                                         "the processes."),
          size: str = typer.Option("128x64", "--size", help="Model input WxH."),
          lr: float = typer.Option(3e-3, "--lr", help="Learning rate (Adam)."),
          width: int = typer.Option(16, "--width", help="Channels of the model."),
          threads: int | None = typer.Option(None, "--threads", help="Torch threads per "
                                             "process (default: cores / local processes)."),
          seed: int = typer.Option(0, "--seed", help="Random seed.")) -> None:
    """Train (or resume) the SCNN; data-parallel over a gang job's processes."""
    r = lanes.train(data, out=out, epochs=epochs, batch_size=batch_size, size=size, lr=lr,
                    width=width, threads=threads, seed=seed, progress=progress())
    if OPTIONS.json:
        emit_json(r)
        return
    _skipped(r.skipped)
    where = f" ({r.world_size} processes, {r.backend})" if r.backend else ""
    start = f" from epoch {r.resumed_from}" if r.resumed_from else ""
    say(f"trained {r.out} to epoch {r.epochs}{start}{where} on {r.images} pictures, "
        f"dataset version {r.dataset_version}")
    if r.metrics:
        say(_metrics_line(r.metrics))


@app.command("eval")
def eval_(data: str = typer.Option(..., "--data", "-d", help=_DATA),
          checkpoint: str | None = typer.Option(None, "--checkpoint", help="Checkpoint "
                                                "folder or file (default DATA/model)."),
          split: str = typer.Option("test", "--split", help="train, val or test."),
          pixel_thresh: float | None = typer.Option(None, "--pixel-thresh", help="Pixels "
                                                    "(default TuSimple's 20 at 1280 wide, "
                                                    "scaled to the pictures).")) -> None:
    """TuSimple's accuracy, FP and FN rates of a checkpoint on a split."""
    m = lanes.evaluate(data, checkpoint=checkpoint, split=split, pixel_thresh=pixel_thresh)
    if OPTIONS.json:
        emit_json(m)
        return
    _skipped(m.skipped)
    say(_metrics_line(m.to_dict()))


@app.command("lineage")
def lineage(job: str = typer.Argument(..., help="Training job (NAME or PROJECT/NAME)."),
            project: str | None = typer.Option(None, "--project", "-p", help="Its project."),
            model: str = typer.Option("model", "--model", help="Checkpoint folder in the "
                                      "volume.")) -> None:
    """job -> snapshot -> dataset version -> model metrics."""
    r = lanes.lineage(job, project=project, model=model, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(r)
        return
    m = r.metrics
    table(["FIELD", "VALUE"], [
        ["job", f"{r.job} ({r.state})"], ["volumes", ", ".join(r.volumes) or "-"],
        ["snapshot", r.snapshot or "- (none: the job has not succeeded with "
                                   "--snapshot-on-complete)"],
        ["dataset version", r.dataset_version or "-"],
        ["metrics", (f"epoch {m.get('epoch')}: accuracy {m['accuracy']:.4f}, FP {m['fp']:.4f}, "
                     f"FN {m['fn']:.4f}") if "accuracy" in m else "-"],
        ["clones", ", ".join(r.clones) or "-"]], title="lineage")


@app.command("retrain")
def retrain(source: str = typer.Option(..., "--from", help="VOLUME@SNAPSHOT to start from."),
            volume: str | None = typer.Option(None, "--to", help="New volume (default "
                                              "VOLUME-SNAPSHOT)."),
            epochs: int = typer.Option(1, "--epochs", help="Epochs to train past the "
                                       "checkpoint."),
            model: str = typer.Option("model", "--model", help="Checkpoint folder in the "
                                      "volume."),
            threads: int | None = typer.Option(None, "--threads", help="Torch threads.")) -> None:
    """Clone a snapshot, reproduce its checkpoint's metrics exactly, train on."""
    r = lanes.retrain(source, volume=volume, epochs=epochs, model=model, threads=threads,
                      home=OPTIONS.home, progress=progress())
    if OPTIONS.json:
        emit_json(r)
        return
    say(f"cloned {r.source} into {r.volume}; its checkpoint reproduces "
        f"{_metrics_line(r.reproduced)}")
    say(f"trained on to epoch {r.train['epochs']}: {_metrics_line(r.train['metrics'])}")
