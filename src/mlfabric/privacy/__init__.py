"""Confidential inference by learned noise (Shredder, Cloak): a ``NoiseLayer`` between the
head that runs in the trusted zone and the tail that runs remotely, ``fit_noise`` to train
it, and the privacy evaluation (reconstruction attack, mutual information, SNR).

Generic torch; torch and scikit-learn are imported on first use (the ``faces`` extra).
"""

from mlfabric.exports import lazy_exports

_EXPORTS = {
    "NoiseLayer": "noise", "save_noise": "noise", "load_noise": "noise",
    "noise_meta": "noise",
    "fit_noise": "fit", "check_alpha": "fit", "noise_for": "fit", "frozen": "fit",
    "privacy_loss": "fit",
    "Decoder": "attack", "train_attacker": "attack", "score_attack": "attack",
    "reconstruct": "attack", "reconstruction_attack": "attack", "mean_image_floor": "attack",
    "psnr": "metrics", "ssim": "metrics", "snr_db": "metrics", "noise_std_for_snr": "metrics",
    "gaussian_channel_bits": "mutual_info", "knn_mutual_information": "mutual_info",
    "AttackResult": "records", "load_state_file": "noise", "targets": "attack",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, needs=("torch",), extra="faces")
