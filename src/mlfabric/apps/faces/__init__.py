"""The face-detection pipeline with confidential inference: FaceBoxes split into a head
and a tail, FDDB-format data (read, written, generated offline), training, per-fold AP
evaluation clean or with learned noise, the alpha sweep, and the served tail.

Public API mirroring ``mlfabric faces ...``: ``make_dataset``, ``train``, ``evaluate``,
``sweep``. Torch and friends load on first use (the ``faces`` extra).
"""

from mlfabric.apps import App
from mlfabric.exports import lazy_exports

APP = App(name="faces", help="Face detection with learned-noise obfuscation.",
          module=__name__, cli="mlfabric.apps.faces.cli:app")

_EXPORTS = {
    "make_dataset": "generate", "train": "training", "evaluate": "evaluation",
    "sweep": "alpha_sweep",
    "ap_lines": "evaluation", "detect": "evaluation", "average_precision": "evaluation",
    "FaceBoxes": "model", "split_model": "model", "head_shape": "model", "SPLITS": "model",
    "Detector": "detector", "load_detector": "detector", "save_detector": "detector",
    "postprocess": "detector",
    "prior_boxes": "priors", "MultiBoxLoss": "loss", "nms": "boxes", "decode": "boxes",
    "read_dataset": "fddb", "write_fold": "fddb", "Ellipse": "fddb",
    "read_image": "data", "load_samples": "data",
    "fit_detector_noise": "noise", "adapt_tail": "training",
    "export_tail": "serve", "write_triton_model": "serve", "detect_remote": "serve",
    "obfuscate": "serve", "tail_scores": "serve", "TritonModel": "serve",
    "RemoteDetection": "serve", "Transmission": "serve", "require_noise": "serve",
    "SWEEP_COLUMNS": "alpha_sweep", "SWEEP_FIELDS": "alpha_sweep", "format_cell": "alpha_sweep",
    "parse_alphas": "alpha_sweep",
    "FacesDataset": "records", "TrainReport": "records", "EvalReport": "records",
    "SweepReport": "records", "SweepRow": "records", "FoldAP": "records",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, needs=("torch", "numpy", "PIL"),
                                             extra="faces")
