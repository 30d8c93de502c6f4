"""Public API for cache pools: ``mlfabric.datasets.cache`` under its CLI noun."""

from mlfabric.exports import alias

__getattr__, __dir__, __all__ = alias("mlfabric.datasets.cache")
