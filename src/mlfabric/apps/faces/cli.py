"""``mlfabric faces make-dataset|train|eval|sweep|export-tail|detect-remote``."""

from __future__ import annotations

import typer

from mlfabric.apps import faces
from mlfabric.console import OPTIONS, emit_json, note, progress, say, table, warn

app = typer.Typer(no_args_is_help=True)  # its help: APP in mlfabric.apps.faces

_DETECTOR = "Detector file (default DATASET/faceboxes.pt)."
_SIZE = "Input size to run the detector at (default: the one it was trained for)."
_SPLIT = "Split point: conv1, pool1, conv2 or pool2 (the 128-channel head output)."


@app.command("make-dataset")
def make_dataset(path: str = typer.Argument(..., help="Folder to write the dataset into."),
                 images: int = typer.Option(500, "--images", help="Pictures in all 10 folds."),
                 size: int = typer.Option(512, "--size", help="Long side of each picture."),
                 seed: int = typer.Option(0, "--seed", help="Random seed."),
                 force: bool = typer.Option(False, "--force", help="Overwrite annotations "
                                            "already there.")) -> None:
    """Generate an FDDB-format dataset from the faces that ship with scikit-image."""
    d = faces.make_dataset(path, images=images, size=size, seed=seed, force=force,
                           home=OPTIONS.home, progress=progress())
    if OPTIONS.json:
        emit_json(d)
    else:
        say(f"generated {d.images} images with {d.faces} faces in {d.folds} folds in {d.path}")


@app.command("train")
def train(dataset: str = typer.Option(..., "--dataset", "-d", help="FDDB-format dataset."),
          out: str | None = typer.Option(None, "--out", "-o", help=_DETECTOR),
          folds: str = typer.Option("1-8", "--folds", help="Training folds, e.g. 1-8."),
          size: int = typer.Option(256, "--size", help="Square training input size "
                                   "(multiple of 32)."),
          infer_size: int | None = typer.Option(None, "--infer-size", help="Input size the "
                                                "detector runs at (default 1.5 x --size)."),
          epochs: int = typer.Option(40, "--epochs", help="Passes over the training folds."),
          batch_size: int = typer.Option(16, "--batch-size", help="Pictures per step."),
          lr: float = typer.Option(3e-3, "--lr", help="Peak learning rate (AdamW)."),
          limit: int | None = typer.Option(None, "--limit", help="At most this many pictures "
                                           "per fold."),
          seed: int = typer.Option(0, "--seed", help="Random seed.")) -> None:
    """Train FaceBoxes on CPU (the recipe; no weights from elsewhere)."""
    r = faces.train(dataset, out=out, folds=folds, size=size, infer_size=infer_size,
                    epochs=epochs,
                    batch_size=batch_size, lr=lr, limit=limit, seed=seed, home=OPTIONS.home,
                    progress=progress())
    if OPTIONS.json:
        emit_json(r)
    else:
        say(f"trained {r.detector}: {r.images} images at {r.size}px, {r.epochs} epochs, "
            f"final loss {r.final_loss:.3f} in {r.seconds:.0f}s; runs at {r.infer_size}px")


@app.command("eval")
def eval_(dataset: str = typer.Option(..., "--dataset", "-d", help="FDDB-format dataset."),
          detector: str | None = typer.Option(None, "--detector", help=_DETECTOR),
          folds: str = typer.Option("9-10", "--folds", help="Folds to score (1-10 for all)."),
          noisy: bool = typer.Option(False, "--noisy", help="Add learned noise between head "
                                     "and tail."),
          alpha: float = typer.Option(0.5, "--alpha", help="Privacy weight in [0, 1] when "
                                      "fitting the noise."),
          noise: str | None = typer.Option(None, "--noise", help="Noise file: read if it "
                                           "exists, else written after fitting."),
          split: str = typer.Option("pool2", "--split", help=_SPLIT),
          fit_folds: str = typer.Option("1-8", "--fit-folds", help="Folds to fit noise on."),
          fit_epochs: int = typer.Option(10, "--fit-epochs", help="Passes when fitting noise."),
          adapt_tail: bool = typer.Option(False, "--adapt-tail", help="Fine-tune the tail to "
                                          "the noise (head frozen)."),
          adapt_epochs: int = typer.Option(3, "--adapt-epochs", help="Passes of tail "
                                           "fine-tuning."),
          size: int | None = typer.Option(None, "--size", help=_SIZE),
          limit: int | None = typer.Option(None, "--limit", help="At most this many pictures "
                                           "per fold."),
          seed: int = typer.Option(0, "--seed", help="Random seed.")) -> None:
    """Per-fold AP at IoU 0.5, their average and mAP, clean or obfuscated."""
    r = faces.evaluate(dataset, detector=detector, folds=folds, noisy=noisy, alpha=alpha,
                       noise=noise, split=split, fit_folds=fit_folds, fit_epochs=fit_epochs,
                       adapt_tail=adapt_tail, adapt_epochs=adapt_epochs, size=size, limit=limit,
                       seed=seed, home=OPTIONS.home, progress=progress())
    if OPTIONS.json:
        emit_json(r)
        return
    if r.noisy:
        say(f"learned noise at alpha {r.alpha:g} after {r.split}: SNR {r.snr_db:.2f} dB, "
            f"mean scale {r.mean_scale:.4f}" + (", tail adapted" if r.adapted_tail else ""))
    for line in faces.ap_lines(r):
        say(line)


