"""The optional ``faces`` extra (torch, scikit-image, scikit-learn, matplotlib): imported
only when used, so the base install stays light."""

from __future__ import annotations

import importlib
from types import ModuleType

from mlfabric.errors import MlfabricError

HINT = "install the faces extra: pip install 'mlfabric[faces]'"


class MissingExtra(MlfabricError, ImportError):
    """A package of the ``faces`` extra is not installed."""

    def __init__(self, module: str) -> None:
        super().__init__(f"{module} is not installed; {HINT}")
        self.module = module


def require(module: str) -> ModuleType:
    """Import ``module`` or fail with one clear line naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(module.partition(".")[0]) from exc


def lazy_exports(package: str, exports: dict[str, str], needs: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """A module ``__getattr__`` that imports ``package.<module>`` on first use of a name,
    after checking that the extra's packages in ``needs`` are installed."""

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        for need in needs:
            require(need)
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
