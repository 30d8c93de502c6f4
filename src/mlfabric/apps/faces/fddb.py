"""FDDB's layout and annotations: ``FDDB-folds/FDDB-fold-NN.txt`` lists the images of a
fold, ``FDDB-fold-NN-ellipseList.txt`` gives each face as an ellipse
``major_radius minor_radius angle center_x center_y 1``, images under ``originalPics/``."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from mlfabric.errors import InvalidInput, NotFound

FOLDS = 10
FOLDS_DIR = "FDDB-folds"
IMAGES_DIR = "originalPics"
EXTENSIONS = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Ellipse:
    """A face as FDDB annotates it; ``angle`` in radians, of the major axis from x."""

    major: float
    minor: float
    angle: float
    cx: float
    cy: float

    def box(self) -> tuple[float, float, float, float]:
        """The axis-aligned bounding box (x1, y1, x2, y2) of the ellipse."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        hw = math.sqrt((self.major * c) ** 2 + (self.minor * s) ** 2)
        hh = math.sqrt((self.major * s) ** 2 + (self.minor * c) ** 2)
        return (self.cx - hw, self.cy - hh, self.cx + hw, self.cy + hh)

    def line(self) -> str:
        return (f"{self.major:.6f} {self.minor:.6f} {self.angle:.6f} {self.cx:.6f} "
                f"{self.cy:.6f}  1")


@dataclass(frozen=True)
class Entry:
    """One annotated image of a fold."""

    name: str  # as listed, relative to originalPics/, without extension
    path: Path
    faces: tuple[Ellipse, ...]


def fold_file(root: Path, fold: int, ellipses: bool = True) -> Path:
    suffix = "-ellipseList.txt" if ellipses else ".txt"
    return root / FOLDS_DIR / f"FDDB-fold-{fold:02d}{suffix}"


def parse_folds(spec: str | list[int] | None) -> list[int]:
    """``"1-8"``, ``"9,10"``, ``"all"`` or a list -> sorted fold numbers in 1..10."""
    if spec is None or spec == "all":
        return list(range(1, FOLDS + 1))
    if isinstance(spec, list):
        parts = [str(p) for p in spec]
    else:
        parts = [p.strip() for p in str(spec).split(",") if p.strip()]
    folds: set[int] = set()
    try:
        for part in parts:
            lo, _, hi = part.partition("-")
            folds.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise InvalidInput(f"folds must look like '1-8' or '9,10', got {spec!r}",
                           field="folds", value=spec) from None
    if not folds or min(folds) < 1 or max(folds) > FOLDS:
        raise InvalidInput(f"folds must be between 1 and {FOLDS}, got {spec!r}",
                           field="folds", value=spec)
    return sorted(folds)


def _image_path(root: Path, name: str) -> Path:
    base = root / IMAGES_DIR / name
    for ext in ("", *EXTENSIONS):
        p = base.with_name(base.name + ext)
        if p.is_file():
            return p
    return base.with_name(base.name + ".jpg")


def read_fold(root: str | os.PathLike[str], fold: int) -> list[Entry]:
    """The annotated images of one fold."""
    root = Path(root)
    path = fold_file(root, fold)
    if not path.is_file():
        raise InvalidInput(f"{root}: no FDDB annotations for fold {fold} (expected "
                           f"{FOLDS_DIR}/{path.name}); make one with 'mlfabric faces "
                           "make-dataset DIR'")
    lines = path.read_text().splitlines()
    entries: list[Entry] = []
    i = 0

    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"{path}:{i + 1}: {why}")

    while i < len(lines):
        name = lines[i].strip()
        if not name:
            i += 1
            continue
        i += 1
        try:
            count = int(lines[i])
        except (IndexError, ValueError):
            raise bad("expected the number of faces") from None
        faces = []
        for _ in range(count):
            i += 1
            try:
                numbers = [float(v) for v in lines[i].split()[:5]]
                faces.append(Ellipse(*numbers))
            except (IndexError, TypeError, ValueError):
                raise bad("expected 'major minor angle center_x center_y 1'") from None
        i += 1
        entries.append(Entry(name, _image_path(root, name), tuple(faces)))
    return entries


def read_dataset(root: str | os.PathLike[str], folds: list[int]) -> dict[int, list[Entry]]:
    """``{fold: entries}`` for the requested folds; a clear error when the folder is not
    an FDDB-format dataset."""
    root = Path(root)
    if not root.is_dir():
        raise NotFound("dataset folder", str(root))
    if not (root / FOLDS_DIR).is_dir():
        raise InvalidInput(f"{root}: not an FDDB-format dataset (no {FOLDS_DIR}/ folder with "
                           "annotations); make one with 'mlfabric faces make-dataset DIR'")
    return {fold: read_fold(root, fold) for fold in folds}


def write_fold(root: str | os.PathLike[str], fold: int,
               entries: list[tuple[str, list[Ellipse]]]) -> None:
    """Write a fold's image list and ellipse annotations (temp file, then rename)."""
    root = Path(root)
    (root / FOLDS_DIR).mkdir(parents=True, exist_ok=True)
    names = "".join(f"{name}\n" for name, _ in entries)
    ellipses = "".join(f"{name}\n{len(faces)}\n" + "".join(f"{e.line()}\n" for e in faces)
                       for name, faces in entries)
    for path, text in ((fold_file(root, fold, ellipses=False), names),
                       (fold_file(root, fold), ellipses)):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
