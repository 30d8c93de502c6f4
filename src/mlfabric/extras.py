"""Optional extras (``pip install 'mlfabric[faces]'`` ...): their packages are imported
only when used, so the base install stays light, and a missing one fails with one line
that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from mlfabric.errors import MlfabricError


class MissingExtra(MlfabricError, ImportError):
    """A package of an optional extra is not installed."""

    def __init__(self, module: str, extra: str | None = None) -> None:
        hint = (f"; install the {extra} extra: pip install 'mlfabric[{extra}]'"
                if extra else "")
        super().__init__(f"{module} is not installed{hint}")
        self.module = module
        self.extra = extra


def require(module: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` or fail with one clear line naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(module.partition(".")[0], extra) from exc
