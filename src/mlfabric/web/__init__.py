"""The live dashboard: a single page over the REST API, and the cluster overview it
polls (``overview``, an operation of the table: ``GET /api/v1/overview``)."""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "overview": "overview", "summarize": "overview", "visible_overview": "overview",
    "AllocationHistory": "overview", "Sampler": "overview",
    "mount": "pages", "history": "pages", "start_sampler": "pages", "stop_sampler": "pages",
    "STATIC": "pages",
})
