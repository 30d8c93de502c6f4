"""Distributed lane detection with snapshot-based versioning: synthetic TuSimple-format
data (and a reader for the real thing), a compact SCNN trained with torch.distributed as
a gang job, TuSimple's metrics, and lineage and retraining through volume snapshots.

Public API mirroring ``mlfabric lanes ...``: ``make_data``, ``train``, ``evaluate``,
``lineage``, ``retrain``. Torch loads on first use (the ``lanes`` extra).
"""

from mlfabric.apps import App, Route
from mlfabric.exports import lazy_exports

APP = App(name="lanes", help="Distributed lane-detection training with snapshot versioning.",
          module=__name__, cli="mlfabric.apps.lanes.cli:app", page="web",
          routes=(Route("lineage", "GET", "/lanes/lineage/{job}", access="any",
                        refs="job:job project:project"),))

_EXPORTS = {
    "make_data": "data", "load_split": "data", "fingerprint": "data", "parse_size": "data",
    "train": "training", "evaluate": "evaluation", "decode": "evaluation",
    "lineage": "versioning", "retrain": "versioning",
    "load_checkpoint": "checkpoint", "SCNN": "model",
    "read_labels": "tusimple", "parse_line": "tusimple", "Label": "tusimple",
    "Problems": "tusimple", "score": "metrics", "score_picture": "metrics",
    "LanesDataset": "records", "Metrics": "records", "TrainReport": "records",
    "RetrainReport": "records", "Lineage": "records",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, needs=("torch", "numpy", "PIL"),
                                             extra="lanes")
