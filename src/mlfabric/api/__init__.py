"""The REST front end: the operation table, its access rules, the FastAPI server and the
HTTP client the CLI uses in client mode (``MLFABRIC_SERVER``)."""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "create_app": "app", "seed_demo": "seed", "Connection": "client",
    "RemoteModule": "client",
})
