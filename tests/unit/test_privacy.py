"""The learned-noise library on toy models: the noise layer, its training, saving, and the
privacy measures (SNR, mutual information, the reconstruction attack)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mlfabric.errors import InvalidInput, NotFound
from mlfabric.extras import MissingExtra, require
from mlfabric.privacy import (
    NoiseLayer,
    fit_noise,
    gaussian_channel_bits,
    knn_mutual_information,
    load_noise,
    noise_std_for_snr,
    reconstruction_attack,
    save_noise,
    snr_db,
)


def test_scale_follows_the_tanh_parameterisation() -> None:
    layer = NoiseLayer((3,), s_min=0.1, s_max=2.1)
    with torch.no_grad():
        layer.rho.copy_(torch.tensor([-50.0, 0.0, 50.0]))
    assert layer.scale().tolist() == pytest.approx([0.1, 1.1, 2.1])
    assert layer.mean_scale() == pytest.approx(1.1)


def test_noise_is_fresh_per_call_with_the_learned_mean_and_scale() -> None:
    layer = NoiseLayer((2, 4), s_min=0.0, s_max=1.0)  # rho 0: scale 0.5
    with torch.no_grad():
        layer.mean.fill_(3.0)
    x = torch.ones(1, 2, 4)
    assert not torch.equal(layer(x), layer(x))  # two obfuscations of one input differ
    with torch.no_grad():
        draws = layer(torch.ones(20000, 2, 4))
    assert float(draws.mean()) == pytest.approx(4.0, abs=0.02)
    assert float(draws.std()) == pytest.approx(0.5, abs=0.02)


def test_noise_on_a_channels_last_activation_is_the_same_noise() -> None:
    """What a head fed a height x width x RGB picture gives: same values, same draws."""
    layer = NoiseLayer((3, 4, 5), s_min=0.1, s_max=2.0)
    with torch.no_grad():
        layer.mean.copy_(torch.randn(3, 4, 5))
    x = torch.randn(2, 3, 4, 5)
    last = x.contiguous(memory_format=torch.channels_last)
    assert not last.is_contiguous()
    with torch.no_grad():
        torch.manual_seed(1)
        plain = layer(x)
        torch.manual_seed(1)
        assert torch.equal(layer(last), plain)


def test_noise_refuses_activations_of_another_shape() -> None:
    layer = NoiseLayer((4, 2, 2), s_min=0.0, s_max=1.0)
    with pytest.raises(InvalidInput, match=r"fitted for activations of shape \[4, 2, 2\]"):
        layer(torch.zeros(1, 4, 3, 3))
    with pytest.raises(InvalidInput, match="s_min < s_max"):
        NoiseLayer((1,), s_min=1.0, s_max=0.5)


def test_saved_noise_reloads_to_identical_values(tmp_path: Path) -> None:
    layer = NoiseLayer((3, 2), s_min=0.05, s_max=3.0)
    with torch.no_grad():
        layer.mean.normal_()
        layer.rho.normal_()
    path = save_noise(layer, tmp_path / "n" / "noise.pt", meta={"alpha": 0.4})
    again = load_noise(path)
    assert torch.equal(again.mean, layer.mean) and torch.equal(again.rho, layer.rho)
    assert (again.shape, again.s_min, again.s_max) == (layer.shape, 0.05, 3.0)
    assert torch.equal(again.scale(), layer.scale())
    (tmp_path / "junk.pt").write_bytes(b"not a noise file")
    with pytest.raises(InvalidInput, match="not a noise file"):
        load_noise(tmp_path / "junk.pt")
    with pytest.raises(NotFound, match="noise file"):
        load_noise(tmp_path / "missing.pt")


def _toy() -> tuple[nn.Module, nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    """A head that copies 8 inputs and a tail that needs only the first two of them."""
    torch.manual_seed(0)
    head = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
    with torch.no_grad():
        head[0].weight.copy_(torch.eye(8))
        head[0].bias.zero_()
    tail = nn.Linear(8, 1)
    with torch.no_grad():
        tail.weight.copy_(torch.tensor([[1.0, -1.0, 0, 0, 0, 0, 0, 0]]))
        tail.bias.zero_()
    data = []
    for _ in range(10):
        x = torch.randn(32, 8)
        data.append((x, x[:, :1] - x[:, 1:2]))
    return head, tail, data


def _mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((out - y) ** 2).mean()


def test_fit_noise_moves_only_the_noise_and_spends_it_where_the_task_does_not_look() -> None:
    head, tail, data = _toy()
    before = {k: v.clone() for k, v in {**head.state_dict(),
                                         **{f"t.{k}": v for k, v in tail.state_dict().items()}
                                         }.items()}
    head.train()
    noise = fit_noise(head, tail, _mse, data, 0.5, epochs=20, lr=0.1)
    after = {**head.state_dict(), **{f"t.{k}": v for k, v in tail.state_dict().items()}}
    assert all(torch.equal(before[k], after[k]) for k in before)  # frozen, BN stats too
    assert head.training and all(p.requires_grad for p in head.parameters())  # restored
    scale = noise.scale().detach()
    assert scale[2:].min() > 5 * scale[:2].max()  # unused inputs get the noise


def test_alpha_trades_noise_for_task_loss() -> None:
    head, tail, data = _toy()
    none = fit_noise(head, tail, _mse, data, 0.0, epochs=10, lr=0.1)
    much = fit_noise(head, tail, _mse, data, 1.0, epochs=10, lr=0.1)
    assert much.mean_scale() > 3 * none.mean_scale()
    for bad in (-0.1, 1.5, "x"):
        with pytest.raises(InvalidInput, match="alpha must"):
            fit_noise(head, tail, _mse, data, bad)  # type: ignore[arg-type]


def test_snr_and_the_gaussian_noise_that_matches_it() -> None:
    clean = torch.randn(100, 16)
    assert snr_db(clean, clean * 1.1) == pytest.approx(20.0, abs=1e-4)
    std = noise_std_for_snr(clean, 6.0)
    noisy = clean + std * torch.randn(200, 100, 16)
    assert snr_db(clean.expand_as(noisy), noisy) == pytest.approx(6.0, abs=0.1)
    assert math.isinf(snr_db(clean, clean))


def test_gaussian_channel_bound_matches_the_formula() -> None:
    acts = torch.tensor([[0.0, 0.0], [2.0, 4.0]])  # variances 2 and 8
    bits = gaussian_channel_bits(acts, torch.tensor([1.0, 2.0]))
    assert bits == pytest.approx(0.5 * math.log2(3) + 0.5 * math.log2(3))
    assert gaussian_channel_bits(acts, 100.0) < gaussian_channel_bits(acts, 1.0)


def test_knn_estimate_separates_dependent_from_independent() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3))
    dependent = knn_mutual_information(x, x + 0.1 * rng.standard_normal((400, 3)), dims=3)
    independent = knn_mutual_information(x, rng.standard_normal((400, 3)), dims=3)
    assert dependent > 3.0
    assert independent < 0.3


def test_attack_beats_the_floor_on_clean_signal_but_not_on_pure_noise() -> None:
    torch.manual_seed(0)
    # Images with structure: a bright square at a random place.
    images = torch.zeros(96, 3, 32, 32)
    for img in images:
        y, x = torch.randint(0, 24, (2,)).tolist()
        img[:, y:y + 8, x:x + 8] = 1.0

    def clean(pixels: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(pixels, 4)

    def hidden(pixels: torch.Tensor) -> torch.Tensor:
        return torch.randn(len(pixels), 3, 8, 8)

    seen = reconstruction_attack(clean, images[:64], images[64:], size=32, epochs=40)
    blind = reconstruction_attack(hidden, images[:64], images[64:], size=32, epochs=40)
    assert seen.floor_psnr == blind.floor_psnr
    assert seen.advantage_db > 3.0
    assert blind.advantage_db < 1.0
    assert seen.to_dict()["advantage_db"] == pytest.approx(seen.psnr - seen.floor_psnr)


def test_a_missing_extra_is_one_clear_error() -> None:
    with pytest.raises(MissingExtra, match=r"not installed; install the faces extra"):
        require("mlfabric_no_such_module", "faces")
