"""What privacy evaluations return (plain JSON fields)."""

from __future__ import annotations

from dataclasses import dataclass

from mlfabric.records import Record


@dataclass(frozen=True)
class AttackResult(Record):
    """An adaptive reconstruction attack scored on held-out images, next to the
    no-information floor of predicting the mean training image."""

    psnr: float
    ssim: float
    floor_psnr: float
    floor_ssim: float
    size: int
    train_images: int
    test_images: int

    computed = ("advantage_db",)

    @property
    def advantage_db(self) -> float:
        """How much better than the floor the attacker reconstructs, in dB of PSNR."""
        return self.psnr - self.floor_psnr
