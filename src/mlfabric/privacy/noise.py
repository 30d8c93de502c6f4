"""The learned noise layer (Shredder/Cloak): per-element mean and scale, fresh Gaussian
noise on every call, saved and loaded as a small file."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import nn

from mlfabric.errors import InvalidInput, NotFound

FORMAT = "mlfabric-noise/1"


class NoiseLayer(nn.Module):
    """``x + mean + scale * N(0, 1)`` with ``scale = s_min + (s_max - s_min)(1 + tanh rho)/2``.

    One mean and one scale per activation element (the shape excludes the batch). The
    noise is drawn afresh on every call, in training and evaluation alike: it is the
    privacy mechanism, not a regulariser.
    """

    def __init__(self, shape: tuple[int, ...] | list[int], *, s_min: float, s_max: float,
                 init_scale: float | None = None) -> None:
        super().__init__()
        if not 0 <= s_min < s_max:
            raise InvalidInput(f"noise scale bounds need 0 <= s_min < s_max, got {s_min}, {s_max}")
        self.shape = tuple(int(d) for d in shape)
        self.s_min = float(s_min)
        self.s_max = float(s_max)
        self.mean = nn.Parameter(torch.zeros(self.shape))
        self.rho = nn.Parameter(torch.full(self.shape, self._rho_for(init_scale)))

    def _rho_for(self, scale: float | None) -> float:
        if scale is None:
            return 0.0
        frac = (scale - self.s_min) / (self.s_max - self.s_min)
        frac = min(max(frac, 1e-4), 1 - 1e-4)
        return math.atanh(2 * frac - 1)

    def scale(self) -> torch.Tensor:
        """The per-element noise standard deviation."""
        return self.s_min + (self.s_max - self.s_min) * (1 + torch.tanh(self.rho)) / 2

    def mean_scale(self) -> float:
        """The average noise standard deviation over elements."""
        return float(self.scale().detach().mean())

    def check(self, x: torch.Tensor) -> None:
        """Fail clearly when an activation is not of the shape the noise was fitted for."""
        if tuple(x.shape[1:]) != self.shape:
            raise InvalidInput(f"the noise was fitted for activations of shape "
                               f"{list(self.shape)}, got {list(x.shape[1:])} (was the input "
                               f"resized to the size the noise was fitted at?)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        # A channels-last activation (a head fed a height x width x RGB picture gives one)
        # mixed with the plain-layout parameters takes torch's slow strided path: 6-9x
        # slower than making it contiguous first.
        x = x.contiguous()
        return x + self.mean + self.scale() * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"shape={list(self.shape)}, s_min={self.s_min:g}, s_max={self.s_max:g}"


def save_noise(layer: NoiseLayer, path: str | os.PathLike[str], *,
               meta: dict[str, object] | None = None) -> str:
    """Write the noise parameters (and JSON-able ``meta``) to ``path``; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    torch.save({"format": FORMAT, "shape": list(layer.shape), "s_min": layer.s_min,
                "s_max": layer.s_max, "mean": layer.mean.detach().cpu().clone(),
                "rho": layer.rho.detach().cpu().clone(), "meta": dict(meta or {})}, tmp)
    os.replace(tmp, target)
    return str(target)


def load_noise(path: str | os.PathLike[str]) -> NoiseLayer:
    """Read noise parameters written by ``save_noise``."""
    state = read_noise_file(path)
    layer = NoiseLayer(state["shape"], s_min=state["s_min"], s_max=state["s_max"])
    with torch.no_grad():
        layer.mean.copy_(state["mean"])
        layer.rho.copy_(state["rho"])
    return layer


def load_state_file(path: str | os.PathLike[str], what: str) -> dict:
    """A saved dict of tensors (weights only: no code runs); NotFound, or InvalidInput
    naming ``what`` the file should have been."""
    p = Path(path)
    if not p.is_file():
        raise NotFound(what, str(p))
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise InvalidInput(f"{p}: not a {what} ({exc.__class__.__name__})") from exc
    if not isinstance(state, dict):
        raise InvalidInput(f"{p}: not a {what}")
    return state


def read_noise_file(path: str | os.PathLike[str]) -> dict:
    """The raw contents of a noise file, validated."""
    state = load_state_file(path, "noise file")
    if state.get("format") != FORMAT:
        raise InvalidInput(f"{path}: not a noise file (expected format {FORMAT})")
    return state


def noise_meta(path: str | os.PathLike[str]) -> dict:
    """The ``meta`` stored with a noise file (alpha, split, input size...)."""
    return dict(read_noise_file(path).get("meta") or {})
