"""``sweep``: the privacy/accuracy trade-off over alpha. For each alpha, learned noise and
plain Gaussian noise of the same SNR are scored by AP, the reconstruction attack (against
the mean-image floor) and mutual-information estimates; a table and two plots result."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

from mlfabric.apps.faces.data import Samples, load_samples
from mlfabric.apps.faces.detector import Detector, load_detector
from mlfabric.apps.faces.evaluation import average_precision, detect, measure_snr
from mlfabric.apps.faces.fddb import parse_folds
from mlfabric.apps.faces.model import DEFAULT_SPLIT, check_split
from mlfabric.apps.faces.noise import FIT_EPOCHS, fit_detector_noise
from mlfabric.apps.faces.records import SweepReport, SweepRow
from mlfabric.apps.faces.training import DETECTOR_FILE, adapt_tail
from mlfabric.errors import InvalidInput
from mlfabric.extras import require
from mlfabric.privacy import (
    AttackResult,
    NoiseLayer,
    check_alpha,
    gaussian_channel_bits,
    knn_mutual_information,
    mean_image_floor,
    noise_std_for_snr,
    reconstruction_attack,
    targets,
)
from mlfabric.progress import NO_PROGRESS, Progress

ALPHAS = "0,0.05,0.1,0.2,0.4,0.6,0.8,0.9,0.95"
SWEEP_COLUMNS = ("kind", "alpha", "AP", "AP adapted", "mean scale", "SNR dB", "attack PSNR",
           "attack SSIM", "advantage dB", "MI bound bits", "MI kNN bits")


def parse_alphas(spec: str | list[float]) -> list[float]:
    """``"0,0.1,0.5"`` or a list -> alphas, each checked to lie in [0, 1]."""
    parts = spec if isinstance(spec, list) else [p for p in str(spec).split(",") if p.strip()]
    if not parts:
        raise InvalidInput("give at least one alpha, e.g. --alphas 0,0.5,0.9")
    return [check_alpha(p) for p in parts]


def gaussian_noise(shape: tuple[int, ...], std: float) -> NoiseLayer:
    """Plain zero-mean Gaussian noise of one standard deviation for every element."""
    return NoiseLayer(shape, s_min=0.0, s_max=2 * std)  # rho = 0: scale = std everywhere


class Bench:
    """Everything one sweep measures noise against: the data splits, the clean
    activations and the attack settings."""

    def __init__(self, detector: Detector, split: str, fit: Samples, aux: Samples,
                 test: Samples, *, attack_epochs: int, attack_size: int, seed: int,
                 progress: Progress) -> None:
        self.detector, self.split = detector, split
        self.fit, self.aux, self.test = fit, aux, test
        self.attack_epochs, self.attack_size, self.seed = attack_epochs, attack_size, seed
        self.progress = progress
        self.head, _ = detector.split(split)
        with torch.no_grad():
            self.clean = torch.cat([self.head(test.images[i:i + 32].float())
                                    for i in range(0, len(test), 32)])
        self.pictures = targets(test.pixels(), attack_size)

    def ap(self, detector: Detector, noise: NoiseLayer | None) -> float:
        torch.manual_seed(self.seed)
        return average_precision(detect(detector, self.test.images, split=self.split,
                                        noise=noise), self.test.boxes)

    def encoder(self, noise: NoiseLayer | None) -> Callable[[torch.Tensor], torch.Tensor]:
        def encode(pixels: torch.Tensor) -> torch.Tensor:
            act = self.head(pixels * 255)
            return act if noise is None else noise(act)
        return encode

    def attack(self, noise: NoiseLayer | None) -> AttackResult:
        return reconstruction_attack(self.encoder(noise), self.aux.pixels(), self.test.pixels(),
                                     size=self.attack_size, epochs=self.attack_epochs,
                                     seed=self.seed, progress=self.progress)

    def knn_bits(self, noise: NoiseLayer | None) -> float:
        with torch.no_grad():
            sent = self.clean if noise is None else noise(self.clean)
        return knn_mutual_information(self.pictures, sent, seed=self.seed)

    def row(self, kind: str, alpha: float | None, noise: NoiseLayer | None,
            adapted: Detector | None = None) -> SweepRow:
        torch.manual_seed(self.seed)
        found = self.attack(noise)
        snr = None if noise is None else measure_snr(self.detector, noise, self.test.images,
                                                      self.split)
        return SweepRow(
            kind=kind, alpha=alpha, ap=self.ap(self.detector, noise),
            ap_adapted=None if adapted is None else self.ap(adapted, noise),
            mean_scale=None if noise is None else noise.mean_scale(),
            snr_db=snr, attack_psnr=found.psnr, attack_ssim=found.ssim,
            advantage_db=found.advantage_db,
            mi_bound_bits=None if noise is None else gaussian_channel_bits(
                self.clean, noise.scale().detach()),
            mi_knn_bits=self.knn_bits(noise))


SWEEP_FIELDS = ("kind", "alpha", "ap", "ap_adapted", "mean_scale", "snr_db", "attack_psnr",
          "attack_ssim", "advantage_db", "mi_bound_bits", "mi_knn_bits")


def format_cell(value: object) -> str:
    """A sweep value as table text (``-`` when not measured)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.3f}"
    return str(value)


