"""Training the noise: only its parameters move, the head and the tail stay frozen."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from mlfabric.errors import InvalidInput
from mlfabric.privacy.noise import NoiseLayer
from mlfabric.progress import NO_PROGRESS, Progress

# Noise bounds relative to the standard deviation of the clean activation: from almost
# none to four times the signal, so the sweep spans "no privacy" to "no signal".
S_MIN_REL = 0.01
S_MAX_REL = 4.0
# Adam moves every parameter by about lr per step: fine for the unitless rho, far too much
# for the mean, which is in activation units; its step is scaled to s_max / MEAN_LR_DIV.
MEAN_LR_DIV = 100.0
# Start with light noise (about 5% of the way to s_max): the regulariser pushes it up,
# the task loss holds back the elements the task needs.
INIT_RHO = -1.5


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float in [0, 1], or a clear error."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise InvalidInput(f"alpha must be a number in [0, 1], got {alpha!r}",
                           field="alpha", value=alpha) from None
    if not 0.0 <= value <= 1.0:
        raise InvalidInput(f"alpha must be in [0, 1], got {value:g}", field="alpha", value=alpha)
    return value


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Evaluation mode and no gradients for ``modules``; both restored on exit, module by
    module (a wrapper's own flag says nothing of the shared modules inside it)."""
    modes = [(sub, sub.training) for m in modules for sub in m.modules()]
    grads = [(p, p.requires_grad) for m in modules for p in m.parameters()]
    try:
        for m in modules:
            m.eval()
            m.requires_grad_(False)
        yield
    finally:
        for sub, training in modes:
            sub.training = training
        for p, flag in grads:
            p.requires_grad_(flag)


def noise_for(activation: torch.Tensor, *, s_min: float | None = None,
              s_max: float | None = None) -> NoiseLayer:
    """A fresh noise layer for activations like ``activation`` (a batch), its bounds
    relative to the activation's spread unless given."""
    std = float(activation.detach().float().std()) or 1.0
    lo = S_MIN_REL * std if s_min is None else float(s_min)
    hi = S_MAX_REL * std if s_max is None else float(s_max)
    layer = NoiseLayer(tuple(activation.shape[1:]), s_min=lo, s_max=hi)
    with torch.no_grad():
        layer.rho.fill_(INIT_RHO)
    return layer


def privacy_loss(noise: NoiseLayer) -> torch.Tensor:
    """``mean(-log scale)``: smaller when the noise is larger."""
    return (-torch.log(noise.scale())).mean()


def fit_noise(head: nn.Module, tail: nn.Module,
              task_loss: Callable[[Any, Any], torch.Tensor],
              data: Iterable[tuple[torch.Tensor, Any]], alpha: float, *,
              noise: NoiseLayer | None = None, s_min: float | None = None,
              s_max: float | None = None, epochs: int = 1, lr: float = 0.05,
              progress: Progress = NO_PROGRESS) -> NoiseLayer:
    """Train noise between ``head`` and ``tail`` on ``(inputs, targets)`` batches with the
    loss ``(1 - alpha) * task_loss + alpha * mean(-log scale)``; head and tail frozen."""
    alpha = check_alpha(alpha)
    if epochs < 1:
        raise InvalidInput(f"epochs must be at least 1, got {epochs}")
    batches = data if isinstance(data, list | tuple) else list(data)
    if not batches:
        raise InvalidInput("fit_noise needs at least one batch of data")
    with frozen(head, tail):
        if noise is None:
            with torch.no_grad():
                noise = noise_for(head(batches[0][0]), s_min=s_min, s_max=s_max)
        noise.train()
        opt = torch.optim.Adam([{"params": [noise.rho], "lr": lr},
                                {"params": [noise.mean], "lr": lr * noise.s_max / MEAN_LR_DIV}])
        progress.start(f"fitting noise (alpha {alpha:g})", total=epochs * len(batches))
        try:
            for _ in range(epochs):
                for inputs, targets in batches:
                    with torch.no_grad():
                        act = head(inputs)
                    loss = (1 - alpha) * task_loss(tail(noise(act)), targets)
                    loss = loss + alpha * privacy_loss(noise)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    progress.advance(1, nbytes=1)
        finally:
            progress.finish()
    noise.eval()
    return noise
