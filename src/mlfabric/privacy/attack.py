"""The adaptive reconstruction attack: a decoder, trained on an auxiliary split of
images to invert (noisy) activations, scored by PSNR and SSIM on held-out images."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mlfabric.errors import InvalidInput
from mlfabric.privacy.metrics import psnr, ssim
from mlfabric.privacy.records import AttackResult
from mlfabric.progress import NO_PROGRESS, Progress

Encode = Callable[[torch.Tensor], torch.Tensor]
"""Images [N, 3, H, W] in [0, 1] -> what leaves the trusted zone (noise included)."""


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class Decoder(nn.Module):
    """Activation [C, h, w] -> image [3, size, size]: convolutions, doubling the
    resolution (and halving the width, down to 16 channels) until it reaches ``size``, or
    halving it when the activation is larger.

    It predicts a correction to the mean training image (``base``) and starts at exactly
    that image, the no-information floor: whatever it gains over the floor, it learned
    from the activations.
    """

    def __init__(self, channels: int, height: int, size: int, hidden: int = 32,
                 base: torch.Tensor | None = None) -> None:
        super().__init__()
        self.size = size
        layers: list[nn.Module] = _block(channels, hidden)
        h, width = height, hidden
        while h * 2 <= size:
            narrower = max(16, width // 2)
            layers += [nn.Upsample(scale_factor=2, mode="bilinear"), *_block(width, narrower)]
            h, width = h * 2, narrower
        while h >= size * 2:
            layers += [nn.Conv2d(width, width, 3, stride=2, padding=1),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            h = (h + 1) // 2
        out = nn.Conv2d(width, 3, 1)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
        layers += [nn.Upsample(size=(size, size), mode="bilinear"), *_block(width, width), out]
        self.net = nn.Sequential(*layers)
        mean = torch.full((1, 3, size, size), 0.5) if base is None else base
        self.register_buffer("base", torch.logit(mean.clamp(0.01, 0.99)))

    def forward(self, activation: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.base + self.net(activation))


def targets(images: torch.Tensor, size: int) -> torch.Tensor:
    """Images in [0, 1] at the resolution the attack reconstructs."""
    return F.interpolate(images.float(), size=(size, size), mode="area")


def _check(images: torch.Tensor, what: str) -> None:
    if images.ndim != 4 or images.shape[1] != 3 or len(images) == 0:
        raise InvalidInput(f"{what}: expected images shaped [N, 3, H, W], "
                           f"got {list(images.shape)}")


def train_attacker(encode: Encode, aux: torch.Tensor, *, size: int = 32, epochs: int = 20,
                   batch_size: int = 16, lr: float = 2e-3, hidden: int = 32, seed: int = 0,
                   progress: Progress = NO_PROGRESS) -> Decoder:
    """Train a decoder on ``aux`` images; each epoch sees fresh noise, as an attacker who
    knows the noise distribution would."""
    _check(aux, "auxiliary images")
    torch.manual_seed(seed)
    with torch.no_grad():
        probe = encode(aux[:1])
    goal = targets(aux, size)
    decoder = Decoder(probe.shape[1], probe.shape[2], size, hidden,
                      base=goal.mean(0, keepdim=True))
    opt = torch.optim.Adam(decoder.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    steps = (len(aux) + batch_size - 1) // batch_size
    progress.start("training the attacker", total=epochs * steps)
    try:
        decoder.train()
        for _ in range(epochs):
            order = torch.randperm(len(aux))
            for i in range(0, len(aux), batch_size):
                idx = order[i:i + batch_size]
                if len(idx) < 2:  # batch norm needs two samples
                    continue
                with torch.no_grad():
                    act = encode(aux[idx])
                loss = F.mse_loss(decoder(act), goal[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                progress.advance(1, nbytes=1)
            sched.step()
    finally:
        progress.finish()
    decoder.eval()
    return decoder


def reconstruct(decoder: Decoder, encode: Encode, images: torch.Tensor,
                batch_size: int = 32) -> torch.Tensor:
    """The attacker's reconstructions of ``images`` from what ``encode`` sends."""
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            out.append(decoder(encode(images[i:i + batch_size])))
    return torch.cat(out)


def score_attack(decoder: Decoder, encode: Encode, aux: torch.Tensor,
                 test: torch.Tensor) -> AttackResult:
    """PSNR and SSIM of the reconstructions of ``test``, and of the floor: the mean
    ``aux`` image predicted for every input."""
    _check(test, "held-out images")
    size = decoder.size
    truth = targets(test, size)
    recon = reconstruct(decoder, encode, test)
    floor_psnr, floor_ssim = mean_image_floor(aux, test, size)
    return AttackResult(psnr=psnr(recon, truth), ssim=ssim(recon, truth),
                        floor_psnr=floor_psnr, floor_ssim=floor_ssim,
                        size=size, train_images=len(aux), test_images=len(test))


def mean_image_floor(aux: torch.Tensor, test: torch.Tensor, size: int) -> tuple[float, float]:
    """PSNR and SSIM of predicting the mean ``aux`` image for every ``test`` image: what an
    attacker gets with no information at all."""
    truth = targets(test, size)
    floor = targets(aux, size).mean(0, keepdim=True).expand_as(truth)
    return psnr(floor, truth), ssim(floor, truth)


def reconstruction_attack(encode: Encode, aux: torch.Tensor, test: torch.Tensor, *,
                          size: int = 32, epochs: int = 20, batch_size: int = 16,
                          lr: float = 2e-3, seed: int = 0,
                          progress: Progress = NO_PROGRESS) -> AttackResult:
    """Train the attacker on ``aux`` and score it on ``test``."""
    decoder = train_attacker(encode, aux, size=size, epochs=epochs, batch_size=batch_size,
                             lr=lr, seed=seed, progress=progress)
    return score_attack(decoder, encode, aux, test)
