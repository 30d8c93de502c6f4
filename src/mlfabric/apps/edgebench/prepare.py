"""``edgebench make-models`` and ``edgebench make-data``: the networks and the pictures,
written into volumes (a model repository volume, a data volume)."""

from __future__ import annotations

from mlfabric.apps.edgebench import data as datasets
from mlfabric.apps.edgebench import spec
from mlfabric.apps.edgebench.records import DataSetInfo, ModelInfo


def make_models(volume: str, *, names: list[str] | None = None, size: int | None = None,
                det_size: int | None = None, train_steps: int = 30, seed: int = 0,
                home: str | None = None) -> list[ModelInfo]:
    """Write the classifier and the detector into model repository volume ``volume``
    (``size``/``det_size``: their input side, default 224 and 300); the classifier is
    trained for ``train_steps`` steps on generated pictures."""
    from mlfabric import volumes

    repo = volumes.path(volume, home=home)  # NotFound for a missing volume
    from mlfabric.apps.edgebench import models

    wanted = names or list(spec.MODELS)
    for n in wanted:
        spec.check_model_name(n)
    return [models.export(n, repo, size=size if n == "resnet" else det_size,
                          train_steps=train_steps, seed=seed) for n in wanted]


def make_data(volume: str, *, kind: str = "imagenet", images: int = 256,
              size: int | None = None, seed: int = 0, force: bool = False,
              home: str | None = None) -> DataSetInfo:
    """Generate an image set of ``kind`` (imagenet: labelled, 224 px; coco: 300 px) into
    volume ``volume``."""
    from mlfabric import volumes

    return datasets.make_dataset(volumes.path(volume, home=home), kind=kind, images=images,
                                 size=size, seed=seed, force=force)
