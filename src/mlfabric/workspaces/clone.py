"""``workspace clone NEW --from WS[@SNAP]``: a new workspace on a clone of another's volume."""

from __future__ import annotations

from mlfabric import snapshots
from mlfabric import volumes as vols
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.workspaces import rows, spec
from mlfabric.workspaces.create import project_label, provision
from mlfabric.workspaces.records import Workspace


def clone(name: str, *, source: str, project: str | None = None, password: str | None = None,
          home: str | None = None, progress: Progress = NO_PROGRESS) -> Workspace:
    """Clone workspace ``source`` (``WS`` snapshots its volume now, ``WS@SNAP`` uses that
    snapshot) with its settings, in ``project`` (default the source's), on a new port.
    Without ``password`` one is generated and returned once, in ``password``."""
    spec.check_name(name)
    src_name, snap = spec.parse_ref(source)
    src = rows.read(src_name, home)
    if snap is not None:
        snapshots.show(f"{src.volume}@{snap}", home=home)  # NotFound before anything is made
    target = project or src.project
    origin = src.volume if snap is None else f"{src.volume}@{snap}"
    settings = src.spec or {}

    def _make() -> None:
        vols.clone(name, origin, labels=[project_label(target)], home=home, progress=progress)

    return provision(name, project=target, make_volume=_make, gpus=settings.get("gpus"),
                     volumes=settings.get("volumes") or [],
                     datasets=settings.get("datasets") or [], password=password,
                     host=src.host, port=None, size=settings.get("size"), home=home)
