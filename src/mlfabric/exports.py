"""Lazy public exports: a package's ``__init__`` names what it offers, and each name is
imported from its module on first use, so ``import mlfabric.<package>`` stays cheap and
a command pulls in only what it calls.

Every package of mlfabric declares its public API this way (one shared helper, one
shape)::

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {
        "create": "volume",                 # create from .volume
        "list": "volume:list_volumes",      # list is .volume.list_volumes
    })
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from mlfabric.extras import require


class _PublicModule(ModuleType):
    """A package whose public names beat its submodules of the same name: importing
    ``package.add`` (the module) must not hide ``package.add`` (the function), which the
    import system would do by setting the attribute."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and name in self.__dict__.get("_exported", ()):
            return
        super().__setattr__(name, value)


def lazy_exports(name: str, exports: Mapping[str, str], *, base: str | None = None,
                 modules: tuple[str, ...] = (), needs: tuple[str, ...] = (),
                 extra: str | None = None
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for the module ``name`` (its ``__name__``);
    relative module paths resolve below ``base`` (default: ``name`` itself).

    ``exports`` maps a public name to ``"module"`` (the same name in ``package.module``)
    or ``"module:attr"`` (a module that starts with ``mlfabric.`` is absolute);
    ``modules`` are submodules offered as attributes themselves. Before the first
    import, the packages in ``needs`` are checked, so a missing optional extra fails
    with one clear line naming it.
    """
    package = base or name
    names = sorted({*exports, *modules})
    module_obj = sys.modules[name]
    module_obj.__dict__["_exported"] = frozenset(exports)
    module_obj.__class__ = _PublicModule
    targets = {name: (spec.partition(":")[0], spec.partition(":")[2] or name)
               for name, spec in exports.items()}

    def __getattr__(attr: str) -> Any:
        if attr in modules:
            return importlib.import_module(f"{package}.{attr}")
        target = targets.get(attr)
        if target is None:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        for need in needs:
            require(need, extra)
        module = target[0] if target[0].startswith("mlfabric.") else f"{package}.{target[0]}"
        value = getattr(importlib.import_module(module), target[1])
        module_obj.__dict__[attr] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return list(names)

    return __getattr__, __dir__, list(names)


def alias(package: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` of a module that offers exactly what ``package``
    offers (the top-level nouns such as ``mlfabric.caches`` for ``mlfabric.datasets.cache``),
    still imported on first use."""
    target = importlib.import_module(package)
    names = list(getattr(target, "__all__", []))

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(target, name)

    def __dir__() -> list[str]:
        return list(names)

    return __getattr__, __dir__, names