@app.command("sweep")
def sweep(dataset: str = typer.Option(..., "--dataset", "-d", help="FDDB-format dataset."),
          detector: str | None = typer.Option(None, "--detector", help=_DETECTOR),
          alphas: str = typer.Option("0,0.05,0.1,0.2,0.4,0.6,0.8,0.9,0.95", "--alphas",
                                     help="Comma-separated alphas in [0, 1]."),
          split: str = typer.Option("pool2", "--split", help=_SPLIT),
          out: str | None = typer.Option(None, "--out", "-o", help="Folder for sweep.md, "
                                         "sweep.json and the plots (default DATASET/sweep)."),
          adapt_tail: bool = typer.Option(False, "--adapt-tail", help="Also report AP with "
                                          "the tail fine-tuned to each noise."),
          fit_folds: str = typer.Option("1-8", "--fit-folds", help="Folds to fit noise on."),
          attack_folds: str = typer.Option("1-8", "--attack-folds", help="The attacker's "
                                           "auxiliary folds."),
          eval_folds: str = typer.Option("9-10", "--eval-folds", help="Held-out folds."),
          fit_epochs: int = typer.Option(10, "--fit-epochs", help="Passes when fitting noise."),
          adapt_epochs: int = typer.Option(3, "--adapt-epochs", help="Passes of tail "
                                           "fine-tuning."),
          attack_epochs: int = typer.Option(10, "--attack-epochs", help="Passes when "
                                            "training the attacker."),
          attack_size: int = typer.Option(32, "--attack-size", help="Resolution the attacker "
                                          "reconstructs."),
          size: int | None = typer.Option(None, "--size", help=_SIZE),
          limit: int | None = typer.Option(None, "--limit", help="At most this many pictures "
                                           "per fold."),
          fit_limit: int | None = typer.Option(None, "--fit-limit", help="At most this many "
                                               "pictures per fold to fit noise, adapt the tail "
                                               "and train the attacker on."),
          seed: int = typer.Option(0, "--seed", help="Random seed.")) -> None:
    """AP, noise, attack and mutual information over alpha, against Gaussian noise."""
    r = faces.sweep(dataset, detector=detector, alphas=alphas, split=split, out=out,
                    adapt=adapt_tail, fit_folds=fit_folds, attack_folds=attack_folds,
                    eval_folds=eval_folds, fit_epochs=fit_epochs, adapt_epochs=adapt_epochs,
                    attack_epochs=attack_epochs, attack_size=attack_size, size=size, limit=limit,
                    fit_limit=fit_limit,
                    seed=seed, home=OPTIONS.home, progress=progress())
    if OPTIONS.json:
        emit_json(r)
        return
    columns = list(faces.SWEEP_COLUMNS)
    table(columns, [[faces.format_cell(row[k]) for k in faces.SWEEP_FIELDS] for row in r.rows],
          title=f"alpha sweep after {r.split} at {r.size}px (attack floor: PSNR "
                f"{r.floor_psnr:.2f} dB, SSIM {r.floor_ssim:.3f})")
    say(f"plots: {', '.join(r.plots)}")


@app.command("export-tail")
def export_tail(repo: str = typer.Argument(..., help="Model repository folder (a volume's "
                                           "path)."),
                detector: str = typer.Option(..., "--detector", help="Detector file."),
                name: str = typer.Option("faceboxes-tail", "--name", help="Model name."),
                size: int = typer.Option(1024, "--size", help="Served input size (1024: "
                                         "INPUT__0 is [128, 32, 32])."),
                split: str = typer.Option("pool2", "--split", help=_SPLIT),
                max_batch_size: int = typer.Option(8, "--max-batch-size")) -> None:
    """Write the tail as a Triton model (config.pbtxt and 1/model.onnx)."""
    m = faces.write_triton_model(detector, repo, name=name, size=size, split=split,
                                 max_batch_size=max_batch_size, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(m)
    else:
        say(f"wrote model {m.name} to {m.path} (INPUT__0 {m.input_shape})")


@app.command("detect-remote")
def detect_remote(image: str = typer.Argument(..., help="Picture file."),
                  detector: str = typer.Option(..., "--detector", help="Detector file (its "
                                               "head runs here)."),
                  noise: str | None = typer.Option(None, "--noise", help="Noise file "
                                                   "(required unless --no-noise)."),
                  no_noise: bool = typer.Option(False, "--no-noise", help="Send the raw "
                                                "activation, without noise: the server "
                                                "sees it unobfuscated."),
                  server: str | None = typer.Option(None, "--server", help="Inference "
                                                    "server name."),
                  url: str | None = typer.Option(None, "--url", help="Or its HTTP address."),
                  model: str = typer.Option("faceboxes-tail", "--model", help="Model name."),
                  size: int = typer.Option(1024, "--size", help="Served input size."),
                  split: str = typer.Option("pool2", "--split", help=_SPLIT)) -> None:
    """Detect faces with a served tail; only the noisy activation leaves this machine (the
    raw one only with --no-noise)."""
    opt_out = "--no-noise"
    faces.require_noise(noise or None, no_noise, split=split, size=size, give="--noise FILE",
                        opt_out=opt_out)

    def announce(sent: faces.Transmission) -> None:  # before the request leaves
        (note if sent.noisy else warn)(sent.describe(opt_out=opt_out))

    r = faces.detect_remote(image, detector=detector, noise=noise, send_raw_activation=no_noise,
                            server=server, url=url, model=model, size=size, split=split,
                            home=OPTIONS.home, on_send=announce)
    if OPTIONS.json:
        emit_json(r)
        return
    say(f"{len(r.faces)} faces found by {r.model} at {r.url}")
    table(["SCORE", "BOX"], [[f"{f['score']:.3f}", f["box"]] for f in r.faces])