def markdown_table(rows: list[SweepRow]) -> str:
    """The sweep as a Markdown table."""
    lines = ["| " + " | ".join(SWEEP_COLUMNS) + " |", "|" + "---|" * len(SWEEP_COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(format_cell(getattr(r, f)) for f in SWEEP_FIELDS) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[SweepRow], out: Path, floor_psnr: float) -> list[str]:
    """AP vs alpha and attack PSNR vs alpha, as PNG files in ``out``."""
    matplotlib = require("matplotlib", "faces")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clean = next(r for r in rows if r.kind == "clean")
    series = {kind: [r for r in rows if r.kind == kind] for kind in ("learned", "gaussian")}
    paths = []
    for name, field, label in (("ap_vs_alpha.png", "ap", "AP at IoU 0.5"),
                               ("psnr_vs_alpha.png", "attack_psnr", "attack PSNR (dB)")):
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for kind, marker in (("learned", "o"), ("gaussian", "s")):
            pts = series[kind]
            ax.plot([r.alpha for r in pts], [getattr(r, field) for r in pts], marker=marker,
                    label=f"{kind} noise" + (" (equal SNR)" if kind == "gaussian" else ""))
        if field == "ap" and any(r.ap_adapted is not None for r in series["learned"]):
            pts = series["learned"]
            ax.plot([r.alpha for r in pts], [r.ap_adapted for r in pts], marker="^",
                    label="learned noise, tail adapted")
        ax.axhline(getattr(clean, field), color="grey", linestyle="--", label="clean")
        if field == "attack_psnr":
            ax.axhline(floor_psnr, color="black", linestyle=":", label="floor (mean image)")
        ax.set_xlabel("alpha")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out / name
        fig.savefig(path)
        plt.close(fig)
        paths.append(str(path))
    return paths


def sweep(dataset: str, *, detector: str | None = None, alphas: str = ALPHAS,
          split: str = DEFAULT_SPLIT, out: str | None = None, adapt: bool = False,
          fit_folds: str = "1-8", attack_folds: str = "1-8", eval_folds: str = "9-10",
          fit_epochs: int = FIT_EPOCHS, adapt_epochs: int = 3, attack_epochs: int = 10,
          attack_size: int = 32, size: int | None = None, limit: int | None = None,
          fit_limit: int | None = None, seed: int = 0,
          home: str | None = None, progress: Progress = NO_PROGRESS) -> SweepReport:
    """Score learned noise at each alpha against plain Gaussian noise of equal SNR; write
    ``sweep.md``, ``sweep.json`` and two PNG plots to ``out`` (default DATASET/sweep).
    ``limit`` caps the pictures per fold; ``fit_limit`` those used for fitting noise,
    adapting the tail and training the attacker (default: ``limit``)."""
    started = time.monotonic()
    chosen = parse_alphas(alphas)
    check_split(split)
    det_path = Path(detector) if detector else Path(dataset) / DETECTOR_FILE
    model = load_detector(det_path, size=size)

    def samples(folds: str, cap: int | None) -> Samples:
        return load_samples(dataset, parse_folds(folds), model.size, limit=cap,
                            progress=progress)

    fit = samples(fit_folds, fit_limit or limit)
    aux = fit if attack_folds == fit_folds else samples(attack_folds, fit_limit or limit)
    bench = Bench(model, split, fit, aux, samples(eval_folds, limit), attack_epochs=attack_epochs,
                  attack_size=attack_size, seed=seed, progress=progress)
    floor_psnr, floor_ssim = mean_image_floor(aux.pixels(), bench.test.pixels(), attack_size)
    rows = [bench.row("clean", None, None)]
    for alpha in chosen:
        learned = fit_detector_noise(model, fit, alpha=alpha, split=split, epochs=fit_epochs,
                                     seed=seed, progress=progress)
        adapted = adapt_tail(model, learned, fit, split=split, epochs=adapt_epochs, seed=seed,
                             progress=progress) if adapt else None
        rows.append(bench.row("learned", alpha, learned, adapted))
        snr = measure_snr(model, learned, bench.test.images, split)
        plain = gaussian_noise(learned.shape, noise_std_for_snr(bench.clean, snr))
        rows.append(bench.row("gaussian", alpha, plain))
    target = Path(out) if out else Path(dataset) / "sweep"
    target.mkdir(parents=True, exist_ok=True)
    table = markdown_table(rows)
    (target / "sweep.md").write_text(table)
    report_rows = [r.to_dict() for r in rows]
    tmp = target / "sweep.json.tmp"
    tmp.write_text(json.dumps({"floor_psnr": floor_psnr, "floor_ssim": floor_ssim,
                               "rows": report_rows}, indent=2))
    os.replace(tmp, target / "sweep.json")
    plots = plot(rows, target, floor_psnr)
    return SweepReport(dataset=str(dataset), detector=str(det_path), size=model.size,
                       split=split, floor_psnr=floor_psnr, floor_ssim=floor_ssim,
                       rows=report_rows, table=table, plots=plots,
                       seconds=round(time.monotonic() - started, 1))
